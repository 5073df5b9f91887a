# Thin entry points; the work is done by tools/ and the Python tooling in .venv.
# Set-up is split by need (tools/install_env.py): readers get requirements.txt (labs, book), `make assignments` adds
# requirements-assignments.txt, `make test` requirements-test.txt; each file includes the one before it.
PY      := .venv/bin/python
PORT    ?= 8000
BOOKOUT := book/_build/html

.PHONY: help venv venv-assignments venv-test book build-book serve lab lint test test-fast browser bench assignments grade

help:
	@echo "make book   install, execute the notebooks (cached between builds), build the book, serve it on http://127.0.0.1:$(PORT)"
	@echo "make lab    open JupyterLab on notebooks/"
	@echo "make test   install the test tools and run the whole test suite (make test-fast: without the slow tier)"
	@echo "make lint   ruff (pyflakes, pycodestyle, isort, bugbear) on all Python code, mypy on labsupport (pyproject.toml)"
	@echo "make bench  run the benchmarks (ratios measured in one run)"
	@echo "make assignments  build the assignments' student notebooks and autograders into build/assignments/"
	@echo "make grade ZIP=... SUBMISSIONS=...  grade a folder of submissions with otter run (no Docker)"

venv:
	python3 tools/install_env.py

venv-assignments:
	python3 tools/install_env.py --group assignments

venv-test:
	python3 tools/install_env.py --group test

# Incremental: jupyter-cache re-executes only the notebooks whose code changed (tools/build_book.py lists them).
build-book: venv
	$(PY) tools/vendor_assets.py
	$(PY) tools/build_book.py

serve:
	@echo "The book is at http://127.0.0.1:$(PORT)/  (Ctrl-C stops the server)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory $(BOOKOUT)

book: build-book serve

# JupyterLab at the repository root, opened on notebooks/: charts load the vendored browser libraries through the
# server (book/_vendor, fetched here when npm can), so they draw offline. As root (a container), Jupyter needs
# --allow-root to start at all.
lab: venv
	$(PY) tools/vendor_assets.py
	.venv/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks \
	  $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# Debian's chromium for the browser test: installed when missing and this user may (root with apt-get).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "NOTICE: chromium not found and cannot be installed here; the browser test will be skipped"; fi; }

# The code standard: ruff's rules and mypy's settings are in pyproject.toml.
lint: venv-test
	$(PY) -m ruff check labsupport tools tests benchmarks book
	$(PY) -m mypy

test: venv-test browser
	$(PY) -m pytest --durations=20

# The fast tier: everything but the book build, the browser check and the interpreter-heavy kernel tests.
test-fast: venv-test
	$(PY) -m pytest -m "not slow"

bench: venv
	$(PY) benchmarks/bench_engine.py

assignments: venv-assignments
	$(PY) tools/build_assignments.py --jobs 2

# Grade a folder of submissions without Docker: make grade ZIP=build/assignments/<name>/autograder/<name>-autograder.zip
# SUBMISSIONS=folder/ [OUT=results]; one otter run per notebook, scores.csv in OUT (tools/grade_all.py).
grade: venv-assignments
	@test -n "$(ZIP)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade ZIP=<autograder zip> SUBMISSIONS=<folder> [OUT=results]"; exit 2; }
	$(PY) tools/grade_all.py "$(ZIP)" "$(SUBMISSIONS)" --out "$(or $(OUT),results)" --jobs 2
