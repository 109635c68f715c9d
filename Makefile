# The user's whole interface. `make run` and `make test` do all set-up on a
# fresh Debian machine (packages, private stores under .local/, builds).

SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run up down status test test-unit bench lint deps stores k8s-check

## run: the whole stack with demo traffic in the foreground; Ctrl-C stops it
run:
	deploy/local/stack.sh run

## up: the stack in the background without demo traffic (see .local/stack.env)
up:
	deploy/local/stack.sh up

## down: stop exactly what `up` or `run` started
down:
	deploy/local/stack.sh down

status:
	deploy/local/stack.sh status

deps:
	deploy/local/install-deps.sh
	@command -v cargo-nextest >/dev/null || $(CARGO) install --locked cargo-nextest

stores: deps
	deploy/local/stores.sh up >/dev/null
	deploy/local/fetch-data.sh --test-cases

## test: every test against real Redis, RabbitMQ and Postgres, the ops check,
## then the browser and Django tests against a whole running stack
test: stores
	tracker/check.sh
	$(CARGO) build --workspace --bins
	deploy/local/setup-tests.sh
	deploy/ops/check.sh
	$(CARGO) nextest run --workspace --no-fail-fast
	deploy/local/e2e-tests.sh

## test-unit: the tests that need no stores (each crate's unit tests), for the
## edit-compile loop; `make test` is what counts
test-unit:
	$(CARGO) test --workspace --lib --bins --quiet

## k8s-check: manifests, Dockerfile, alert rules and dashboard (no binaries needed)
k8s-check:
	deploy/ops/check.sh --no-live

## bench: benchmarks; results go to docs/BENCHMARKS.md
bench: stores
	deploy/bench/run.sh

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
