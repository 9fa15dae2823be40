# Everything sets itself up: the first `make run` or `make test` creates the
# virtualenv, installs the package with its test tools and generates the gRPC stubs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PROTOS  = $(wildcard proto/ticketrouter/v1/*.proto)
STUBS   = services/ticketrouter/v1/.generated
PYTEST  = $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: setup lock image run test unit integration e2e bench bench-quick lint stubs clean prometheus-tools

setup: $(STUBS)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $@

# Re-resolve the dependencies from pyproject.toml in a throwaway virtualenv and pin
# what was installed; review the diff before committing it.
lock:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '/^#/p' requirements.lock; \
	  $(VENV)-lock/bin/python -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf $(VENV)-lock

$(STUBS): $(STAMP) $(PROTOS)
	mkdir -p services/ticketrouter/v1
	$(BIN)/python -m grpc_tools.protoc -I proto \
		--python_out=services --grpc_python_out=services --pyi_out=services $(PROTOS)
	touch services/ticketrouter/v1/__init__.py $@

stubs: $(STUBS)

# The production image (deploy/container/Dockerfile) with whichever engine is here.
IMAGE ?= ticketrouter:0.1.0
image:
	@engine=$$(command -v docker || command -v podman) || \
		{ echo "make image needs docker or podman"; exit 2; }; \
	$$engine build -f deploy/container/Dockerfile -t $(IMAGE) .

run: setup
	$(BIN)/ticketrouter demo

test: setup prometheus-tools
	$(PYTEST) tests

prometheus-tools:
	@bash deploy/dev/install-prometheus-tools.sh

unit: setup
	$(PYTEST) tests/unit

integration: setup
	$(PYTEST) tests/integration

e2e: setup prometheus-tools
	$(PYTEST) tests/e2e

bench: setup
	$(BIN)/ticketrouter bench $(BENCH_ARGS)

# Every stage on fewer events and agents (matching at 100, 1,000 and 10,000 agents):
# a few minutes, to see that nothing broke; the figures to quote come from `bench`.
bench-quick: setup
	$(BIN)/ticketrouter bench --events 5000 --agents 1000

lint: setup
	$(BIN)/ruff check services tests
	$(BIN)/ruff format --check services tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) services/ticketrouter/v1 *.egg-info services/*.egg-info .ticketrouter
