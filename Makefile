# Two entry points, each doing all of its own set-up on a fresh machine:
#   make compare   install, then run the main job (compare knn, logreg and cnn on the default data, keeping
#                  the models so predict, serve and robustness can use the run)
#   make test      install, then run the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
PYTORCH_OOD_VERSION := 0.4.0
# Real data beside the checkout is used when present; otherwise hwr-eval says which data it falls back to.
HWR_DATA ?= $(wildcard ../shared/data)
export HWR_DATA
MODELS ?= knn,logreg,cnn
PYTEST_ARGS ?= -n auto

# Without an NVIDIA driver take the CPU build of torch (PyPI's default Linux wheel carries several GB of
# CUDA libraries). A locally provided CPU wheel (pip's find-links) wins over the index: its +cpu tag sorts
# higher. --retries 0 keeps an unreachable extra index from stalling an offline install.
ifeq ($(shell command -v nvidia-smi 2>/dev/null),)
TORCH_SOURCE := --extra-index-url https://download.pytorch.org/whl/cpu --retries 0
endif

.PHONY: install browser compare test clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	@echo "installing hwr-eval into $(VENV) (PyTorch first; a few minutes on a fresh machine) ..."
	$(BIN)/python -m pip install "torch==$(TORCH_VERSION)" $(TORCH_SOURCE)
	$(BIN)/python -m pip install -e ".[dev]"
	@# pytorch-ood checks the unknown-input detectors in the tests; without --no-deps its torchvision
	@# requirement would replace the CPU torch with PyPI's CUDA build (several GB).
	$(BIN)/python -m pip install --no-deps "pytorch-ood==$(PYTORCH_OOD_VERSION)"
	touch $@

# The page's browser tests drive Debian's Chromium (Playwright's own browser download cannot be used);
# where it cannot be installed they skip and say why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1; } || \
	  echo "chromium could not be installed: the browser tests will skip" >&2

install: $(VENV)/.installed

compare: install
	$(BIN)/hwr-eval compare --models $(MODELS) --save-models

test: install browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
