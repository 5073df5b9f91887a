# Thin entry points; the work is done by tools/ and the Python tooling in .venv.
PY      := .venv/bin/python
PORT    ?= 8000
BOOKOUT := book/_build/html

.PHONY: help venv book build-book serve lab test browser bench assignments

help:
	@echo "make book   install, execute the notebooks, build the book and serve it on http://127.0.0.1:$(PORT)"
	@echo "make test   install and run the whole test suite"
	@echo "make lab    open JupyterLab on notebooks/"
	@echo "make bench  run the benchmarks (ratios measured in one run)"
	@echo "make assignments  build the assignments' student notebooks and autograders into build/assignments/"

venv:
	python3 tools/install_env.py

build-book: venv
	$(PY) tools/vendor_assets.py
	.venv/bin/jupyter-book build --all -W -n --keep-going book/

serve:
	@echo "The book is at http://127.0.0.1:$(PORT)/  (Ctrl-C stops the server)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory $(BOOKOUT)

book: build-book serve

# JupyterLab at the repository root, opened on notebooks/: charts load the vendored browser libraries through the
# server (book/_vendor, fetched here when npm can), so they draw offline.
lab: venv
	$(PY) tools/vendor_assets.py
	.venv/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks

# Debian's chromium for the browser test: installed when missing and this user may (root with apt-get).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "NOTICE: chromium not found and cannot be installed here; the browser test will be skipped"; fi; }

test: venv browser
	$(PY) -m pytest

bench: venv
	$(PY) benchmarks/bench_engine.py

assignments: venv
	$(PY) tools/build_assignments.py --jobs 2
