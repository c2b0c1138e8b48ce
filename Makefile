# Nephele's entry points. `make run` and `make test` are all a newcomer needs.

CARGO   ?= cargo
PYTHON  ?= python3
VENV    := .venv
SPEC    := spec/digitalocean/openapi-subset.yaml
# nextest is faster and clearer; plain `cargo test` runs the same tests where it is missing.
NEXTEST := $(shell command -v cargo-nextest >/dev/null 2>&1 && echo "nextest run" || echo "test")

.PHONY: run sim test unit conformance lint fmt bench clean

## run: start Nephele on 127.0.0.1:8080 (demo mode against the built-in simulator without a token)
run:
	$(CARGO) run -p nephele -- serve

## sim: the DigitalOcean API simulator with 100 droplets (token: dosim-token)
sim:
	$(CARGO) run --release -p dosim -- --listen 127.0.0.1:8090 --droplets 100

## test: every Rust test, then the simulator's OpenAPI conformance run
test: unit conformance

unit:
	$(CARGO) $(NEXTEST) --workspace

$(VENV)/.installed: scripts/requirements-conformance.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-conformance.txt
	touch $@

## conformance: check dosim against DigitalOcean's OpenAPI document with schemathesis
conformance: $(VENV)/.installed
	$(CARGO) build -p dosim
	$(VENV)/bin/python scripts/conformance.py target/debug/dosim $(SPEC)

$(VENV)/.bench-installed: scripts/requirements-bench.txt
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-bench.txt
	touch $@

## bench: the benchmark table (release build against dosim; Libcloud and /healthz baselines
## measured in the same run), written to BENCHMARKS.md; then the DigitalOcean client's own bench
bench: $(VENV)/.bench-installed
	scripts/ensure-wrk.sh
	$(CARGO) build --release -p nephele -p dosim
	$(VENV)/bin/python scripts/bench.py --target-dir target/release --markdown BENCHMARKS.md
	$(CARGO) bench -p nephele-digitalocean --bench list_droplets

## lint: formatting and clippy, warnings as errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV)
