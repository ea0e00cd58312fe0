# make demo: the main job on the shipped example. make test: lint, types, tests.
# Both create the virtualenv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.weightguard-installed

.PHONY: demo test lint typecheck unit bench clean image

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned to the CPU build on this machine's disk; a looser spec pulls a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# Test with the exact versions the image ships (hashes stripped: pip refuses hashes
	# next to an editable install).
	grep -oE '^[A-Za-z0-9_.-]+==[^ ]+' requirements/image.txt > $(VENV)/constraints.txt
	$(PY) -m pip install -q -e '.[test,all]' -c $(VENV)/constraints.txt
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest -q

test: lint typecheck unit

demo: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash examples/demo.sh

bench: $(STAMP)
	$(PY) benchmarks/bench_verify.py

# The container image, built with podman here (see scripts/image.sh; root installs podman).
image:
	bash scripts/image.sh

clean:
	rm -rf $(VENV) demo-out bench-out
