"""Fetch the browser libraries of the built book into ``book/_vendor/`` (run before building the book).

The built pages need MathJax (equations), require.js + the ipywidgets HTML manager (widgets without a kernel) and
vega / vega-lite / vega-embed (Altair charts). By default those load from CDNs, which fails offline. This script
downloads each package as a tarball from the npm registry (``npm pack``: no ``npm install``, no dependency tree) and
extracts only the files the pages load::

    book/_vendor/mathjax/es5/...            tex-mml-chtml.js, CHTML woff-v2 fonts, TeX extensions
    book/_vendor/requirejs/require.js
    book/_vendor/html-manager/embed-amd.js  (+ the font files it references)
    book/_vendor/vega/{vega,vega-lite,vega-embed}.min.js
    book/_vendor/manifest.json              versions and files; written last, so it marks a complete folder

``book/_ext/offline_assets.py`` points the book at these files when the manifest is complete; the folder is served as
``_static/`` of the built site (so the vega files are at ``<content root>/_static/vega/``, where
``labsupport.charts`` looks for them).

Idempotent: does nothing when the manifest matches the wanted versions and every file is present. Without npm, or
when the registry cannot be reached, it prints a notice and exits 0: the book then loads the libraries from CDNs,
which works for readers who are online.

Usage: ``python tools/vendor_assets.py [--force] [--dest DIR]``
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

DEST = Path(__file__).resolve().parent.parent / "book" / "_vendor"
MANIFEST = "manifest.json"
NPM_TIMEOUT_S = 300

# vega-lite must match the schema Altair writes (altair.SCHEMA_VERSION); vega and vega-embed must be of the majors
# Altair's own HTML output asks for (altair.VEGA_VERSION, altair.VEGAEMBED_VERSION). vega 6.2 carries the
# vega-expression 6.1 that vega-lite 6.4 is built against.
VEGA_LITE_FALLBACK = "6.4.1"
VEGA = "6.2.0"
VEGA_EMBED = "7.1.0"


@dataclass(frozen=True)
class Package:
    """One npm package: which files of its tarball to keep, and where they go under the vendor folder.

    ``keep`` holds fnmatch patterns relative to the package root (``*`` also matches ``/``). ``rename`` maps a
    package path to a destination path; files that are not renamed keep their package path under ``folder``.
    """

    name: str
    version: str
    folder: str
    keep: tuple[str, ...]
    rename: tuple[tuple[str, str], ...] = ()


def vega_lite_version() -> str:
    """The vega-lite version whose schema the installed Altair writes (a pinned fallback without Altair)."""
    try:
        import altair
    except ImportError:
        return VEGA_LITE_FALLBACK
    for name, pinned in (("VEGA_VERSION", VEGA), ("VEGAEMBED_VERSION", VEGA_EMBED)):
        want = str(getattr(altair, name, "")).lstrip("v").split(".")[0]
        if want and want != pinned.split(".")[0]:
            print(f"vendor_assets: notice: Altair asks for {name}={want}.x but {pinned} is pinned here; "
                  "update the pins in tools/vendor_assets.py")
    return altair.VEGALITE_VERSION.lstrip("v")


def packages() -> list[Package]:
    """The packages the book's pages load, with the files to keep from each."""
    return [
        Package("mathjax", "3.2.2", "mathjax",
                ("es5/tex-mml-chtml.js", "es5/output/chtml/fonts/woff-v2/*", "es5/input/tex/extensions/*")),
        Package("requirejs", "2.3.8", "requirejs", ("require.js",)),
        # embed-amd.js is a webpack bundle that loads its (Font Awesome) fonts from its own folder; which font files
        # it needs is read from the bundle itself (see fonts_referenced).
        Package("@jupyter-widgets/html-manager", "1.0.6", "html-manager", ("dist/embed-amd.js",),
                (("dist/", ""),)),
        Package("vega", VEGA, "vega", ("build/vega.min.js",), (("build/", ""),)),
        Package("vega-lite", vega_lite_version(), "vega", ("build/vega-lite.min.js",), (("build/", ""),)),
        Package("vega-embed", VEGA_EMBED, "vega", ("build/vega-embed.min.js",), (("build/", ""),)),
    ]


def fonts_referenced(bundle: bytes) -> set[str]:
    """File names of the font files a webpack bundle refers to (e.g. ``1551f4f60c37af51121f.woff2``)."""
    return {m.decode() for m in re.findall(rb"[0-9a-f]{16,}\.(?:woff2|woff|ttf|eot|svg)", bundle)}


def read_manifest(dest: Path) -> dict | None:
    """The manifest of a complete vendor folder, or None when it is missing, unreadable or files are absent."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not all((dest / f).is_file() for f in manifest.get("files", [])):
        return None
    return manifest


def wanted_versions(pkgs: list[Package]) -> dict[str, str]:
    return {p.name: p.version for p in pkgs}


def npm_pack(spec: str, workdir: Path) -> Path:
    """Download the tarball of ``spec`` (``name@version``) into ``workdir``; return its path."""
    out = subprocess.run(["npm", "pack", spec, "--json", "--loglevel=error"], cwd=workdir, capture_output=True,
                         text=True, timeout=NPM_TIMEOUT_S)
    if out.returncode != 0:
        message = " ".join((out.stderr or out.stdout).split())[-400:]
        raise RuntimeError(f"`npm pack {spec}` failed (exit {out.returncode}): {message}")
    info = json.loads(out.stdout)
    return workdir / info[0]["filename"]


def inside(root: Path, rel: str, what: str) -> Path:
    """``root / rel``, or a ValueError naming ``what`` when ``rel`` is absolute or resolves outside ``root``."""
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        raise ValueError(f"{what}: absolute path {rel!r} in the archive")
    base = root.resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise ValueError(f"{what}: path {rel!r} leaves the target folder")
    return root / rel


def checked_members(tar: tarfile.TarFile, label: str) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, after checking that none is absolute, resolves outside the archive's root, is a
    link pointing outside it, or is a device or FIFO. A bad member raises a ValueError naming it."""
    members = tar.getmembers()
    for m in members:
        where = f"{label}: member {m.name!r}"
        if m.isdev():
            raise ValueError(f"{where} is a device or FIFO")
        _lexical_inside(m.name, where)
        if m.issym():
            _lexical_inside(str(PurePosixPath(m.name).parent / m.linkname), f"{where} (link to {m.linkname!r})")
        elif m.islnk():
            _lexical_inside(m.linkname, f"{where} (hard link to {m.linkname!r})")
    return members


def _lexical_inside(rel: str, what: str) -> None:
    """A ValueError naming ``what`` when the archive path ``rel`` is absolute or climbs above the archive's root."""
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).drive or rel.startswith("\\"):
        raise ValueError(f"{what}: absolute path in the archive")
    depth = 0
    for part in PurePosixPath(rel.replace("\\", "/")).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise ValueError(f"{what}: the path leaves the archive's folder")


def extract(pkg: Package, tarball: Path, staging: Path) -> list[str]:
    """Extract the kept files of ``pkg`` into ``staging/<folder>``; return their paths relative to ``staging``."""
    written: list[str] = []
    with tarfile.open(tarball) as tar:
        members = {m.name.removeprefix("package/"): m for m in checked_members(tar, tarball.name) if m.isfile()}
        keep = [n for n in members if any(fnmatch.fnmatch(n, pat) for pat in pkg.keep)]
        if pkg.name == "@jupyter-widgets/html-manager":
            bundle = tar.extractfile(members["dist/embed-amd.js"]).read()
            keep += [f"dist/{font}" for font in sorted(fonts_referenced(bundle)) if f"dist/{font}" in members]
        missing = [pat for pat in pkg.keep if not any(fnmatch.fnmatch(n, pat) for n in keep)]
        if missing:
            raise RuntimeError(f"{pkg.name}@{pkg.version}: no file matches {missing} in {tarball.name}")
        for name in keep:
            rel = name
            for old, new in pkg.rename:
                if rel.startswith(old):
                    rel = new + rel[len(old):]
                    break
            target = inside(staging / pkg.folder, rel, f"{tarball.name}: {name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(members[name]).read())
            written.append(f"{pkg.folder}/{rel}")
    return written


def vendor(dest: Path, force: bool = False) -> int:
    """Fill ``dest`` with the browser libraries; return the process exit code (0 also when npm is unusable)."""
    pkgs = packages()
    manifest = read_manifest(dest)
    if not force and manifest and manifest.get("packages") == wanted_versions(pkgs):
        print(f"vendor_assets: {dest} is complete ({len(manifest['files'])} files); nothing to do")
        return 0
    if shutil.which("npm") is None:
        print("vendor_assets: NOTICE: npm not found; the book will load MathJax, widgets and vega from CDNs "
              "(pages need internet to show math, widgets and charts). Install Node.js/npm and rerun to vendor them.")
        return 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        tmp_path = Path(tmp)
        staging = tmp_path / "staging"
        files: list[str] = []
        try:
            for pkg in pkgs:
                tarball = npm_pack(f"{pkg.name}@{pkg.version}", tmp_path)
                got = extract(pkg, tarball, staging)
                files += got
                print(f"vendor_assets: {pkg.name}@{pkg.version}: {len(got)} files")
        except (RuntimeError, OSError, ValueError, KeyError, tarfile.TarError, subprocess.TimeoutExpired) as err:
            fallback = (f"the book keeps using the files already in {dest}" if manifest else
                        "the book will load MathJax, widgets and vega from CDNs (pages need internet for math, "
                        "widgets and charts)")
            print(f"vendor_assets: NOTICE: could not fetch from the npm registry ({err}); {fallback}.")
            return 0
        (staging / MANIFEST).write_text(json.dumps({"packages": wanted_versions(pkgs), "files": sorted(files)},
                                                   indent=1))
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(dest))
    size = sum((dest / f).stat().st_size for f in files) / 1e6
    print(f"vendor_assets: wrote {len(files)} files ({size:.1f} MB) to {dest} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="fetch again even when the folder is complete")
    parser.add_argument("--dest", type=Path, default=DEST, help=f"target folder (default: {DEST})")
    args = parser.parse_args(argv)
    return vendor(args.dest.resolve(), force=args.force)


if __name__ == "__main__":
    sys.exit(main())
