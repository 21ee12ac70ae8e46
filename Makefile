# Two commands for a newcomer: `make all` (set up, fetch data, run everything) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RESULTS ?= results
export KERAS_BACKEND ?= jax
export PYTHONUNBUFFERED := 1

.PHONY: all venv data theano mnist images som report quick verify bench test mutate clean help

all: venv data theano mnist images som report  ## set up, fetch data, run every script at full settings

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed  ## create .venv and install requirements.txt

data: venv  ## download MNIST and Caltech101 into the data folder if absent
	$(PY) -m tp2.data

theano: venv  ## Exercise 1, both protocols -> results/table1.*, random_check.*, results/2016/
	$(PY) theano_tp2.py --results-dir $(RESULTS)
	$(PY) theano_tp2.py --protocol 2016 --results-dir $(RESULTS)

mnist: venv  ## Exercise 2a, both protocols -> results/table2.*, results/2016/table2.*
	$(PY) keras_mnist.py --results-dir $(RESULTS)
	$(PY) keras_mnist.py --protocol 2016 --results-dir $(RESULTS)

images: venv  ## Exercises 2b/2c, both protocols -> results/grid_search.*, model_best.h5, figure2_model.png, results/2016/
	$(PY) keras_imageTools.py --jobs 2 --results-dir $(RESULTS)
	$(PY) keras_imageTools.py --protocol 2016 --jobs 2 --results-dir $(RESULTS)

som: venv  ## SOM and ANOVA over each grid -> results/figure1_som.png, table3.*, results/2016/
	$(PY) som_analysis.py --results-dir $(RESULTS)
	$(PY) som_analysis.py --protocol 2016 --results-dir $(RESULTS)

report: venv  ## results/REPORT.md from the files in results/
	$(PY) make_report.py --results-dir $(RESULTS)

quick: venv  ## every script with --quick into results-quick/
	$(PY) theano_tp2.py --quick --results-dir results-quick
	$(PY) theano_tp2.py --quick --protocol 2016 --results-dir results-quick
	$(PY) keras_mnist.py --quick --results-dir results-quick
	$(PY) keras_mnist.py --quick --protocol 2016 --results-dir results-quick
	$(PY) keras_imageTools.py --quick --results-dir results-quick
	$(PY) keras_imageTools.py --quick --protocol 2016 --results-dir results-quick
	$(PY) som_analysis.py --quick --results-dir results-quick
	$(PY) som_analysis.py --quick --protocol 2016 --results-dir results-quick
	$(PY) make_report.py --results-dir results-quick

verify: venv  ## compare $(RESULTS) with results/ as committed, file by file: did the rerun reproduce?
	@git rev-parse --verify -q HEAD >/dev/null || { echo "error: make verify compares with the committed results/ and needs a git checkout" >&2; exit 2; }
	@reference=$$(mktemp -d) && trap 'rm -rf "$$reference"' EXIT && \
	  git archive HEAD results | tar -x -C "$$reference" && \
	  $(PY) -m tp2.verify --results-dir $(RESULTS) --reference "$$reference/results"

bench: venv  ## benchmarks -> results/bench.md, bench.csv (and REPORT.md again, which shows them)
	$(PY) bench.py --results-dir $(RESULTS)
	$(PY) make_report.py --results-dir $(RESULTS)

test: venv  ## run the test suite
	$(PY) -m pytest -q tests

mutate: venv  ## mutation check: realistic bugs the tests must catch (tests/mutations.md)
	$(PY) tests/mutate.py

clean:  ## remove .venv and quick results (results/ is kept)
	rm -rf $(VENV) results-quick .pytest_cache
