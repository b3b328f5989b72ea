# edgeforge: `make target=NAME` builds the bundled reference model (or model=PATH data=PATH)
# for target NAME into build/NAME/. `make -j` is safe: each target has its own folder.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
EDGEFORGE := $(PY) -m edgeforge.cli

target ?= host
REFERENCE_MODEL := build/reference/mnist_cnn.keras
REFERENCE_TRAIN := calibration_data/mnist-train.npz
REFERENCE_EVAL := calibration_data/mnist-eval.npz
model ?= $(REFERENCE_MODEL)
data ?= $(REFERENCE_TRAIN)
# The reference data has its own held-out file; a user's data is split unless eval_data is set.
ifeq ($(data),$(REFERENCE_TRAIN))
eval_data ?= $(REFERENCE_EVAL)
endif
out ?= build/$(target)
EXTRA ?=
EVAL_OPTION := $(if $(eval_data),--eval-data $(eval_data),)
# budgets=FILE: a project budget file (see README), applied to every target.
BUDGETS_OPTION := $(if $(budgets),--budgets-file $(budgets),)
TARGETS := $(sort $(basename $(notdir $(wildcard targets/*.yaml))))
INPUTS := $(if $(filter $(REFERENCE_MODEL),$(model)),$(REFERENCE_MODEL),) \
          $(if $(filter $(REFERENCE_TRAIN),$(data)),$(REFERENCE_TRAIN) $(REFERENCE_EVAL),)

.DEFAULT_GOAL := build
.PHONY: build all test bench targets venv clean reference

build: $(VENV)/.installed $(INPUTS)
	$(EDGEFORGE) compile $(model) --target $(target) --data $(data) $(EVAL_OPTION) $(BUDGETS_OPTION) --out $(out) $(EXTRA)

# Builds every shipped target (parallel with -j), keeps going past a failed one, then
# writes build/summary.{md,html,png} and exits non-zero if any build failed.
all: $(VENV)/.installed $(INPUTS)
	@$(MAKE) --no-print-directory -k $(TARGETS:%=compile-%); status=$$?; \
	$(EDGEFORGE) summary --out build $(TARGETS:%=build/%/report.json); exit $$status

compile-%: $(VENV)/.installed $(INPUTS)
	$(EDGEFORGE) compile $(model) --target $* --data $(data) $(EVAL_OPTION) $(BUDGETS_OPTION) --out build/$* $(EXTRA)

targets: $(VENV)/.installed
	$(EDGEFORGE) targets

reference: $(REFERENCE_MODEL)

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

$(REFERENCE_TRAIN) $(REFERENCE_EVAL) &: | $(VENV)/.installed
	$(PY) -m edgeforge.reference data calibration_data

$(REFERENCE_MODEL): $(REFERENCE_TRAIN) | $(VENV)/.installed
	$(PY) -m edgeforge.reference train $(REFERENCE_TRAIN) $@

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed $(REFERENCE_MODEL) $(REFERENCE_EVAL)
	$(PY) bench/run.py --out docs/benchmarks.md

clean:
	rm -rf build
