# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench lighthouse clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

## Serve the site on http://127.0.0.1:8000 (SQLite under data/, migrations applied at start).
run: $(STAMP)
	$(PY) -m webapp serve

# The Nu HTML checker (the W3C validator's engine), pinned; it runs on the machine's Java.
VNU_VERSION := 26.9.27
VNU_JAR := .cache/vnu/node_modules/vnu-jar/build/dist/vnu.jar
$(VNU_JAR):
	npm install --silent --no-audit --no-fund --prefix .cache/vnu vnu-jar@$(VNU_VERSION)

## The whole suite: unit, HTTP and real-browser tests (needs Chromium; see README).
test: $(STAMP) $(VNU_JAR)
	$(PY) -m ruff check .
	VNU_JAR=$(VNU_JAR) $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .hypothesis
