# The study's commands. Each target bootstraps .venv from the lock file first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= all
DEMO_DIR  ?= demo
DEMO_PORT ?= 8765

.PHONY: help setup reproduce test demo lint format lock bench release clean-demo check-config verify calibrate plan

help:
	@echo "make reproduce   the full study from the real archives (needs internet)"
	@echo "make plan [CONFIGFILES=...]  files, bytes, core-hours and wall time of a run, before it (needs internet; --estimate: offline)"
	@echo "make verify      re-hash every raw file against data/raw/SHA256SUMS (names each changed one)"
	@echo "make test        the whole test suite, offline"
	@echo "make demo        the whole workflow offline against a generated, SYNTHETIC archive mirror"
	@echo "make lint        ruff, snakemake --lint and formatting checks"
	@echo "make bench       the ratio benchmarks in benchmarks/"
	@echo "make calibrate   the calibration study of the intervals on simulated series (data/calibration)"
	@echo "make release     one archive of data/processed + results + checksums, in dist/"
	@echo "make check-config [CONFIGFILES=...]  check config files (YAML line, key) before a run"

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -c "import libarchive" 2>/dev/null || { [ "$$(uname)" = Darwin ] && c="brew install libarchive" || c="apt-get install libarchive13"; echo "the system libarchive, which reads 7z archives, is missing; install it with: $$c" >&2; exit 1; }
	touch $(STAMP)

setup: $(STAMP)

# config/config.yaml and any CONFIGFILES="a.yaml b.yaml", checked as the workflow will read them.
check-config: $(STAMP)
	$(BIN)/python -m takedowns.config $(CONFIGFILES)

# A full re-hash of every downloaded file, whatever its size and times say; exits non-zero
# naming each file whose bytes changed since it was recorded.
verify: $(STAMP)
	$(BIN)/python -m takedowns.sources.ledger verify data/raw/SHA256SUMS

# Files, bytes, core-hours and disk per source and stage, and the wall time at 1, 16 and
# 256 cores, from the listings the run reads anyway: results/plan.csv, results/plan_shape.csv.
plan: $(STAMP)
	$(BIN)/python -m takedowns.plan $(if $(CONFIGFILES),--config $(CONFIGFILES))

# A progress line per stage; Snakemake's own output in logs/snakemake-console.log
# (make reproduce VERBOSE=1 shows all of it).
reproduce: check-config
	$(BIN)/python -m takedowns.progress --log logs/snakemake-console.log --label study \
		$(if $(filter 1 yes true,$(VERBOSE)),--verbose) -- \
		$(BIN)/snakemake --cores $(CORES) $(if $(CONFIGFILES),--configfile $(CONFIGFILES))
	$(BIN)/snakemake --report results/report.html

# Unit and stage tests on both cores; then the end-to-end workflow runs, which share one
# generated mirror and workflow run per module and use both cores themselves.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not e2e"
	$(BIN)/python -m pytest -m e2e

# A progress line per stage; Snakemake's own output in $(DEMO_DIR)/logs/snakemake-console.log
# (make demo VERBOSE=1 shows all of it).
demo: $(STAMP)
	$(BIN)/python -m takedowns.demo --directory $(DEMO_DIR) --port $(DEMO_PORT) --cores 2 $(if $(filter 1 yes true,$(VERBOSE)),--verbose)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile workflow/rules

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# Coverage and false-positive rate of every estimator on simulated series (about 10 min, 2 cores).
calibrate: $(STAMP)
	$(BIN)/python -m takedowns.analysis.calibration --out data/calibration

release: $(STAMP)
	$(BIN)/python -m takedowns.release --directory . --dist dist

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements.lock

clean-demo:
	rm -rf $(DEMO_DIR)
