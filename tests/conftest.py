"""Shared test set-up.

- Without a CUDA GPU, Triton kernels (labsupport.fused) run in Triton's CPU interpreter. The interpreter is chosen
  when a kernel is defined, so the variable is set before any test imports labsupport.fused.
- The built book and a browser for the book's tests (session fixtures, built or started once per test session):
  ``built_book`` (the HTML folder of the book built in small mode), ``book_server`` (that folder served on
  127.0.0.1, the base URL) and ``browser`` (headless Chromium driven by Playwright). Without Chromium or Playwright
  ``browser`` skips the test, unless ``REQUIRE_BROWSER=1`` (then it fails).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``book`` (the book build, the browser, the grading of assignments: minutes) is in the slow tier
    too, so ``-m "not slow"`` leaves it out without each test repeating both marks."""
    for item in items:
        if item.get_closest_marker("book") is not None and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
# The tests build into build/test-book (not book/_build, which `make book` serves at full size), running every
# notebook in small mode unless LABSUPPORT_SMALL is already set.
OUT = ROOT / "build" / "test-book"
HTML = OUT / "_build" / "html"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# the jupyter-book command of this interpreter (the package has no __main__)
JUPYTER_BOOK = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())"]


def run(cmd: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` capturing its output, with LABSUPPORT_SMALL=1 unless the environment sets it."""
    env = {**os.environ, "LABSUPPORT_SMALL": os.environ.get("LABSUPPORT_SMALL", "1")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)


def tail(proc: subprocess.CompletedProcess, chars: int = 6000) -> str:
    """The last ``chars`` characters of a finished process's stdout and stderr."""
    return (proc.stdout + proc.stderr)[-chars:]


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on a random loopback port; yields the base URL (ending in /)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """The module's tests run on one torch thread (their tensors are tiny: one thread is fastest); the setting is
    restored after the module. Use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    from labsupport.simulate import threads

    with threads(1):
        yield


def watched_page(browser, base: str, width: int):
    """A new browser page ``width`` px wide (900 px high) and the list its problems are recorded in: a request to any
    host but ``base``'s (recorded, then refused, so the page never waits for it), a console error and an uncaught
    exception."""
    import urllib.parse

    loopback = urllib.parse.urlsplit(base).netloc
    problems: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900})

    def on_request(request):
        host = urllib.parse.urlsplit(request.url).netloc
        if not (request.url.startswith(("data:", "blob:", "about:")) or host == loopback):
            problems.append(f"request to another host: {request.url}")

    def on_console(message):
        if message.type == "error":
            problems.append(f"console error: {message.text} ({message.location.get('url')})")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.route("**/*", lambda route: route.continue_() if urllib.parse.urlsplit(route.request.url).netloc == loopback
               else route.abort())
    return page, problems


@pytest.fixture(scope="session")
def built_book() -> Path:
    """The book's HTML folder (build/test-book/_build/html): vendors the browser libraries and builds the whole book
    once per session (every notebook executed, small mode, warnings as errors); fails with the build's output if
    either step fails."""
    vendor = run([sys.executable, str(ROOT / "tools" / "vendor_assets.py")])
    print(vendor.stdout)
    assert vendor.returncode == 0, f"tools/vendor_assets.py failed:\n{tail(vendor)}"
    # a clean, full execution every session: the book caches executed notebooks (jupyter-cache), which would
    # otherwise let a later test session show an earlier session's results
    shutil.rmtree(OUT / "_build" / ".jupyter_cache", ignore_errors=True)
    build = run([*JUPYTER_BOOK, "build", "--all", "-W", "-n", "--keep-going", "--path-output", str(OUT), str(BOOK)])
    if build.returncode != 0:
        pytest.fail(f"jupyter-book build exited with {build.returncode}:\n{tail(build)}", pytrace=False)
    return HTML


@pytest.fixture(scope="session")
def book_server(built_book: Path) -> Iterator[str]:
    """The built book served on a random 127.0.0.1 port for the whole session; yields the base URL (ending in /),
    e.g. ``book_server + "chapters/02-....html"``."""
    with serve(built_book) as base:
        yield base


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium (``$CHROMIUM``, default Debian's /usr/bin/chromium) started once per session through
    Playwright for Python; yields the Playwright ``Browser`` (open pages with ``browser.new_page(...)`` and close
    them). Skips the test saying what is missing, or fails instead when REQUIRE_BROWSER=1."""
    def unavailable(reason: str):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)

    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright)")
    if not Path(CHROMIUM).is_file():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM=/path/to/chromium)")
    manager = sync_playwright().start()
    try:
        started = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Error as err:
        manager.stop()
        unavailable(f"Chromium at {CHROMIUM} does not start under Playwright: {err.message.splitlines()[0]}")
    try:
        yield started
    finally:
        started.close()
        manager.stop()
