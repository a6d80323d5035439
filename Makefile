# Two entry points: `make demo` (the whole benchmark on the embedded dataset) and
# `make test` (the whole test suite). Each creates .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
# git-annex and the MPI library are installed into the venv's bin folder: put it on PATH.
RUN := PATH="$(BIN):$$PATH"

.PHONY: demo test bench clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Where ../shared/weights exists (this project's machines), its offline ImageNet weights are
# imported into the torch cache first (checksums checked), so the deep-feature columns fill in.
SHARED_WEIGHTS := $(wildcard ../shared/weights/squeezenet1_0-imagenet-deepcompression.pth ../shared/weights/mobilenet_v2-imagenet-coral-dequant.pth)

demo: $(STAMP)
ifneq ($(SHARED_WEIGHTS),)
	$(RUN) $(BIN)/fmri-bench weights import squeezenet1_0 ../shared/weights/squeezenet1_0-imagenet-deepcompression.pth
	$(RUN) $(BIN)/fmri-bench weights import mobilenet_v2 ../shared/weights/mobilenet_v2-imagenet-coral-dequant.pth
endif
	$(RUN) $(BIN)/fmri-bench demo

test: $(STAMP)
	$(RUN) $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(RUN) $(BIN)/python bench/run_all.py

clean-venv:
	rm -rf $(VENV)
