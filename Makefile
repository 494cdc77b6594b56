# One command runs the service, one runs the tests; each sets itself up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run dev test train bench clean chromium poppler

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Production server (gunicorn, settings in gunicorn.conf.py) on http://127.0.0.1:8000, and one job
# worker (the Procfile's lines, run by scripts/supervise.py; Ctrl-C stops both). The schema first, once.
run: $(BIN)/.installed
	$(BIN)/flask --app webapp db upgrade >/dev/null
	$(BIN)/python scripts/supervise.py Procfile

# Flask's reloading development server on http://127.0.0.1:5000
dev: $(BIN)/.installed
	$(BIN)/flask --app webapp run --debug

chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "note: Chromium is not installed (apt-get install chromium); browser tests will be skipped"

# pdftotext reads the notices back in tests/notices: installed like Chromium; in CI its absence fails the run.
poppler:
	@command -v pdftotext >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; } || \
	  { [ -z "$$CI" ] || { echo "error: pdftotext is missing (apt-get install poppler-utils)" >&2; exit 1; }; \
	    echo "note: pdftotext is not installed (apt-get install poppler-utils); notice tests will be skipped"; }

test: $(BIN)/.installed chromium poppler
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# A new candidate version in the model registry (never over the shipped artifact): make train BY=you@bank
train: $(BIN)/.installed
	@[ -n "$(BY)" ] || { echo "usage: make train BY=EMAIL (a model admin; a second one approves it)" >&2; exit 2; }
	$(BIN)/flask --app webapp train --data ../shared/data/loan_train.csv --by "$(BY)"

bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
