"""The labs as their readers open them in JupyterLab (``make lab``), in headless Chromium.

The labs are written in MyST Markdown, as the book's chapters are: figure and table labels (``(lab4-fig-2)=``),
roles (``{ref}`...```), equations. JupyterLab shows them through jupyterlab-myst (requirements.txt); without it a
reader sees every label as a line of text. For every lab, opened in a JupyterLab server started for the test (a free
127.0.0.1 port; its own settings, workspace and runtime folders; every cell rendered, not only those in view): each
Markdown cell is rendered by MyST, no label, role or directive is left as text, every equation is typeset without a
KaTeX error, and the page makes no request off the machine and logs no console error.

Marker ``slow``; the ``browser`` fixture of tests/conftest.py (skipped without Chromium or Playwright unless
``REQUIRE_BROWSER=1``).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import watched_page

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
START_S = 120
RENDER_MS = 60_000

pytestmark = pytest.mark.slow

# MyST source left in the rendered text: a label line, a role, a directive fence, TeX outside math
RAW_MYST = {
    "label": re.compile(r"^\([\w:.-]+\)=", re.M),
    "role": re.compile(r"\{(?:ref|numref|eq|doc|cite|math)\}`"),
    "directive": re.compile(r"^(?:```|:::)\{", re.M),
    "TeX": re.compile(r"\$|\\(?:frac|pi|theta|mathrm|text|hat|sum)\b"),
}

# the text of every rendered Markdown cell, code left out (a code span may show a dollar sign or a label on purpose)
RENDERED_TEXT = """() => [...document.querySelectorAll('.jp-MarkdownCell .myst')].map(cell => {
  const copy = cell.cloneNode(true);
  copy.querySelectorAll('code, pre, .katex').forEach(e => e.remove());
  return copy.innerText;
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on the repository (as ``make lab`` starts it), with settings that render every cell of a
    notebook (``windowingMode: none``) and no news or extension manager asking the internet; yields its base URL."""
    home = tmp_path_factory.mktemp("jupyterlab")
    tracker = home / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    port = free_port()
    log = home / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             "--ServerApp.password=", f"--ServerApp.root_dir={ROOT}", "--LabApp.news_url=",
             "--LabApp.extension_manager=readonly"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                urllib.request.urlopen(base + "api/status", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start (exit {server.poll()}):\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.mark.parametrize("lab", LABS, ids=[lab.stem for lab in LABS])
def test_a_lab_opens_in_jupyterlab_with_its_myst_markdown_rendered(browser, jupyterlab, lab):
    markdown = sum(cell["cell_type"] == "markdown" for cell in json.loads(lab.read_text())["cells"])
    page, problems = watched_page(browser, jupyterlab, 1280)
    try:
        page.goto(f"{jupyterlab}lab/tree/notebooks/{lab.name}?reset")
        page.wait_for_function("() => document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown, "
                               f".jp-MarkdownCell .myst').length >= {markdown}", timeout=RENDER_MS)
        texts = page.evaluate(RENDERED_TEXT)
        math = page.locator(".jp-MarkdownCell .myst .katex").count()
        errors = [e.inner_text() for e in page.locator(".jp-MarkdownCell .myst .katex-error").all()]
    finally:
        page.close()
    assert len(texts) == markdown, (f"{len(texts)} of {lab.name}'s {markdown} Markdown cells rendered by MyST "
                                    "(is jupyterlab-myst installed? pip install -r requirements.txt)")
    raw = {kind: match.group(0) for text in texts for kind, pattern in RAW_MYST.items()
           if (match := pattern.search(text))}
    assert raw == {}, f"MyST source shown as text in {lab.name}: {raw}"
    assert math > 0 and errors == [], f"{lab.name}: {math} equations, KaTeX errors: {errors[:3]}"
    assert problems == []
