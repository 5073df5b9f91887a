"""Publishing: Binder/repository buttons only when the publishing workflow asks for them; the workflow and the
Binder environment point at the project's own build and requirements."""

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def publishing():
    spec = importlib.util.spec_from_file_location("publishing", ROOT / "book" / "_ext" / "publishing.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_repository_links_without_the_variable(monkeypatch):
    monkeypatch.delenv("BOOK_REPOSITORY_URL", raising=False)
    config = SimpleNamespace(html_theme_options={"home_page_in_toc": True})
    publishing().configure(None, config)
    assert config.html_theme_options == {"home_page_in_toc": True}


def test_binder_button_and_repository_with_the_variable(monkeypatch):
    monkeypatch.setenv("BOOK_REPOSITORY_URL", "https://github.com/someone/imperfect-rewards/")
    config = SimpleNamespace(html_theme_options={"home_page_in_toc": True})
    publishing().configure(None, config)
    opts = config.html_theme_options
    assert opts["repository_url"] == "https://github.com/someone/imperfect-rewards"
    assert opts["launch_buttons"] == {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"}
    assert opts["path_to_docs"] == "book" and opts["repository_branch"] == "main" and opts["home_page_in_toc"]


def test_a_malformed_repository_url_is_rejected(monkeypatch):
    monkeypatch.setenv("BOOK_REPOSITORY_URL", "https://example.org/someone")
    with pytest.raises(ValueError, match="BOOK_REPOSITORY_URL"):
        publishing().configure(None, SimpleNamespace(html_theme_options={}))


def test_workflow_builds_with_make_and_deploys_the_built_html():
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = flow.get("on", flow.get(True))  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    steps = flow["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "python3 tools/install_env.py --group assignments" in runs and "make build-book" in runs
    build = next(s for s in steps if s.get("run") == "make build-book")
    assert "BOOK_REPOSITORY_URL" in build["env"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "book/_build/html"
    assert any(str(s.get("uses", "")).startswith("actions/deploy-pages") for s in flow["jobs"]["deploy"]["steps"])


def test_binder_environment_uses_the_project_requirements_with_cpu_torch():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert "-r ../requirements.txt" in lines
    assert any(line.startswith("--extra-index-url") and line.endswith("/whl/cpu") for line in lines)
    assert "pip install --no-deps -e ." in (ROOT / "binder" / "postBuild").read_text()
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111
