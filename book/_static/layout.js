/* Marks the article's sideways-scrolling boxes (see layout.css) while their content is wider than the box: the
   attribute data-overflow names the edges where content is cut off ("left", "right" or "left right"), and
   layout.css fades those edges. Updated when a box is scrolled or resized, and when content arrives or changes later
   (MathJax typesets after load, widgets and charts render after load, an explorer redraws its table).
   Boxes are measured where the browser has laid the page out already, so that measuring forces no layout of its own
   and adds nothing to a frame: in a ResizeObserver callback (a new or resized box), in a scroll event, and, for a box
   whose content changed, when the browser is next idle (after the frame that shows the change).
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

  // reported after layout: when a box is resized, and once when it starts being observed
  const resized = new ResizeObserver((entries) => entries.forEach((entry) => mark(entry.target)));
  const watched = new WeakSet();

  function watch(box) {
    if (watched.has(box)) return;
    watched.add(box);
    resized.observe(box);
    box.addEventListener("scroll", () => mark(box), {passive: true});
  }

  // Boxes whose content changed, measured together when the browser is next idle. A box the browser does not render
  // now (in a section off-screen, see layout.css) is observed anew instead: measuring it would make the browser lay
  // its section out, and the new observation is reported once it is rendered.
  const changedBoxes = new Set();
  const whenIdle = window.requestIdleCallback ? (f) => requestIdleCallback(f, {timeout: 200})
                                              : (f) => setTimeout(f, 50);

  function measureChanged() {
    for (const box of changedBoxes) {
      if (!box.isConnected) continue;
      if (box.checkVisibility && !box.checkVisibility({contentVisibilityAuto: true})) {
        resized.unobserve(box);
        resized.observe(box);
      } else {
        mark(box);
      }
    }
    changedBoxes.clear();
  }

  function measureSoon(box) {
    watch(box);
    if (!changedBoxes.size) whenIdle(measureChanged);
    changedBoxes.add(box);
  }

  // the boxes around `node`, whose content `node` is part of
  function enclosing(node) {
    const boxes = [];
    for (let box = node.closest(BOXES); box; box = box.parentElement && box.parentElement.closest(BOXES)) {
      boxes.push(box);
    }
    return boxes;
  }

  // the boxes in `root` (charts' minimum widths too) and around it
  function scan(root) {
    root.querySelectorAll(".labsupport-chart svg.marks").forEach(limitShrinking);
    root.querySelectorAll(BOXES).forEach(watch);
    enclosing(root).forEach(measureSoon);
  }

  // Content that changes after load is looked at where it changed only (an explorer redrawing as the reader drags a
  // slider changes a few nodes many times a second): new elements are searched for boxes, and the boxes around a
  // change are measured when the browser is next idle.
  function changed(records) {
    const around = new Set();
    const added = new Set();
    for (const record of records) {
      if (record.type === "childList") {
        for (const node of record.addedNodes) if (node.nodeType === Node.ELEMENT_NODE) added.add(node);
      } else {
        added.add(record.target);  // a new class: it may have become a box, or hold a chart
      }
      around.add(record.target);
    }
    for (const node of added) if (node.isConnected) scan(node);
    const boxes = new Set();
    for (const node of around) if (node.isConnected) enclosing(node).forEach((box) => boxes.add(box));
    boxes.forEach(measureSoon);
  }

  function start() {
    const article = document.querySelector(".bd-article");
    if (!article) return;
    scan(article);
    new MutationObserver(changed).observe(article, {childList: true, subtree: true, attributeFilter: ["class"]});
    window.addEventListener("resize", () => article.querySelectorAll(BOXES).forEach(measureSoon));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

/* The sidebar buttons of the article's header (the menu: the book's chapters; the list: this page's sections) open
   their sidebars. Both themes bind a sidebar toggle to the first element of its class in the page, which is the
   theme's top bar's (hidden: layout.css), so the buttons a reader sees did nothing: a click on one is handed to the
   bound one (which, on a narrow window, opens the sidebar over the page and, at 992 px and wider, shows or hides the
   chapters' sidebar). */
(() => {
  "use strict";
  function forwardToggles() {
    for (const kind of [".primary-toggle", ".secondary-toggle"]) {
      const bound = document.querySelector(kind);
      document.querySelectorAll(".bd-header-article " + kind).forEach((button) => {
        if (!bound || button === bound) return;
        button.addEventListener("click", (event) => {
          event.preventDefault();
          event.stopPropagation();
          bound.click();
        });
      });
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", forwardToggles);
  else forwardToggles();
})();
