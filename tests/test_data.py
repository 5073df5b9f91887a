"""The committed data load by name through labsupport.data, from the checkout and from an installed copy (with the
renderer's script, the other file the package reads)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from labsupport import data

ROOT = Path(__file__).resolve().parents[1]


def test_every_committed_file_loads_by_name_and_keeps_its_text_labels():
    sweep = data.load("stress_sweep")
    assert sweep.shape == (877190, 18) and "none" in set(sweep.kind)     # a label "none" is text, not missing
    pd.testing.assert_frame_equal(sweep, pd.read_csv(ROOT / "labsupport" / "data" / "stress_sweep.csv.gz"))
    study = data.load("rlhf_study")
    assert study.shape == (90, 40)            # empty cells are missing: no perturbation but for the perturbed models
    assert study.rm_perturbation.isna().equals(study.rm_source != "perturbed")
    assert study.rm_perturbation.notna().sum() == 12
    lines = (ROOT / "labsupport" / "data" / "rm_example.jsonl").read_text().splitlines()
    records = data.load("rm_example")
    assert len(records) == len(lines) == 22
    assert {type(v) for v in records.policy_sample.dropna()} == {bool}     # a JSON flag stays a bool
    assert records.iloc[0].dropna().to_dict() == json.loads(lines[0])     # fields absent from a line are missing
    assert str(data.path("rm_example")) == str(ROOT / "labsupport" / "data" / "rm_example.jsonl")


def test_an_unknown_name_or_file_is_a_one_line_error_naming_it(tmp_path: Path):
    with pytest.raises(ValueError, match=f"name must be one of {', '.join(data.FILES)}, got 'sweep'"):
        data.load("sweep")
    with pytest.raises(ValueError, match="source must name a .csv, .csv.gz or .jsonl file, got 'table.xlsx'"):
        data.read("table.xlsx")
    with pytest.raises(ValueError, match="source: no file at .*missing.csv"):
        data.read(tmp_path / "missing.csv")


def test_an_installed_copy_loads_its_own_data(tmp_path: Path):
    source = tmp_path / "source"
    shutil.copytree(ROOT / "labsupport", source / "labsupport", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--target", str(site), str(source)], check=True, capture_output=True, cwd=tmp_path)
    shutil.rmtree(source)                     # nothing left to fall back on but the installed copy
    code = ("import labsupport as ls\nfrom labsupport import render\nfrom labsupport.studies import rlhf\n"
            "print(ls.__file__)\n"
            "print([ls.data.load(n).shape for n in ls.data.FILES], rlhf.load_study().shape, render.LOADER[:9])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out[0] == str(site / "labsupport" / "__init__.py")
    assert out[1] == f"{[data.load(n).shape for n in data.FILES]} (90, 40) (function"   # the renderer's script too
    assert (site / "labsupport" / "data" / "README.md").is_file()
