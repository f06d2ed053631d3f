# make demo:      quick reproduction of the paper's headline results (Figs. 1, 2a, 3, 5) into results/
# make test:      everything CI runs: ruff, the docs site (warnings are errors), doctests, the suite, the notebooks
# make test-fast: the suite without the tests marked slow and without the notebooks (under 2 minutes on 2 idle cores)
# make docs:      the documentation site into site/ (open site/index.html)
# Each creates .venv (Python 3.11+) and installs what it needs into it on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
export NO_MKDOCS_2_WARNING := 1

.PHONY: demo test test-fast lint doctest docs docs-serve notebooks claims figures regimes gpu-aot install clean

FIGURES := fig1 fig2a fig2b fig3 fig4 fig5 fig6 fig7 cmp kmap compare

# the package alone (make demo)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $(STAMP)

# with the test, docs and comparison extras (everything else)
$(DEV): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[test,docs,compare]"
	@touch $(DEV)

install: $(DEV)

demo: $(STAMP)
	$(BIN)/python -m ensemble reproduce fig1 --out results --quiet
	$(BIN)/python -m ensemble reproduce fig2a --quick --out results
	$(BIN)/python -m ensemble reproduce fig3 --quick --out results
	$(BIN)/python -m ensemble reproduce fig5 --quick --out results

# two or more workers (pytest-xdist; at most 4: each worker is a JAX process with 4 emulated devices)
test: lint docs doctest
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 tests notebooks --nbmake

test-fast: $(DEV)
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 -m "not slow" tests

lint: $(DEV)
	$(BIN)/ruff check .

# the >>> examples in the package's docstrings
doctest: $(DEV)
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules ensemble

docs: $(DEV)
	$(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/python docs/_ext/check_api.py site/objects.inv

docs-serve: $(DEV)
	$(BIN)/mkdocs serve

# regenerate the three notebooks from notebooks/make_*.py and execute them (quick size), keeping
# their outputs: the docs site shows them as tutorials
notebooks: $(DEV)
	@for f in notebooks/make_*.py; do $(BIN)/python $$f || exit 1; done
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace notebooks/*.ipynb

# the paper's claims against docs/results (docs/paper/claims.md)
claims: $(STAMP)
	$(BIN)/python -m ensemble claims

# Every study at full size (slow: tens of minutes on 2 cores, minutes on a GPU); refreshes the
# committed docs/results/*.json and docs/figures/*.png. Checkpoints let an interrupted run resume.
figures: $(DEV)
	@mkdir -p docs/results docs/figures
	@for s in $(FIGURES); do \
	  $(BIN)/python -m ensemble reproduce $$s --out docs/results --resume || exit 1; \
	  mv docs/results/$$s.png docs/figures/$$s.png; \
	done

# The Kuramoto studies under the two stabilized variants of eq. (4) (gain clipped to 0.5, gain
# normalized) into docs/results/clip and docs/results/normalized, and in version 0.2's regimes
# (Figs. 5-7 locked, cmp below) into docs/results/locked; then the claims table (docs/paper/claims.md).
regimes: $(DEV)
	@for s in fig5 fig6 fig7 cmp; do \
	  $(BIN)/python -m ensemble reproduce $$s --set clip=0.5 --out docs/results/clip --resume --quiet || exit 1; \
	  $(BIN)/python -m ensemble reproduce $$s --set normalize=true --out docs/results/normalized --resume --quiet || exit 1; \
	done
	@for s in fig5 fig6 fig7; do \
	  $(BIN)/python -m ensemble reproduce $$s --regime locked --out docs/results/locked --resume --quiet || exit 1; \
	done
	$(BIN)/python -m ensemble reproduce cmp --regime below --out docs/results/locked --resume --quiet
	$(BIN)/python -m ensemble claims

# The GPU programs compiled for an H200 on this machine, no GPU needed (benchmarks/gpu_aot.py):
# a second venv with JAX's CUDA plugin of the same jax version (about 250 MB, no CUDA libraries),
# then benchmarks/results_gpu_aot.json (about 2 minutes on 2 cores).
AOT_VENV ?= .venv-cuda
gpu-aot: $(STAMP)
	@test -x $(AOT_VENV)/bin/python || $(PYTHON) -m venv $(AOT_VENV)
	JAXV=$$($(BIN)/python -c "import jax; print(jax.__version__)") && \
	$(AOT_VENV)/bin/python -m pip install --quiet -e . "jax==$$JAXV" "jaxlib==$$JAXV" \
	  "jax-cuda13-plugin==$$JAXV" "jax-cuda13-pjrt==$$JAXV" nvidia-cuda-nvcc nvidia-cuda-nvdisasm
	$(AOT_VENV)/bin/python -m benchmarks.gpu_aot --sizes 1000,10000,100000,1000000 --json benchmarks/results_gpu_aot.json

clean:
	rm -rf results site .pytest_cache .coverage
