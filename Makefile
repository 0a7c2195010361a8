# kreg: every target installs what it needs into the current Python (or the venv you activated).
PYTHON ?= python3
PIP = $(PYTHON) -m pip
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONWARNINGS ?= ignore::DeprecationWarning
PYTEST_ARGS ?=
# `make demo LOGDIR=x` remembers x in .kreg-logdir, so a following `make tensorboard` serves what the demo wrote.
LOGDIR ?= $(shell cat .kreg-logdir 2>/dev/null || echo runs/demo)
PORT ?= 6006

.PHONY: install install-backends demo test test-backends test-jax test-torch bench lint tensorboard screenshots tune mutate clean

# TensorFlow is the default backend; JAX is installed too because the suite checks that kreg (and its TensorBoard
# report) works with TensorFlow absent, which needs a second backend to train with.
install:
	$(PIP) install -q -e ".[tensorflow,jax,tuning,plots,dev]"

# PyTorch for `make test-backends`; torch==2.13.0 is the CPU build (an unpinned torch pulls a CUDA build).
install-backends: install
	$(PIP) install -q -e ".[torch]"

demo: install
	@echo "$(LOGDIR)" > .kreg-logdir
	$(PYTHON) examples/demo.py --logdir $(LOGDIR) $(DEMO_ARGS)

test: install
	KERAS_BACKEND=tensorflow $(PYTHON) -m pytest $(PYTEST_ARGS)

test-jax: install-backends
	KERAS_BACKEND=jax $(PYTHON) -m pytest $(PYTEST_ARGS)

test-torch: install-backends
	KERAS_BACKEND=torch $(PYTHON) -m pytest $(PYTEST_ARGS)

test-backends: install-backends
	KERAS_BACKEND=tensorflow $(PYTHON) -m pytest $(PYTEST_ARGS)
	KERAS_BACKEND=jax $(PYTHON) -m pytest $(PYTEST_ARGS)
	KERAS_BACKEND=torch $(PYTHON) -m pytest $(PYTEST_ARGS)

bench: install
	$(PYTHON) -m benchmarks $(BENCH)

# A small regularization search on digits (keras-tuner's Hyperband), results table, Pareto PNG, HParams dashboard.
tune: install
	$(PYTHON) tuning/search.py --dataset digits --tuner hyperband --max-trials 10 --epochs 20 --out runs/tuning

lint: install
	$(PYTHON) -m ruff check kreg tests benchmarks examples scripts tuning
	$(PYTHON) -m ruff format --check kreg tests benchmarks examples scripts tuning

# README screenshots (docs/images/*.png): the demo's runs if `make demo` wrote them, else three tiny runs.
DEMO_LOGDIR ?= runs/demo
screenshots: install
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(PYTHON) scripts/screenshots.py $(if $(wildcard $(DEMO_LOGDIR)),--logdir $(DEMO_LOGDIR)) $(if $(HPARAMS_LOGDIR),--hparams-logdir $(HPARAMS_LOGDIR))

# Mutation testing of one module against its tests, in a throw-away copy (docs/architecture.md, "Mutation testing").
BACKEND ?= tensorflow
mutate: install
	$(PIP) install -q -e ".[mutation]"
	$(PYTHON) scripts/mutate.py $(MODULE) $(TESTS) --backend $(BACKEND)

tensorboard: install
	$(PYTHON) -m tensorboard.main --logdir $(LOGDIR) --host 127.0.0.1 --port $(PORT)

clean:
	rm -rf build *.egg-info .pytest_cache logs runs .kreg-logdir
