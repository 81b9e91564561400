# minigen — set-up and the main commands. Everything installs into ./.venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Pin BLAS threads so results (and test timings) do not depend on the machine's load.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-slow test-gpu test-cudasim bench venv clean

$(VENV)/.stamp-test: setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[test]'
	touch $@

$(VENV)/.stamp-demo: setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -e '.[demo]'
	touch $@

venv: $(VENV)/.stamp-test

## make demo: train the demo models on the offline MNIST subset; writes runs/demo/
demo: $(VENV)/.stamp-demo
	$(PY) examples/demo.py --out runs/demo

## make test: the default suite (what CI runs), then the CUDA kernels under Numba's simulator
test: $(VENV)/.stamp-test
	$(PY) -m pytest -n 2 -q
	$(MAKE) test-cudasim

test-cudasim: $(VENV)/.stamp-test
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q -m cudasim -p no:cacheprovider tests/kernels

## make test-slow: the slow tests; installs headless Chromium (Debian's chromium) for the report test if missing
test-slow: $(VENV)/.stamp-test
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "installing chromium for the browser test of the HTML report"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }
	$(PY) -m pytest -q -m slow

test-gpu: $(VENV)/.stamp-test
	$(PY) -m pytest -q -m gpu

bench: $(VENV)/.stamp-test
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
