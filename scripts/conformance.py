#!/usr/bin/env python3
"""Checks dosim against DigitalOcean's OpenAPI documents with schemathesis.

For each document given, starts the simulator binary on a free port (on a simulated clock, so
that a month can close), seeds the objects the spec gives no way to discover (a droplet with an
action, a tag, and for the resources document a volume, snapshots, a firewall, a reserved IP, a
VPC, a project, a tag, a spare of each to delete, and a closed month's invoice), then
lets schemathesis generate requests for every operation and check every answer: status codes,
content types, headers and bodies against the spec, no 5xx for any input, and schema-invalid
input refused with a 4xx.

Usage: conformance.py PATH_TO_DOSIM_BINARY SPEC [SPEC ...] [--max-examples N] [--seed S]
Exit status: 0 when every check passed for every document.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "conformance-token"

# The simulated clock starts an hour before a month ends; once the objects are seeded it moves two
# hours on, so that the month is closed and invoiced (with its items) for the
# invoice operations to be pinned to.
CLOCK_START = "2026-03-31T23:00:00Z"


def call(base, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def droplet(base, name, tags, region="nyc3"):
    created = call(base, "POST", "/v2/droplets", {
        "name": name, "size": "s-1vcpu-1gb", "region": region, "image": "ubuntu-24-04-x64", "tags": tags,
    })
    return created["droplet"]["id"], created["links"]["actions"][0]["id"]


def wait_active(base, droplet_id):
    for _ in range(100):
        if call(base, "GET", f"/v2/droplets/{droplet_id}")["droplet"]["status"] == "active":
            return
        time.sleep(0.05)
    raise RuntimeError(f"droplet {droplet_id} never became active")


def seed_droplets(base):
    """Objects whose ids schemathesis cannot learn from the spec (its links were removed)."""
    droplet_id, action_id = droplet(base, "conformance-1", ["conformance"])
    # A second droplet for DELETE /v2/droplets?tag_name= to destroy, so the first one survives.
    droplet(base, "conformance-doomed", ["conformance-doomed"])
    # And one for DELETE /v2/droplets/{id}, which would otherwise pick ids it has seen in answers
    # (the first one's among them).
    doomed, _ = droplet(base, "conformance-doomed-by-id", [])
    return {"droplet": droplet_id, "droplet_action": action_id, "droplet_doomed": doomed}


def seed_resources(base, ids):
    """One of each resource to read and change, and a spare of each for the deletes: schemathesis
    also sends ids it has seen in answers, so an unpinned DELETE would soon remove the very
    objects the other operations are pinned to."""
    def volume(name):
        return call(base, "POST", "/v2/volumes", {"name": name, "size_gigabytes": 10, "region": "nyc3"})["volume"]["id"]

    def key(name, body):
        return call(base, "POST", "/v2/account/keys", {
            "name": name, "public_key": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{body} {name}"})["ssh_key"]["id"]

    def firewall(name):
        return call(base, "POST", "/v2/firewalls", {
            "name": name,
            "inbound_rules": [{"protocol": "tcp", "ports": "22", "sources": {"addresses": ["0.0.0.0/0"]}}],
        })["firewall"]["id"]

    ids["ssh_key"] = key("conformance", "ConformanceKeyOne")
    ids["ssh_key_doomed"] = key("conformance-doomed", "ConformanceKeyTwo")
    wait_active(base, ids["droplet"])
    ids["volume"] = volume("conformance")
    ids["volume_action"] = call(base, "POST", f"/v2/volumes/{ids['volume']}/actions",
                                {"type": "attach", "droplet_id": ids["droplet"]})["action"]["id"]
    ids["volume_doomed"] = volume("conformance-doomed")
    volume("conformance-doomed-by-name")
    snapshot = lambda name: call(base, "POST", f"/v2/volumes/{ids['volume']}/snapshots", {"name": name})["snapshot"]["id"]
    ids["volume_snapshot"] = snapshot("conformance")
    ids["volume_snapshot_doomed"] = snapshot("conformance-doomed")
    ids["snapshot_doomed"] = snapshot("conformance-doomed-too")
    call(base, "POST", f"/v2/droplets/{ids['droplet']}/actions", {"type": "snapshot", "name": "conformance"})
    ids["droplet_snapshot"] = call(base, "GET", f"/v2/droplets/{ids['droplet']}/snapshots")["snapshots"][0]["id"]
    ids["image_doomed"] = call(base, "POST", "/v2/images", {
        "name": "conformance-doomed", "url": "https://example.com/doomed.img", "region": "nyc3"})["image"]["id"]
    ids["firewall"] = firewall("conformance")
    ids["firewall_doomed"] = firewall("conformance-doomed")
    ip = lambda: call(base, "POST", "/v2/reserved_ips", {"region": "nyc3"})["reserved_ip"]["ip"]
    ids["reserved_ip"] = ip()
    ids["reserved_ip_doomed"] = ip()
    ids["reserved_ip_action"] = call(base, "POST", f"/v2/reserved_ips/{ids['reserved_ip']}/actions",
                                     {"type": "assign", "droplet_id": ids["droplet"]})["action"]["id"]
    vpc = lambda name: call(base, "POST", "/v2/vpcs", {"name": name, "region": "nyc3"})["vpc"]["id"]
    ids["vpc"] = vpc("conformance")
    ids["vpc_doomed"] = vpc("conformance-doomed")
    project = lambda name: call(base, "POST", "/v2/projects", {"name": name, "purpose": "IoT"})["project"]["id"]
    ids["project"] = project("conformance")
    ids["project_doomed"] = project("conformance-doomed")
    call(base, "POST", "/v2/tags", {"name": "conformance-tag"})
    call(base, "POST", "/v2/tags", {"name": "conformance-tag-doomed"})
    # Droplets to destroy with their associated resources, and one destroyed already, so that
    # its destroy has a status to read and retry.
    ids["selective"], _ = droplet(base, "conformance-selective", [])
    ids["dangerous"], _ = droplet(base, "conformance-dangerous", [])
    ids["destroyed"], _ = droplet(base, "conformance-destroyed", [])
    call(base, "DELETE", f"/v2/droplets/{ids['destroyed']}/destroy_with_associated_resources/dangerous",
         headers={"X-Dangerous": "true"})
    # Close the month: everything above is on March's invoice.
    request = urllib.request.Request(base + "/_sim/clock", data=json.dumps({"advance_secs": 7200}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()
    ids["invoice"] = call(base, "GET", "/v2/customers/my/invoices")["invoices"][0]["invoice_uuid"]
    return ids


# Settings for single operations; schemathesis applies only the first `[[operations]]` entry
# that matches an operation, so each operation gets exactly one entry with all of its own.
CHECK_SETTINGS = {
    # The action body is an `anyOf` of eight schemas that all accept `{"type": ...}` plus any
    # other fields. Schemathesis "breaks" one branch (say `image` of `restore`) and expects a
    # 4xx, but the result still matches another branch (`shutdown` with a stray `image`), so it
    # is valid and DigitalOcean accepts it. Negative-data rejection cannot be judged there;
    # every other check runs.
    "dropletActions_post": "checks.negative_data_rejection.enabled = false",
    # Statuses the spec documents for these operations on valid input: a project that still
    # holds resources (or is the default) is not deleted, 412; an image id that names no
    # snapshot, 400.
    "projects_delete": 'checks.positive_data_acceptance.expected-statuses = ["2xx", 401, 403, 404, 409, 412, 422, 429]',
    "snapshots_get": 'checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]',
    "snapshots_delete": 'checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]',
}


def pins(ids, resources):
    """Path and query values for operations schemathesis could otherwise only guess."""
    pinned = [
        (["dropletActions_get", "dropletActions_list", "droplets_get"],
         {"path.droplet_id": ids["droplet"], "path.action_id": ids["droplet_action"]}),
        (["dropletActions_post"], {"path.droplet_id": ids["droplet"]}),
        (["droplets_destroy_byTag"], {"query.tag_name": "conformance-doomed"}),
        (["droplets_destroy"], {"path.droplet_id": ids["droplet_doomed"]}),
    ]
    if not resources:
        return pinned
    return pinned + [
        (["sshKeys_get", "sshKeys_update"], {"path.ssh_key_identifier": ids["ssh_key"]}),
        (["volumes_get", "volumeActions_list", "volumeActions_post_byId", "volumeSnapshots_list",
          "volumeSnapshots_create"], {"path.volume_id": ids["volume"]}),
        (["volumeActions_get"], {"path.volume_id": ids["volume"], "path.action_id": ids["volume_action"]}),
        (["volumeSnapshots_get_byId"], {"path.snapshot_id": ids["volume_snapshot"]}),
        (["snapshots_get"], {"path.snapshot_id": ids["droplet_snapshot"]}),
        (["droplets_list_snapshots", "droplets_list_backups", "droplets_list_associatedResources"],
         {"path.droplet_id": ids["droplet"]}),
        (["droplets_get_DestroyAssociatedResourcesStatus", "droplets_destroy_retryWithAssociatedResources"],
         {"path.droplet_id": ids["destroyed"]}),
        (["firewalls_get", "firewalls_update", "firewalls_assign_droplets", "firewalls_delete_droplets",
          "firewalls_add_tags", "firewalls_delete_tags", "firewalls_add_rules", "firewalls_delete_rules"],
         {"path.firewall_id": ids["firewall"]}),
        (["reservedIPs_get", "reservedIPsActions_list", "reservedIPsActions_post"],
         {"path.reserved_ip": ids["reserved_ip"]}),
        (["reservedIPsActions_get"], {"path.reserved_ip": ids["reserved_ip"], "path.action_id": ids["reserved_ip_action"]}),
        (["vpcs_get", "vpcs_update", "vpcs_patch", "vpcs_list_members"], {"path.vpc_id": ids["vpc"]}),
        (["projects_get", "projects_update", "projects_patch", "projects_list_resources",
          "projects_assign_resources"], {"path.project_id": ids["project"]}),
        (["tags_get", "tags_assign_resources", "tags_unassign_resources"], {"path.tag_id": "conformance-tag"}),
        # Each delete has a spare of its own (see seed_resources).
        (["droplets_destroy_withAssociatedResourcesSelective"], {"path.droplet_id": ids["selective"]}),
        (["droplets_destroy_withAssociatedResourcesDangerous"], {"path.droplet_id": ids["dangerous"]}),
        (["images_delete"], {"path.image_id": ids["image_doomed"]}),
        (["sshKeys_delete"], {"path.ssh_key_identifier": ids["ssh_key_doomed"]}),
        (["volumes_delete"], {"path.volume_id": ids["volume_doomed"]}),
        (["volumes_delete_byName"], {"query.name": "conformance-doomed-by-name", "query.region": "nyc3"}),
        (["volumeSnapshots_delete_byId"], {"path.snapshot_id": ids["volume_snapshot_doomed"]}),
        (["snapshots_delete"], {"path.snapshot_id": ids["snapshot_doomed"]}),
        (["firewalls_delete"], {"path.firewall_id": ids["firewall_doomed"]}),
        (["reservedIPs_delete"], {"path.reserved_ip": ids["reserved_ip_doomed"]}),
        (["vpcs_delete"], {"path.vpc_id": ids["vpc_doomed"]}),
        (["projects_delete"], {"path.project_id": ids["project_doomed"]}),
        (["tags_delete"], {"path.tag_id": "conformance-tag-doomed"}),
        (["invoices_get_byUUID", "invoices_get_summaryByUUID"], {"path.invoice_uuid": ids["invoice"]}),
    ]


def config_text(ids, resources, pinned):
    # positive_data_acceptance: a schema-valid request may still break one of DigitalOcean's
    # business rules (an unknown SSH key, a droplet busy with another action, an empty tag), and
    # the real API answers those 422. Everything else in that check stays as schemathesis has it.
    #
    # Every check is on (`enabled = true` here rather than `--checks all`, which would also
    # override the per-operation exceptions below: a check named on the command line wins).
    text = """
[checks]
enabled = true

[checks.positive_data_acceptance]
expected-statuses = ["2xx", 401, 403, 404, 409, 422, 429]
"""
    parameters = {}
    if pinned:
        for operations, values in pins(ids, resources):
            for operation in operations:
                parameters[operation] = values
    for operation in sorted(set(parameters) | set(CHECK_SETTINGS)):
        text += f'\n[[operations]]\ninclude-operation-id = "{operation}"\n'
        if operation in parameters:
            values = ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in parameters[operation].items())
            text += f"parameters = {{ {values} }}\n"
        if operation in CHECK_SETTINGS:
            text += CHECK_SETTINGS[operation] + "\n"
    return text


def schemathesis(base, spec, args, config_toml, phases, resources):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "schemathesis.toml")
        with open(config, "w") as f:
            f.write(config_toml)
        command = [
            os.path.join(os.path.dirname(sys.executable), "schemathesis"),
            "--config-file", config, "run", os.path.abspath(spec), "--url", base,
            "-H", f"Authorization: Bearer {TOKEN}",
            "--max-examples", str(args.max_examples), "--phases", phases,
            "--seed", str(args.seed), "--workers", "2", "--no-color",
        ]
        print("+", " ".join(command), flush=True)
        return subprocess.call(command, cwd=tmp)


def run(dosim, spec, args):
    resources = "resources" in os.path.basename(spec)
    sim = subprocess.Popen(
        [dosim, "--listen", "127.0.0.1:0", "--token", TOKEN, "--droplets", "30", "--clock", CLOCK_START,
         "--boot-ms", "100", "--rate-per-minute", "1000000", "--rate-per-hour", "1000000",
         "--ssh-keys-rate-per-minute", "1000000"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        banner = sim.stdout.readline()
        if "listening on" not in banner:
            print(f"dosim did not start: {banner!r}", file=sys.stderr)
            return 1
        base = "http://" + banner.split("listening on ")[1].split()[0]
        ids = seed_droplets(base)
        if resources:
            ids = seed_resources(base, ids)
        # Seeded ids are pinned for the examples, coverage and fuzzing phases, which would
        # otherwise meet only 404s. The stateful phase runs on its own, following links alone: a
        # pinned object removed by a linked DELETE would look to it like a just-made resource
        # gone missing.
        status = 0
        for phases, pinned in (("examples,coverage,fuzzing", True), ("stateful", False)):
            status |= schemathesis(base, spec, args, config_text(ids, resources, pinned), phases, resources)
        return status
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dosim")
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("CONFORMANCE_EXAMPLES", "40")))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("CONFORMANCE_SEED", "20261128")))
    args = parser.parse_args()
    failed = 0
    for spec in args.specs:
        started = time.monotonic()
        status = run(args.dosim, spec, args)
        print(f"conformance: {os.path.basename(spec)}: exit {status} in {time.monotonic() - started:.0f} s", flush=True)
        failed += status != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
