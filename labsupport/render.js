// The HTML side of labsupport's Altair renderer (labsupport/render.py): a function expression that render.py calls
// with (spec, id, opts, cdn, vendor) in the <script> after each chart's <div>.
//
// Loads vega, vega-lite and vega-embed once per page (a promise shared by all charts on it), in order, with AMD
// `define` hidden meanwhile so the UMD bundles set globals instead of registering with require.js (which the book
// loads for ipywidgets). Each library comes from a local folder when there is one, else (or when the local file
// fails) from the CDN: <content root>/_static/vega/ on a built Sphinx page; in JupyterLab or Notebook 7, the vendored
// folder `vendor` (an absolute path) through the server's /files/ handler when it lies under the server's root (the
// page's jupyter-config-data gives baseUrl and serverRoot). A chart that cannot be drawn says so in its <div>.
(function (spec, id, opts, cdn, vendor) {
  var el = document.getElementById(id);
  function fail(err) {
    el.textContent = "The chart could not be drawn: " + err.message;
    console.error("labsupport chart " + id + ": " + err.message);
  }
  function load(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src; s.async = false; s.onload = resolve;
      s.onerror = function () { s.remove(); reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }
  function served(path) {
    var cfg = document.getElementById("jupyter-config-data"), page;
    if (!path || !cfg) return null;
    try { page = JSON.parse(cfg.textContent); } catch (err) { return null; }
    var top = String(page.serverRoot || "");
    while (top.slice(-1) === "/") top = top.slice(0, -1);
    if (!top || path.indexOf(top + "/") !== 0) return null;
    var rel = path.slice(top.length + 1).split("/").map(encodeURIComponent).join("/");
    return (page.baseUrl || "/") + "files/" + rel + "/";
  }
  if (!window.labsupportVega) {
    var root = document.documentElement.dataset.content_root, amd = window.define;
    var local = root !== undefined ? root + "_static/vega/" : served(vendor);
    var chain = Promise.resolve();
    window.define = undefined;
    ["vega", "vega-lite", "vega-embed"].forEach(function (name) {
      chain = chain.then(function () {
        if (local === null) return load(cdn[name]);
        return load(local + name + ".min.js").catch(function () { return load(cdn[name]); });
      });
    });
    window.labsupportVega = chain.then(
      function () { window.define = amd; return window.vegaEmbed; },
      function (err) { window.define = amd; throw err; });
  }
  window.labsupportVega.then(function (embed) { return embed(el, spec, opts); }).catch(fail);
})
