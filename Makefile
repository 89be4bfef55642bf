# Two commands for a newcomer: `make demo` and `make test`. Everything else is for day-to-day work.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SEED ?= 42
SCALE ?= demo
DAYS ?= 3

# Nothing leaves the machine: dbt, Great Expectations and Dagster telemetry off.
export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export PYTHONHASHSEED := 0

.PHONY: install sample demo nightly test dev bench bench-growth clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

sample: install  ## generate the sample retailer's dumps under data/landing
	$(PY) -m orchestration.sample_data.cli --clean --seed $(SEED) --scale $(SCALE) --days $(DAYS)

nightly: install  ## run the pipeline headless on whatever is in data/landing
	$(PY) -m orchestration.nightly

demo: sample nightly  ## set up, generate the sample retailer, run the whole pipeline

test: install  ## set up and run the test suite
	$(PY) -m pytest

bench: install  ## time the nightly at SCALE=S|M|L against the floor and a pandas peer (docs/performance.md)
	$(PY) -m benchmarks.run --scale $(SCALE) --out benchmarks/results/$(SCALE)

bench-growth: install  ## how the cost grows across the scales benchmarked so far, extrapolated to L (docs/performance.md)
	$(PY) -m benchmarks.growth $(wildcard benchmarks/results/*/benchmark.json) --out benchmarks/results/growth.md

dev: install  ## the Dagster UI on this project
	$(VENV)/bin/dagster dev

clean:  ## delete runtime data (dumps, lake, warehouse, exports, Dagster history)
	rm -rf data .tmp_dagster_home_*
