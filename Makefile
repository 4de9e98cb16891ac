# Two commands: `make demo` and `make test`.  Each sets up everything first: the OS packages
# (mosquitto, and the tools the tests use), a virtualenv in .venv, and this project in it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
TEST_STAMP := $(VENV)/.installed-test
SYSTEM_PACKAGES := mosquitto mosquitto-clients espeak-ng alsa-utils
TEST_PACKAGES := ffmpeg rtsp-server-perl postgresql iproute2 chromium fonts-wqy-microhei
PYTEST_ARGS ?=
# make demo DEMO_ARGS=--keep: the hub, its web console and the nodes run on until Ctrl-C.
DEMO_ARGS ?=

.PHONY: all setup test demo lint system-deps test-deps clean

all: test

setup: system-deps $(STAMP)

$(STAMP): pyproject.toml scripts/make-venv.sh
	@scripts/make-venv.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The tests also cover the training tool, so they add the `train` extra (PyTorch, CPU build; never
# installed on a node).
$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,train]'
	@touch $@

system-deps:
	@scripts/system-deps.sh $(SYSTEM_PACKAGES)

test-deps:
	@scripts/system-deps.sh $(TEST_PACKAGES)

test: setup test-deps $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/edge-sim demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo-out
