"""Finding 2: numbers from the cloud panic the server.

Prices near Decimal::MAX, negative prices and prices no decimal holds, from DigitalOcean (a
tampering proxy in front of dosim rewrites /v2/sizes) and from a plugin (the Python example
plugin with its price list and minimum charge swapped), and a huge minimum charge from the
plugin. For each: an estimate, GET /api/v1/costs and GET /metrics, with their statuses; a
dropped connection counts as status 0, and the log must hold no panic.
"""

import datetime
import json
import os

from harness import Dosim, NepheleProviders, TamperingProxy, TOKEN, request

GROUP = "2. numbers from the cloud"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DECIMAL_MAX = "79228162514264337593543950335"

# (what, size field, JSON value) for DigitalOcean's /v2/sizes.
DIGITALOCEAN = [
    ("price_hourly near Decimal::MAX", "price_hourly", 7.9e28),
    ("price_monthly near Decimal::MAX", "price_monthly", 7.9e28),
    ("price_hourly -10", "price_hourly", -10.0),
    ("price_hourly 1e300 (past a decimal)", "price_hourly", 1e300),
]

# (what, small's hourly, small's monthly, minimum charge) for the plugin.
PLUGIN = [
    ("price_hourly Decimal::MAX", DECIMAL_MAX, "6.72", "0"),
    ("price_hourly -10", "-10", "6.72", "0"),
    ("minimum_charge Decimal::MAX", "0.01", "6.72", DECIMAL_MAX),
]


def status_of(port, method, path, body=None):
    """The status of one request; 0 when the connection was dropped (a panic)."""
    try:
        return request(port, method, path, body, timeout=60)[0]
    except OSError:
        return 0


def probe(server, provider, estimate):
    server.wait_ready()
    return (status_of(server.port, "POST", f"/api/v1/providers/{provider}/cost-estimate", estimate),
            status_of(server.port, "GET", "/api/v1/costs"),
            status_of(server.port, "GET", "/metrics"))


def row(what, statuses, server):
    panicked = "panicked" in server.log_text()
    figure = "/".join(str(s) for s in statuses) + (", panic" if panicked else "")
    ok = statuses == (502, 200, 200) and not panicked and server.alive()
    return (what, figure, "502/200/200", ok)


def fake_plugin(work, hourly, monthly, minimum):
    """The example inventory plugin with `small` priced at `hourly`/`monthly` and `minimum` as its
    minimum charge; a program the host can start."""
    script = os.path.join(work, "fake_plugin.py")
    with open(script, "w") as f:
        f.write(f"""import sys
sys.path.insert(0, {os.path.join(REPO, "examples", "plugins", "inventory")!r})
import plugin
plugin.TYPES = [("small", 1, 1024, 25, {hourly!r}, {monthly!r}), ("large", 4, 8192, 160, "0.08", "53.76")]
original = plugin.Provider.GetBillingPolicy
def policy(self, request, context):
    answer = original(self, request, context)
    answer.minimum_charge = {minimum!r}
    return answer
plugin.Provider.GetBillingPolicy = policy
plugin.serve(plugin.Provider())
""")
    program = os.path.join(work, "nephele-provider-fake")
    with open(program, "w") as f:
        f.write(f"#!/bin/sh\nexec {os.path.join(REPO, '.venv', 'bin', 'python')} {script} \"$@\"\n")
    os.chmod(program, 0o755)
    inventory = os.path.join(work, "inventory.json")
    month = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-01T00:00:00Z")
    record = {"id": "i-1", "name": "web", "status": 2, "type": "small", "region": "lab1", "image": "debian-12",
              "tags": [], "created_at": month}
    with open(inventory, "w") as f:
        json.dump({"instances": [record, dict(record, id="i-2", name="db")], "actions": []}, f)
    return program, inventory


def run(env):
    rows = []
    dosim = Dosim(env.binary("dosim"), droplets=3)
    proxy = TamperingProxy(dosim.url)
    estimate = {"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1mo"}
    try:
        for what, field, value in DIGITALOCEAN:
            def rewrite(method, path, status, body, field=field, value=value):
                if path.startswith("/v2/sizes") and status == 200:
                    page = json.loads(body)
                    for size in page["sizes"]:
                        size[field] = value
                    return json.dumps(page).encode()
                return body
            proxy.after = rewrite
            server = NepheleProviders(env.binary("nephele"), f"""  digitalocean:
    api_token: {TOKEN}
    region: nyc1
    base_url: {proxy.url}
    rate_limit_per_minute: 100000000
    rate_limit_per_hour: 1000000000
""", directory=env.scratch(f"g02-do-{field}-{value}"))
            try:
                rows.append(row(f"DigitalOcean {what}: estimate/costs/metrics", probe(server, "digitalocean", estimate),
                                server))
            finally:
                server.stop()
    finally:
        proxy.stop()
        dosim.stop()

    estimate = {"instance_type": "small", "region": "lab1", "duration": "1mo"}
    for number, (what, hourly, monthly, minimum) in enumerate(PLUGIN):
        work = env.scratch(f"g02-plugin-{number}")
        program, inventory = fake_plugin(work, hourly, monthly, minimum)
        server = NepheleProviders(env.binary("nephele"), f"""  inventory:
    plugin: {program}
    inventory_file: {inventory}
""", directory=work)
        try:
            rows.append(row(f"plugin {what}: estimate/costs/metrics", probe(server, "inventory", estimate), server))
        finally:
            server.stop()
    return rows
