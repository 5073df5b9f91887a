"""Sphinx extension: repository and Binder launch buttons for the published book.

The publishing workflow (``.github/workflows/book.yml``) sets ``BOOK_REPOSITORY_URL`` to the repository's address
(``https://github.com/OWNER/NAME``). Then every page gets a repository button and every lab page a "launch in
Binder" button that opens the notebook in JupyterLab, with the environment of ``binder/``. Without the variable
(local builds, tests) the pages carry no link to any repository; the theme's download button (the ``.ipynb`` of a
lab, the source of a chapter) is there either way.
"""

from __future__ import annotations

import os

from sphinx.application import Sphinx
from sphinx.config import Config

ENV_VAR = "BOOK_REPOSITORY_URL"
BINDER = "https://mybinder.org"


def configure(app: Sphinx, config: Config) -> None:
    """Add the repository URL and the Binder launch button to the theme options when ``BOOK_REPOSITORY_URL`` is set."""
    url = os.environ.get(ENV_VAR, "").strip().rstrip("/")
    if not url:
        return
    if not url.startswith("https://github.com/") or url.count("/") != 4:
        raise ValueError(f"{ENV_VAR} must look like https://github.com/OWNER/NAME; got {url!r}")
    options = dict(config.html_theme_options or {})
    options.update(
        repository_url=url,
        repository_branch=os.environ.get("BOOK_REPOSITORY_BRANCH", "main"),
        path_to_docs="book",
        use_repository_button=True,
        use_download_button=True,
        launch_buttons={"binderhub_url": BINDER, "notebook_interface": "jupyterlab"},
    )
    config.html_theme_options = options


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", configure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
