"""The book's Reward Error Explorer: time from a slider's input event to the redrawn page, in headless Chromium.

    .venv/bin/python benchmarks/bench_explorer.py                         # the book built by the tests
    .venv/bin/python benchmarks/bench_explorer.py --html build/mine/_build/html --events 200

Serves a built book on 127.0.0.1, opens chapter 4 in headless Chromium (Playwright, ``$CHROMIUM`` or
/usr/bin/chromium) at 1280 x 900, scrolls y_med's proxy-reward slider to the middle of the window (a reader sees what
they drag; ``--page-top`` leaves the page at its top and the explorer off-screen, as the earlier measurements did),
loads the paper's toy (the "stalling" preset: both trainings, 2,000 steps, and the measured category of its one
error, i.e. every counterfactual) and dispatches ``--events`` input events on that slider, one at a time, each to a
new value. For each event it records

* **input -> redrawn page**: from ``performance.now()`` just before the event is dispatched to the first task after
  the animation frame that shows the redraw (a message posted from the explorer's "rex:redrawn" event, which fires
  in that frame, runs once the frame's style, layout and paint are done). This includes the wait for the next frame:
  an event is dispatched at a random point of a frame (0-16.7 ms before the next one at 60 Hz), as a reader's input
  arrives, and the page is redrawn in the next frame; and of it, **frame -> painted**: from the start of the
  explorer's frame callback to the same end (its part of the frame, then style, layout, paint and commit);
* **explorer's work**: its time computing (the core) and drawing (SVG and table) per input, wherever it ran (the
  explorer computes and draws as soon as the input arrives, between frames), and the part of it inside the frame.

It also prints two floors, the same path (a random moment, the next frame, its paint) with less to do: a frame
that changes one short text of the explorer, i.e. what any redraw on this page costs, and a frame that changes
nothing, i.e. the wait for the next frame alone (half a frame on average).

Prints medians and 95th percentiles. Goal: median input -> redrawn page under 16 ms.
Build the book first (``make test`` does, into build/test-book) or point ``--html`` at any built book.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import CHROMIUM, CHROMIUM_ARGS, HTML, serve  # noqa: E402 (the tests' server and browser flags)

PAGE = "chapters/04-taxonomy.html"
#: y_med's proxy-reward slider, the control the benchmark drags
SLIDER = 'input[type=range][data-field="r_proxy"][data-output="1"]'

# Runs in the page: `count` input events on y_med's proxy slider; per event, in ms: [input -> painted, the explorer's
# work, the part of it in the frame, frame -> painted] (an explorer that does all its work in the frame says only
# detail.ms).
MEASURE = """async (count) => {
  const root = document.querySelector(".reward-explorer");
  const slider = root.querySelector('SLIDER');
  const afterPaint = () => new Promise(r => {
    const channel = new MessageChannel();
    channel.port1.onmessage = r;
    channel.port2.postMessage(0);
  });
  const results = [];
  for (let i = 0; i < count; i++) {
    // a random moment within a frame, as a reader's input arrives
    await new Promise(requestAnimationFrame);
    await new Promise(r => setTimeout(r, Math.random() * 16));
    const redrawn = new Promise(r => root.addEventListener("rex:redrawn",
      e => r([e.detail.ms, e.detail.frame ?? e.detail.ms, performance.now()]), {once: true}));
    const value = (-1 + 2 * ((i * 7) % 41) / 40).toFixed(2);   // 41 values in [-1, 1], each step a new one
    const start = performance.now();
    slider.value = value;
    slider.dispatchEvent(new Event("input", {bubbles: true}));
    const [work, inFrame, at] = await redrawn;
    await afterPaint();
    const end = performance.now();
    results.push([end - start, work, inFrame, end - (at - inFrame)]);
  }
  return results;
}""".replace("SLIDER", SLIDER)


# The same path with (almost) nothing to do: at a random moment a frame is requested, in which one short text of the
# explorer changes (or, with `change` false, nothing); ms from the request to the first task after that frame's paint.
# The floor the page itself sets (and the frame wait alone).
FLOOR = """async ([count, change]) => {
  const status = document.querySelector(".reward-explorer .rex-status");
  const results = [];
  for (let i = 0; i < count; i++) {
    await new Promise(requestAnimationFrame);
    await new Promise(r => setTimeout(r, Math.random() * 16));
    const start = performance.now();
    await new Promise(r => requestAnimationFrame(() => { if (change) status.textContent = `(${i})`; r(); }));
    await new Promise(r => {
      const channel = new MessageChannel();
      channel.port1.onmessage = r;
      channel.port2.postMessage(0);
    });
    results.push(performance.now() - start);
  }
  return results;
}"""


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (linear interpolation between order statistics)."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=HTML, help=f"a built book's HTML folder (default {HTML})")
    parser.add_argument("--events", type=int, default=100, help="input events to time (default 100)")
    parser.add_argument("--page", default=PAGE, help=f"page with an explorer (default {PAGE})")
    parser.add_argument("--page-top", action="store_true",
                        help="leave the page at its top (the explorer off-screen) instead of showing the slider")
    args = parser.parse_args()
    if not (args.html / args.page).is_file():
        raise SystemExit(f"--html: no {args.page} under {args.html}; build the book first, e.g. LABSUPPORT_SMALL=1 "
                         ".venv/bin/jupyter-book build --path-output build/bench book/ and pass "
                         "--html build/bench/_build/html")
    if args.events < 2:
        raise SystemExit(f"--events must be at least 2; got {args.events}")
    from playwright.sync_api import sync_playwright

    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    with serve(args.html) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + args.page, wait_until="load")
            page.wait_for_function("document.querySelector('.reward-explorer .rex-table tbody tr[data-name]')")
            if not args.page_top:
                page.evaluate(f"document.querySelector('.reward-explorer {SLIDER}')"
                              ".scrollIntoView({block: 'center'})")
                page.wait_for_timeout(500)  # the sections that come into view are rendered
            page.evaluate(MEASURE, 10)  # warm-up: the JIT compiles the core and the view
            results = page.evaluate(MEASURE, args.events)
            floor = page.evaluate(FLOOR, [args.events, True])
            empty = page.evaluate(FLOOR, [args.events, False])
            version = browser.version
        finally:
            browser.close()
    total, work, in_frame, frame_to_paint = ([r[k] for r in results] for k in range(4))

    def stats(values: list[float]) -> str:
        return f"median {statistics.median(values):.1f} ms, p95 {quantile(values, 0.95):.1f} ms"

    print(f"Chromium {version} (headless), {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs "
          f"(load average {load}); {args.page}, the paper's toy, {len(results)} input events")
    print(f"input -> redrawn page: {stats(total)} (max {max(total):.1f})   (goal: median < 16 ms)")
    print(f"  of which frame -> painted: {stats(frame_to_paint)}")
    print(f"explorer's work (core + drawing): {stats(work)}; of it in the frame: {stats(in_frame)}")
    print(f"floor of this page (a frame that changes one short text): {stats(floor)}")
    print(f"frame wait alone (a frame that changes nothing): {stats(empty)}")


if __name__ == "__main__":
    main()
