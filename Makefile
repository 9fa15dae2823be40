# Everything sets itself up: the first `make run` or `make test` creates the
# virtualenv, installs the package with its test tools and generates the gRPC stubs.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PROTOS  = $(wildcard proto/ticketrouter/v1/*.proto)
STUBS   = services/ticketrouter/v1/.generated
PYTEST  = $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: setup lock image run test unit integration e2e bench bench-quick lint stubs clean prometheus-tools browser

setup: $(STUBS)

# Everything comes from the lock, pip and the build backend included, and pip refuses
# a file whose hash the lock does not list; the package itself is built against
# the locked setuptools rather than whatever an isolated build would fetch.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Re-resolve the dependencies from pyproject.toml with uv from a throwaway virtualenv;
# review the diff before committing it. uv keeps each version an existing lock pins
# unless pyproject.toml no longer allows it, so only what changed moves. The locks:
#   requirements-dev.lock    what `make setup` installs: the dev extra, pip and the
#                            build backend on top of the dependencies
#   requirements.lock        what the image runs, at the dev lock's versions (the
#                            ones the tests ran)
#   requirements-build.lock  the image's build stage: the stub generator and the
#                            build backend, at the dev lock's versions
# Every platform's files are hashed (--universal), and from PyPI, where the image
# build downloads them.
UV_VERSION  = 0.13.9
UV_COMPILE  = $(VENV)-lock/bin/uv pip compile --quiet --generate-hashes --universal \
	--python-version 3.11 --index-url https://pypi.org/simple --custom-compile-command 'make lock'
BUILD_REQUIRES = $(PYTHON) -c 'import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
lock:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet uv==$(UV_VERSION)
	{ $(BUILD_REQUIRES); echo pip; } | \
		$(UV_COMPILE) pyproject.toml --extra dev - -o requirements-dev.lock
	$(UV_COMPILE) pyproject.toml -c requirements-dev.lock -o requirements.lock
	{ $(BUILD_REQUIRES); echo grpcio-tools; } | \
		$(UV_COMPILE) - -c requirements-dev.lock -o requirements-build.lock
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

# Two runs side by side, one a core: the unit tests (CPU-bound, no ports, brokers or
# databases) beside the integration and end-to-end tests (mostly waiting on brokers,
# processes and databases). The unit run's report is printed after the other's;
# either failing fails the target.
UNIT_LOG = .unit-tests.log
test: setup prometheus-tools browser
	@$(PYTEST) tests/unit > $(UNIT_LOG) 2>&1 & unit=$$!; \
	$(PYTEST) tests/integration tests/e2e; others=$$?; \
	wait $$unit; units=$$?; \
	echo; echo "=== unit tests (run alongside) ==="; cat $(UNIT_LOG); rm -f $(UNIT_LOG); \
	test $$others -eq 0 && test $$units -eq 0

prometheus-tools:
	@bash deploy/dev/install-prometheus-tools.sh

# Debian's chromium, for the test that opens the simulation's HTML report.
browser:
	@bash deploy/dev/install-browser.sh

unit: setup
	$(PYTEST) tests/unit

integration: setup
	$(PYTEST) tests/integration

e2e: setup prometheus-tools browser
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
