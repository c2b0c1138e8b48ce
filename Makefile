# Nephele's entry points. `make run` and `make test` are all a newcomer needs.

CARGO   ?= cargo
PYTHON  ?= python3
VENV    := .venv
# DigitalOcean's documents the simulator is checked against: today's droplet subset, and the
# resources cut (volumes, snapshots, keys, firewalls, reserved IPs, VPCs, projects, tags).
SPECS   := spec/digitalocean/openapi-subset.yaml spec/digitalocean/openapi-resources.yaml
# nextest is faster and clearer; plain `cargo test` runs the same tests where it is missing.
NEXTEST := $(shell command -v cargo-nextest >/dev/null 2>&1 && echo "nextest run" || echo "test")

.PHONY: run sim test unit unit-plugin plugins python-plugin aws-peer webhooks-peer ec2-prices conformance api-conformance browser openapi lint fmt bench clean

## run: start Nephele on 127.0.0.1:8080 (demo mode against the built-in simulator without a token)
run:
	$(CARGO) run -p nephele -- serve

## sim: the DigitalOcean API simulator with 100 droplets (token: dosim-token)
sim:
	$(CARGO) run --release -p dosim -- --listen 127.0.0.1:8090 --droplets 100

## test: every Rust test, the API suite again with DigitalOcean as a plugin, the simulator's
## OpenAPI conformance run, then Nephele's own API fuzzed against its own document
test: unit unit-plugin conformance api-conformance browser

unit: plugins python-plugin aws-peer webhooks-peer
	$(CARGO) $(NEXTEST) --workspace

## unit-plugin: the API suite with DigitalOcean out of process (nephele-provider-digitalocean)
unit-plugin: plugins
	NEPHELE_TEST_DIGITALOCEAN=plugin $(CARGO) $(NEXTEST) -p nephele-server --test api

## plugins: the plugin binaries built from this workspace (the `nephele` binary needs none)
plugins:
	$(CARGO) build -p nephele-digitalocean --features plugin --bin nephele-provider-digitalocean
	$(CARGO) build -p nephele-aws --features plugin --bin nephele-provider-aws

$(VENV)/.aws-installed: scripts/requirements-aws.txt
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-aws.txt
	touch $@

## aws-peer: moto (EC2 emulator, with boto3) in .venv, for the AWS plugin's tests
aws-peer: $(VENV)/.aws-installed

# `python -m pip`, not `bin/pip`: pip's script names the interpreter it was installed with, so a
# copied .venv (a second worktree) would install into the original one.
$(VENV)/.webhooks-installed: scripts/requirements-webhooks.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-webhooks.txt
	touch $@

## webhooks-peer: the stock Standard Webhooks verifier (standardwebhooks) in .venv, for the webhook tests
webhooks-peer: $(VENV)/.webhooks-installed

$(VENV)/.prices-installed: scripts/requirements-prices.txt
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-prices.txt
	touch $@

## ec2-prices: regenerate crates/aws/data/ec2-linux-prices.json from Apache Libcloud's price data
ec2-prices: $(VENV)/.prices-installed
	$(VENV)/bin/python scripts/ec2-prices.py

PY_PLUGIN := examples/plugins/inventory
$(VENV)/.python-plugin-installed: $(PY_PLUGIN)/requirements.txt
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(PY_PLUGIN)/requirements.txt
	touch $@

## python-plugin: the Python example plugin's packages and its stubs, generated from proto/
python-plugin: $(VENV)/.python-plugin-installed
	mkdir -p $(PY_PLUGIN)/generated
	$(VENV)/bin/python -m grpc_tools.protoc -I proto --python_out=$(PY_PLUGIN)/generated \
		--grpc_python_out=$(PY_PLUGIN)/generated proto/nephele/provider/v1/provider.proto

$(VENV)/.installed: scripts/requirements-conformance.txt
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-conformance.txt
	touch $@

## conformance: check dosim against DigitalOcean's OpenAPI documents with schemathesis
conformance: $(VENV)/.installed
	$(CARGO) build -p dosim
	$(VENV)/bin/python scripts/conformance.py target/debug/dosim $(SPECS)

## api-conformance: schemathesis against Nephele's own API and its /api/v1/openapi.json
api-conformance: $(VENV)/.installed
	$(CARGO) build -p nephele -p dosim
	$(VENV)/bin/python scripts/api-conformance.py target/debug/nephele target/debug/dosim

## browser: the dashboard in Debian's headless Chromium, driven by playwright-core (npm; it
## downloads no browser); screenshots in target/browser/
browser: plugins
	scripts/ensure-debian.sh chromium chromium chromium-driver
	cd tests/browser && npm ci --no-audit --no-fund --silent
	$(CARGO) build -p nephele -p dosim
	cd tests/browser && node --test --test-concurrency=1 dashboard.test.mjs fleet.test.mjs spend.test.mjs

## openapi: rewrite docs/openapi.json from the served document (commit the diff)
openapi:
	NEPHELE_UPDATE_OPENAPI=1 $(CARGO) $(NEXTEST) -p nephele-server --test api -E 'test(the_served_document_is_the_committed_one)'

$(VENV)/.bench-installed: scripts/requirements-bench.txt
	test -x $(VENV)/bin/pip || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-bench.txt
	touch $@

## bench: the benchmark table (release build against dosim; Libcloud, /healthz and in-process
## baselines measured in the same run), written to BENCHMARKS.md; then the DigitalOcean client's own bench
bench: $(VENV)/.bench-installed aws-peer
	scripts/ensure-debian.sh wrk wrk
	$(CARGO) build --release -p nephele -p dosim
	$(CARGO) build --release -p nephele-digitalocean --features plugin --bin nephele-provider-digitalocean
	$(CARGO) build --release -p nephele-aws --features plugin --bin nephele-provider-aws
	$(VENV)/bin/python scripts/bench.py --target-dir target/release --markdown BENCHMARKS.md
	$(CARGO) bench -p nephele-digitalocean --bench list_droplets

## lint: formatting and clippy, warnings as errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --features nephele-digitalocean/plugin,nephele-aws/plugin -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf $(VENV)
