# Two commands on a fresh machine:
#   make demo   installs neonas into .venv and runs the whole study on the synthetic cohort (CPU)
#   make test   installs neonas with its test tools into .venv and runs the test suite
# Set PYTHON to pick the interpreter (default: python3, 3.10 or newer).

PYTHON ?= python3
# pytest-xdist workers of make test (TEST_WORKERS=1: the suite in one process)
TEST_WORKERS ?= 2
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.neonas-installed

.PHONY: install demo test lint clean-demo

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,export]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 2 --profile profiles/local
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores 2 --profile profiles/local --report results/demo/report.html
	@echo "Demo finished: read results/demo/summary.html first (answers and warnings, then every figure and table);"
	@echo "provenance in results/demo/report.html (Snakemake report); LaTeX bundle in results/demo/latex/"

test: $(STAMP)
	@if [ "$$CI" = "true" ] || [ "$$NEONAS_LOCAL_SLURM" = "1" ]; then bash scripts/local-slurm.sh start; fi
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=15

lint: $(STAMP)
	$(BIN)/ruff check src tests bench studies scripts
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

clean-demo:
	rm -rf results/demo data/synthetic .snakemake
