# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-signin lighthouse e2e-proxy clean

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

## The whole suite: the checks of `make lint`, then unit, HTTP and real-browser tests
## (needs Chromium; see README).
test: lint $(VNU_JAR)
	VNU_JAR=$(VNU_JAR) $(PY) -m pytest

## Static checks: lint rules, formatting, and strict types on webapp/ (also the pre-commit hooks).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## Load benchmark: the site against a bare ASGI app on the same uvicorn, driven by wrk, the
## public pages at four instants under libfaketime (Debian's packages wrk and faketime;
## installed here when running as root). See tests/perf/README.md.
## BENCH_SECONDS (per run, default 5) and BENCH_ROUNDS (default 3) shorten or lengthen it.
bench: $(STAMP)
	@for need in wrk:wrk faketime:faketime; do \
	  cmd=$${need%%:*}; pkg=$${need##*:}; \
	  command -v $$cmd >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y --no-install-recommends $$pkg || \
	      { apt-get update && apt-get install -y --no-install-recommends $$pkg; } || exit 1; \
	  else \
	    echo "make bench needs $$pkg: sudo apt-get install -y $$pkg"; exit 1; \
	  fi; \
	done
	@# Bytecode as a deployment has it (docs/deploy.md compiles it): start-up is measured too.
	$(PY) -m compileall -q webapp
	$(PY) tests/perf/bench.py

## Staff sign-in during a 200-request flood against the real server (production Argon2id):
## the honest sign-in's time and how many flood requests reached Argon2. See the script.
bench-signin: $(STAMP)
	$(PY) tests/perf/signin_flood.py

# Lighthouse (npm, pinned: 12.x is the last line that runs on Debian's Node 20; 13 needs 22),
# run with Debian's Chromium.
LIGHTHOUSE_VERSION := 12.8.2
LIGHTHOUSE := .cache/lighthouse/node_modules/.bin/lighthouse
$(LIGHTHOUSE):
	npm install --silent --no-audit --no-fund --prefix .cache/lighthouse lighthouse@$(LIGHTHOUSE_VERSION)

## Lighthouse scores (mobile) for the home, article, clinic and consultation pages.
lighthouse: $(STAMP) $(LIGHTHOUSE)
	LIGHTHOUSE=$(LIGHTHOUSE) $(PY) tests/perf/lighthouse.py

## Debian's nginx, set up as docs/deploy.md says, in front of the real site on 127.0.0.1:
## client addresses, https, headers, redirects, smuggling (tests/e2e). Needs root; installs
## nginx and openssl when missing.
e2e-proxy: $(STAMP)
	tests/e2e/need-nginx
	E2E_PROXY=1 $(PY) -m pytest tests/e2e -p no:cacheprovider

clean:
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache .hypothesis
