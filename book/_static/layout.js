/* Marks the article's sideways-scrolling boxes (see layout.css) while their content is wider than the box: the
   attribute data-overflow names the edges where content is cut off ("left", "right" or "left right"), and
   layout.css fades those edges. Updated when a box is scrolled or resized, and when content arrives later
   (MathJax typesets after load, widgets and charts render after load).
   Charts (vega's SVG, shrunk to the column by layout.css) shrink to no less than MIN_SCALE of their drawn size, so
   that their text stays legible; a chart that would have to shrink further scrolls in its own box instead. */
(() => {
  "use strict";
  const BOXES = 'mjx-container[display="true"], span.math, .pst-scrollable-table-container, .labsupport-chart, ' +
                ".cell_output .output.text_html, .widget-subarea, .widget-subarea .widget-container, .layout-scroll";
  const MIN_SCALE = 0.7;

  function limitShrinking(svg) {
    const drawn = parseFloat(svg.getAttribute("width"));
    if (drawn > 0) svg.style.minWidth = Math.round(MIN_SCALE * drawn) + "px";
  }

  function mark(box) {
    const hidden = box.scrollWidth - box.clientWidth;
    const edges = [];
    if (hidden > 1 && box.scrollLeft > 1) edges.push("left");
    if (hidden > 1 && box.scrollLeft < hidden - 1) edges.push("right");
    const value = edges.join(" ");
    if ((box.getAttribute("data-overflow") || "") === value) return;
    if (value) box.setAttribute("data-overflow", value);
    else box.removeAttribute("data-overflow");
  }

  const resized = new ResizeObserver((entries) => entries.forEach((entry) => mark(entry.target)));
  const watched = new WeakSet();

  function visit(box) {
    if (!watched.has(box)) {
      watched.add(box);
      resized.observe(box);
      box.addEventListener("scroll", () => mark(box), {passive: true});
    }
    mark(box);
  }

  // the boxes in ``root`` (charts' minimum widths too), and the boxes around it, whose content ``root`` is part of
  function scan(root) {
    root.querySelectorAll(".labsupport-chart svg.marks").forEach(limitShrinking);
    root.querySelectorAll(BOXES).forEach(visit);
    for (let box = root.closest(BOXES); box; box = box.parentElement && box.parentElement.closest(BOXES)) visit(box);
  }

  // Content that changes after load is looked at where it changed only (an explorer redrawing as the reader drags a
  // slider changes a few nodes many times a second), once per frame.
  const changed = new Set();
  let pending = false;

  function flush() {
    pending = false;
    const article = document.querySelector(".bd-article");
    for (const node of changed) {
      if (node.isConnected && article && article.contains(node)) scan(node);
    }
    changed.clear();
  }

  function later(records) {
    for (const record of records) changed.add(record.target);
    if (!pending) {
      pending = true;
      requestAnimationFrame(flush);
    }
  }

  function start() {
    const article = document.querySelector(".bd-article");
    if (!article) return;
    scan(article);
    new MutationObserver(later).observe(article, {childList: true, subtree: true, attributeFilter: ["class"]});
    window.addEventListener("resize", () => later([{target: article}]));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
