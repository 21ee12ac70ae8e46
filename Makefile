# Two commands for a newcomer: `make all` (set up, fetch data, run everything) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
RESULTS ?= results
export KERAS_BACKEND ?= jax
export PYTHONUNBUFFERED := 1

.PHONY: all venv data theano mnist images som report quick verify bench test mutate clean help

# Every script at full settings, both protocols: the steps of `make all`, in order.
STEPS := theano theano-2016 mnist mnist-2016 images images-2016 som som-2016
STEP_theano := $(PY) theano_tp2.py --results-dir $(RESULTS)
STEP_theano-2016 := $(STEP_theano) --protocol 2016
STEP_mnist := $(PY) keras_mnist.py --results-dir $(RESULTS)
STEP_mnist-2016 := $(STEP_mnist) --protocol 2016
STEP_images := $(PY) keras_imageTools.py --jobs 2 --results-dir $(RESULTS)
STEP_images-2016 := $(STEP_images) --protocol 2016
STEP_som := $(PY) som_analysis.py --results-dir $(RESULTS)
STEP_som-2016 := $(STEP_som) --protocol 2016
# `make all` marks each step it finishes in $(RESULTS)/.make-all/ (git-ignored). Rerun after an
# interruption, it skips the finished steps and goes on (a grid from its last trial); once the
# whole run has finished the marks go, so the next `make all`, like one on a fresh clone, runs
# everything afresh. `rm -r $(RESULTS)/.make-all` starts an interrupted run over.
DONE := $(RESULTS)/.make-all

all: venv data $(addprefix $(DONE)/,$(STEPS))  ## set up, fetch data, run every script at full settings, then the report
	$(PY) make_report.py --results-dir $(RESULTS)
	rm -rf $(DONE)

$(DONE)/som: $(DONE)/images
$(DONE)/som-2016: $(DONE)/images-2016
$(DONE)/%: | venv data
	$(STEP_$*)
	@mkdir -p $(DONE) && touch $@

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
	$(STEP_theano)
	$(STEP_theano-2016)

mnist: venv  ## Exercise 2a, both protocols -> results/table2.*, results/2016/table2.*
	$(STEP_mnist)
	$(STEP_mnist-2016)

images: venv  ## Exercises 2b/2c, both protocols -> results/grid_search.*, model_best.h5, figure2_model.png, results/2016/
	$(STEP_images)
	$(STEP_images-2016)

som: venv  ## SOM and ANOVA over each grid -> results/figure1_som.png, table3.*, results/2016/
	$(STEP_som)
	$(STEP_som-2016)

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
