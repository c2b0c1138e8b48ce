#!/usr/bin/env python3
"""Fuzzes Nephele's own API against its own OpenAPI document with schemathesis.

Starts dosim (standing in for DigitalOcean) and `nephele serve` with API keys required, makes
an admin key with `nephele keys create`, then lets schemathesis generate requests for every
operation in /api/v1/openapi.json and check every answer: no 5xx for any input, status codes,
content types, headers and bodies as the document says, schema-invalid input refused with a
4xx, and requests without the key refused.

Usage: api-conformance.py NEPHELE DOSIM [--max-examples N] [--seed S]
Exit status is schemathesis's: 0 when every check passed. The figures (operations, requests,
failures) are in its summary.
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

from harness import Dosim, Nephele


def check_document(base):
    """The served document is valid OpenAPI 3.1 (the validator's own schema, not ours)."""
    from openapi_spec_validator import OpenAPIV31SpecValidator

    with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=10) as response:
        document = json.loads(response.read())
    OpenAPIV31SpecValidator(document).validate()
    operations = sum(
        1 for item in document["paths"].values() for method in item if method in ("get", "post", "delete"))
    print(f"openapi.json: valid OpenAPI {document['openapi']}: {len(document['paths'])} paths, "
          f"{operations} operations, {len(document['components']['schemas'])} schemas", flush=True)


# Path parameters schemathesis cannot guess: the configured provider, so that each operation is
# exercised past the provider lookup (random names only ever meet a 404).
#
# positive_data_acceptance, for the operations whose input is judged against the provider's live
# catalogue or its own id format: a schema-valid instance type, region, image or instance id may
# still not exist at the provider (the document cannot list a cloud's catalogue), and Nephele
# answers that 422 `invalid_input` naming the field, with close matches. Every other operation
# must accept every schema-valid request.
#
# negative_data_rejection also takes 413: a schema-violating body too large for
# `server.max_body_bytes` is refused before it is read.
SCHEMATHESIS_CONFIG = r"""
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]

[[operations]]
include-path-regex = '\{provider\}'
parameters = { "path.provider" = "digitalocean" }

[[operations]]
include-operation-id = ["instances_create", "costs_estimate", "instances_delete", "instances_act", "instances_get"]

parameters = { "path.provider" = "digitalocean" }
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]

# A key's `providers` must name configured providers, which the document cannot list.
[[operations]]
include-operation-id = "keys_create"
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]

# Input judged at run time against the provider or the server's own state, which no schema can
# carry: a resource's ids and regions at the cloud, an Idempotency-Key already used for another
# request, an opaque `cursor` the API must have given out, credentials tried at the cloud, a key
# file on the server, a webhook URL whose host must resolve to public addresses, an event id
# (`after`, `Last-Event-ID`) that must name an event this server wrote, an account defined in the
# configuration file (changed there: a PATCH of it is 409 `account_in_file`).
[[operations]]
include-operation-id = ["resources_create", "resources_act", "resources_delete", "resources_get",
                        "resources_list", "resources_fleet", "instances_list", "instances_fleet",
                        "providers_create", "providers_update", "secrets_rotate", "webhooks_create",
                        "events_list", "events_stream"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]

# Rules between fields, which no schema can carry: the cost history's `from` must be before its
# `to`, the span at most 10,000 periods of its `step`, and a date's day must exist in its month
# (2026-02-30 has the document's shape). Every field's own rules are in the document (`step`'s
# enum, `group_by`'s and `from`/`to`'s patterns), and the API refuses exactly what they refuse.
[[operations]]
include-operation-id = ["costs_history", "costs_history_csv"]
checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("nephele")
    parser.add_argument("dosim")
    parser.add_argument("--max-examples", type=int,
                        default=int(os.environ.get("API_CONFORMANCE_EXAMPLES", "15")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("API_CONFORMANCE_SEED", "20261129")))
    args = parser.parse_args()

    sim = Dosim(os.path.abspath(args.dosim), droplets=30, boot_ms=100)
    server = None
    try:
        # A master key, so that the operations that keep a secret (webhooks, runtime accounts)
        # are exercised rather than refused for want of one.
        master_key = base64.b64encode(os.urandom(32)).decode()
        server = Nephele(os.path.abspath(args.nephele), sim.url, f"secrets:\n  master_key: {master_key}\n",
                         auth_required=True)
        key = server.make_key("admin")
        base = f"http://127.0.0.1:{server.port}"
        server.wait_ready()
        check_document(base)
        with tempfile.TemporaryDirectory() as tmp:
            settings = os.path.join(tmp, "schemathesis.toml")
            with open(settings, "w") as f:
                f.write(SCHEMATHESIS_CONFIG)
            command = [
                os.path.join(os.path.dirname(sys.executable), "schemathesis"),
                "--config-file", settings, "run", base + "/api/v1/openapi.json",
                "-H", f"Authorization: Bearer {key}",
                "--checks", "all", "--max-examples", str(args.max_examples),
                # One worker: with two threads, hypothesis on CPython 3.11 sometimes fails inside `ast`
                # ("AST constructor recursion depth mismatch"), an error of the tool, not of the API.
                "--seed", str(args.seed), "--workers", "1", "--no-color",
            ]
            print("+", " ".join(c if not c.startswith("Authorization") else "Authorization: Bearer ***"
                                for c in command), flush=True)
            status = subprocess.call(command, cwd=tmp)
        if status != 0:
            print("--- the server's last log lines ---\n" + server.log_tail(), file=sys.stderr)
        return status
    finally:
        if server is not None:
            server.stop()
        sim.stop()

if __name__ == "__main__":
    sys.exit(main())
