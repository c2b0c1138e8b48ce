#!/usr/bin/env python3
"""Nephele's benchmark table: `make bench` runs this after building the release binaries.

Every figure is measured in this run against a baseline measured in the same run, and printed
with its target. It starts `dosim` and a release `nephele serve`, and measures:

1. a cold list of 10,000 droplets at 100 ms upstream latency, through Nephele's HTTP API, against
   Apache Libcloud's DigitalOcean driver pointed at the same simulator (wall time, requests);
2. warm lists (100 and 10,000 instances, and a filtered one) and cost estimates under 64
   connections with wrk, every request with an API key as in production, against `/healthz`
   of the same process as the ceiling;
3. resident memory idle and with 100,000 instances, and start to `/readyz` green on SQLite;
4. recovery: from a restart after `kill -9` to every operation left behind being resumed;
5. the plugin boundary: the cold 10,000-droplet list and a single get with DigitalOcean as the
   `nephele-provider-digitalocean` plugin, against the same with DigitalOcean in process (both
   against dosim at 0 ms latency, measured alternately in this run);
6. a flood of 100,000 random wrong keys: resident memory before and after;
7. webhooks: events written at 100 a second (API keys made through the API), each delivered to
   a local receiver; the time from an event's `time` to its first attempt's arrival, p50 and p99.
8. budgets: 100 budgets (scoped by tag, region, period) over 10,000 instances, evaluated on every
   change of the inventory: the engine's own timing of each round (`/metrics`), after creates.
9. resources at scale: 10,000 droplets, 5,000 volumes, 2,000 snapshots and 1,000 reserved IPs
   against dosim's own rate limits: a full refresh (its requests against the refreshes' share),
   the waste report from memory (p50 of 200), resident memory.
10. accounts at scale: 100 DigitalOcean accounts of 100 droplets each on one dosim, start to
   `/readyz` green with all 10,000 listed, and resident memory, against one account; 20 AWS
   accounts (the plugin) against moto, resident memory of the server and its plugin processes
   together, against one.

The table is printed and written to BENCHMARKS.md (with date, machine and command).
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import TOKEN, Dosim, Moto, Nephele, NepheleProviders, free_port, memory_kb, request  # noqa: E402

LIST = "/api/v1/providers/digitalocean/instances"
rows = []


def row(what, figure, baseline, ratio, target, ok):
    rows.append((what, figure, baseline, ratio, target, "ok" if ok else "MISSED"))
    print(f"  {what}: {figure} (baseline {baseline}, {ratio}) target {target}: {'ok' if ok else 'MISSED'}", flush=True)


def row_against_ceiling(what, measured, ceiling, share=0.5):
    """A throughput row: `measured` is wrk's (rate, p50, p99); target `share` of the ceiling."""
    rate, p50, p99 = measured
    row(what, f"{rate:.0f} req/s", f"{ceiling:.0f} req/s",
        f"{rate / ceiling:.0%} of ceiling; p50 {p50:.2f} ms, p99 {p99:.2f} ms", f">= {share:.0%}", rate >= share * ceiling)


def timed(action):
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def libcloud_list(port):
    """Seconds for Libcloud's DigitalOcean driver to list every droplet, and how many it saw."""
    from libcloud.compute.providers import Provider, get_driver

    driver = get_driver(Provider.DIGITAL_OCEAN)(TOKEN, api_version="v2")
    # The v2 driver drops host/port/secure from its constructor and connects at once: point its
    # connection at the simulator over plain HTTP and connect again.
    driver.connection.host, driver.connection.port, driver.connection.secure = "127.0.0.1", port, False
    driver.connection.connect()
    seconds, nodes = timed(driver.list_nodes)
    return seconds, len(nodes)


def wrk(port, path, connections=64, seconds=5, method="GET", body=None, key=None):
    """(requests per second, p50 ms, p99 ms) from wrk; with `key`, every request carries it, as in
    production (keys are required everywhere but the probes)."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}{path}"]
    if key:
        command[1:1] = ["-H", f"Authorization: Bearer {key}"]
    script = None
    if method != "GET":
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        escaped = body.replace('"', '\\"')
        script.write(f'wrk.method = "{method}"\nwrk.body = "{escaped}"\nwrk.headers["Content-Type"] = "application/json"\n')
        script.close()
        command[1:1] = ["-s", script.name]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))

    def percentile(p):
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    if re.search(r"Non-2xx or 3xx responses", output):
        raise RuntimeError(f"wrk saw errors on {path}:\n{output}")
    return rate, percentile(50), percentile(99)


def cold_list(args):
    print("1. cold list of 10,000 droplets at 100 ms latency", flush=True)
    sim = Dosim(args.dosim, droplets=10_000, latency_ms=100)
    nephele = Nephele(args.nephele, sim.url, "inventory:\n  max_age_secs: 3600\n", auth_required=True)
    key = nephele.make_key("viewer")
    auth = {"Authorization": f"Bearer {key}"}
    try:
        nephele.wait_ready()
        runs = []
        for i in range(3):
            before = sim.requests("droplets_list")
            # The first list after start is cold; later ones are made cold with ?fresh=true.
            seconds, (status, body) = timed(
                lambda: request(nephele.port, "GET", LIST + ("" if i == 0 else "?fresh=true"), headers=auth))
            assert status == 200 and len(body["instances"]) == 10_000, (status, len(body["instances"]))
            runs.append((seconds, sim.requests("droplets_list") - before))
        ours = statistics.median(s for s, _ in runs)
        our_requests = max(r for _, r in runs)
        before = sim.requests("droplets_list")
        theirs, seen = libcloud_list(sim.port)
        their_requests = sim.requests("droplets_list") - before
        assert seen == 10_000, seen
        ratio = theirs / ours
        row("cold list, 10,000 droplets, 100 ms latency: wall time", f"{ours * 1000:.0f} ms", f"Libcloud {theirs * 1000:.0f} ms",
            f"{ratio:.1f}x faster", ">= 20x", ratio >= 20)
        row("cold list: upstream requests", our_requests, f"Libcloud {their_requests}", f"{their_requests / our_requests:.1f}x fewer" if our_requests else "-",
            "exactly 50", our_requests == 50)
        sim.faults(latency_ms=0)
        request(nephele.port, "GET", LIST + "?fresh=true", headers=auth)
        ceiling, c50, c99 = wrk(nephele.port, "/healthz")
        row("ceiling: /healthz, 64 connections", f"{ceiling:.0f} req/s", "-", f"p50 {c50:.2f} ms, p99 {c99:.2f} ms", "-", True)
        name = request(nephele.port, "GET", LIST, headers=auth)[1]["instances"][4242]["name"]
        row_against_ceiling("warm filtered list of 10,000 (one match), 64 connections, with a key",
                            wrk(nephele.port, f"{LIST}?name={name}", key=key), ceiling, share=0.6)
        estimate = '{"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "1d"}'
        row_against_ceiling("cost estimate, 64 connections, with a key",
                            wrk(nephele.port, "/api/v1/providers/digitalocean/cost-estimate", method="POST", body=estimate,
                                key=key),
                            ceiling, share=0.6)
        rate, p50, p99 = wrk(nephele.port, LIST, connections=64, seconds=8, key=key)
        row("warm full list of 10,000, 64 connections", f"p50 {p50:.1f} ms", f"{ceiling:.0f} req/s",
            f"{rate:.1f} req/s, p99 {p99:.1f} ms", "p50 < 50 ms", p50 < 50)
        rate, p50, p99 = wrk(nephele.port, LIST, connections=1, seconds=5, key=key)
        row("warm full list of 10,000, 1 connection", f"p50 {p50:.1f} ms", "-", f"{rate:.1f} req/s, p99 {p99:.1f} ms", "-", True)
    finally:
        nephele.stop()
        sim.stop()


def plugin_overhead(args):
    print("5. the plugin boundary: DigitalOcean out of process against in process", flush=True)
    sim = Dosim(args.dosim, droplets=10_000, latency_ms=0)
    builtin = Nephele(args.nephele, sim.url, "inventory:\n  max_age_secs: 3600\n")
    plugin = Nephele(args.nephele, sim.url, "inventory:\n  max_age_secs: 3600\n", plugin=args.plugin)
    try:
        builtin.wait_ready()
        plugin.wait_ready()
        lists = {"in process": [], "plugin": []}
        for _ in range(7):
            for name, server in (("in process", builtin), ("plugin", plugin)):
                seconds, (status, body) = timed(lambda: request(server.port, "GET", LIST + "?fresh=true"))
                assert status == 200 and len(body["instances"]) == 10_000, (status, name)
                lists[name].append(seconds)
        ours, theirs = statistics.median(lists["plugin"]), statistics.median(lists["in process"])
        row("cold list of 10,000 through the plugin", f"{ours * 1000:.0f} ms", f"in process {theirs * 1000:.0f} ms",
            f"{ours / theirs:.2f}x", "<= 1.2x", ours <= 1.2 * theirs)
        droplet = request(builtin.port, "GET", LIST)[1]["instances"][77]["id"]
        gets = {"in process": [], "plugin": []}
        for _ in range(300):
            for name, server in (("in process", builtin), ("plugin", plugin)):
                seconds, (status, _) = timed(lambda: request(server.port, "GET", f"{LIST}/{droplet}"))
                assert status == 200, (status, name)
                gets[name].append(seconds)
        ours, theirs = statistics.median(gets["plugin"]), statistics.median(gets["in process"])
        added = (ours - theirs) * 1000
        row("one get through the plugin: added median latency", f"{added:+.2f} ms",
            f"in process {theirs * 1000:.2f} ms", f"plugin {ours * 1000:.2f} ms", "< 1 ms", added < 1.0)
    finally:
        plugin.stop()
        builtin.stop()
        sim.stop()


def small_fleet(args):
    print("2. warm list of 100 instances", flush=True)
    sim = Dosim(args.dosim, droplets=100)
    nephele = Nephele(args.nephele, sim.url, auth_required=True)
    key = nephele.make_key("viewer")
    try:
        nephele.wait_ready()
        request(nephele.port, "GET", LIST, headers={"Authorization": f"Bearer {key}"})
        ceiling, _, _ = wrk(nephele.port, "/healthz")
        row_against_ceiling("warm list of 100, 64 connections, with a key", wrk(nephele.port, LIST, key=key), ceiling)
    finally:
        nephele.stop()
        sim.stop()


def memory_and_start(args):
    print("3. memory and start-up", flush=True)
    sim = Dosim(args.dosim, droplets=0)
    starts = []
    for _ in range(5):
        nephele = Nephele(args.nephele, sim.url)
        starts.append(nephele.wait_ready())
        time.sleep(0.5)
        idle, _ = memory_kb(nephele.process.pid)
        nephele.stop()
    sim.stop()
    start = statistics.median(starts)
    row("start to /readyz green, SQLite (median of 5)", f"{start * 1000:.0f} ms", "-", "-", "< 200 ms", start < 0.2)
    row("resident memory, idle", f"{idle / 1024:.1f} MiB", "-", "-", "< 30 MiB", idle < 30 * 1024)
    sim = Dosim(args.dosim, droplets=100_000)
    nephele = Nephele(args.nephele, sim.url, "inventory:\n  max_age_secs: 3600\n")
    try:
        nephele.wait_ready()
        status, body = request(nephele.port, "GET", LIST + "?name=nothing-has-this-name")
        assert status == 200, status
        time.sleep(0.5)
        held, peak = memory_kb(nephele.process.pid)
        row("resident memory, 100,000 instances in the inventory", f"{held / 1024:.1f} MiB", "-", f"peak {peak / 1024:.1f} MiB",
            "< 300 MiB", held < 300 * 1024)
    finally:
        nephele.stop()
        sim.stop()


def wrong_keys(args):
    print("6. a flood of random wrong keys", flush=True)
    sim = Dosim(args.dosim, droplets=0)
    nephele = Nephele(args.nephele, sim.url, auth_required=True)
    key = nephele.make_key("viewer")
    try:
        nephele.wait_ready()
        request(nephele.port, "GET", LIST, headers={"Authorization": f"Bearer {key}"})
        time.sleep(0.5)
        before, _ = memory_kb(nephele.process.pid)
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        # Each request a new, well-formed, random key: nothing to find, nothing to keep.
        script.write(f'''math.randomseed(os.time())
request = function()
  local key = string.format("nph_%012x_%08x%08x%08x%08x", math.random(0, 2^40), math.random(0, 2^31),
    math.random(0, 2^31), math.random(0, 2^31), math.random(0, 2^31))
  return wrk.format("GET", "{LIST}", {{["Authorization"] = "Bearer " .. key}})
end
''')
        script.close()
        sent = 0
        while sent < 100_000:
            output = subprocess.run(["wrk", "-t2", "-c32", "-d5s", "-s", script.name, f"http://127.0.0.1:{nephele.port}{LIST}"],
                                    capture_output=True, text=True, check=True).stdout
            sent += int(re.search(r"(\d+) requests in", output).group(1))
        os.unlink(script.name)
        time.sleep(1.5)
        after, _ = memory_kb(nephele.process.pid)
        grown = (after - before) / 1024
        row(f"resident memory after {sent:,} random wrong keys", f"{grown:+.1f} MiB", f"before {before / 1024:.1f} MiB",
            f"after {after / 1024:.1f} MiB", "< 10 MiB", grown < 10)
        status, _ = request(nephele.port, "GET", LIST, headers={"Authorization": f"Bearer {key}"})
        assert status == 200, status
    finally:
        nephele.stop()
        sim.stop()


def recovery(args):
    print("4. recovery after kill -9", flush=True)
    sim = Dosim(args.dosim, droplets=0, boot_ms=3000, latency_ms=50)
    nephele = Nephele(args.nephele, sim.url)
    try:
        nephele.wait_ready()
        operations = []
        for i in range(30):
            status, body = request(nephele.port, "POST", LIST,
                                   {"name": f"storm-{i}", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64"})
            assert status == 202, (status, body)
            operations.append(body["operation_id"])
        nephele.kill_hard()
        sim.faults(latency_ms=0)
        nephele.start()
        restarted = time.monotonic()
        while True:
            ops = request(nephele.port, "GET", "/api/v1/operations?limit=100")[1]["operations"]
            unfinished = [o for o in ops if o["id"] in operations and o["state"] in ("pending", "running")]
            if not unfinished:
                break
            time.sleep(0.05)
        took = time.monotonic() - restarted
        droplets = request(sim.port, "GET", "/v2/droplets?per_page=200", headers={"Authorization": f"Bearer {TOKEN}"})[1]
        names = sorted(d["name"] for d in droplets["droplets"])
        assert names == sorted(f"storm-{i}" for i in range(30)), names
        row("restart after kill -9 to all 30 operations left behind finished", f"{took:.1f} s", "lease 10 s", "-",
            "< 15 s", took < 15)
    finally:
        nephele.stop()
        sim.stop()


def webhook_latency(args):
    print("7. event to first webhook attempt at 100 events/s", flush=True)
    import datetime as dt
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrivals = {}
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            now = time.time()
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            event = json.loads(body)
            with lock:
                arrivals.setdefault(event["id"], (now, event["time"]))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format, *args):  # noqa: A002
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    receiver.daemon_threads = True
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    sim = Dosim(args.dosim, droplets=0)
    nephele = Nephele(args.nephele, sim.url,
                      # Signing secrets are sealed at rest: a webhook needs a master key.
                      extra="secrets:\n  master_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
                            "webhooks:\n  allow_http: true\n  allow_private_networks: true\n")
    try:
        nephele.wait_ready()
        status, _ = request(nephele.port, "POST", "/api/v1/webhooks",
                            {"url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
                             "event_types": ["nephele.api_key.created"]})
        assert status == 201, status
        seconds, rate = 10, 100
        started = time.monotonic()
        for i in range(seconds * rate):
            status, _ = request(nephele.port, "POST", "/api/v1/keys", {"role": "viewer"})
            assert status == 201, status
            pause = started + (i + 1) / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        achieved = seconds * rate / (time.monotonic() - started)
        deadline = time.monotonic() + 60
        while len(arrivals) < seconds * rate and time.monotonic() < deadline:
            time.sleep(0.1)
        with lock:
            latencies = sorted(
                at - dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
                for at, when in arrivals.values())
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[max(0, -(-len(latencies) * 99 // 100) - 1)]
        row(f"event to first webhook attempt, {achieved:.0f} events/s", f"p99 {p99 * 1000:.0f} ms",
            "-", f"p50 {p50 * 1000:.0f} ms, {len(latencies)} of {seconds * rate} delivered", "p99 < 1 s",
            p99 < 1 and len(latencies) == seconds * rate)
    finally:
        nephele.stop()
        sim.stop()
        receiver.shutdown()
def metric(port, name):
    """A metric's value from /metrics (the open API needs no key)."""
    text = request_text(port, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def request_text(port, path):
    import http.client
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path)
    body = connection.getresponse().read().decode()
    connection.close()
    return body


def budgets(args):
    print("8. 100 budgets over 10,000 instances, per change", flush=True)
    sim = Dosim(args.dosim, droplets=10_000, boot_ms=10)
    nephele = Nephele(args.nephele, sim.url)
    try:
        nephele.wait_ready()
        request(nephele.port, "GET", LIST + "?fresh=true")
        for i in range(100):
            scope = [{}, {"regions": ["nyc1"]}, {"tags": [f"team:t{i % 7}"]}, {"kinds": ["instance"]}][i % 4]
            status, body = request(nephele.port, "POST", "/api/v1/budgets", {
                "name": f"b{i}", "amount": str(1000 + i), "period": ["month", "quarter", "year"][i % 3],
                "scope": scope, "thresholds": [{"at": "80%", "basis": "forecast"}, {"at": "50%", "basis": "actual"}],
                "enforce": ["none", "warn"][i % 2]})
            assert status == 201, body
        took = []
        for i in range(10):
            before = metric(nephele.port, "nephele_budget_evaluations_total") or 0
            status, body = request(nephele.port, "POST", LIST, {
                "name": f"bench-{i}", "type": "s-1vcpu-1gb", "region": "nyc1", "image_id": "ubuntu-24-04-x64",
                "tags": [f"team:t{i % 7}"]})
            assert status == 202, body
            deadline = time.monotonic() + 30
            while (metric(nephele.port, "nephele_budget_evaluations_total") or 0) <= before:
                assert time.monotonic() < deadline, "no evaluation after a create"
                time.sleep(0.05)
            took.append(metric(nephele.port, "nephele_budget_last_evaluation_seconds") * 1000)
        median, worst = statistics.median(took), max(took)
        row("100 budgets over 10,000 instances: evaluation per change", f"{median:.1f} ms",
            f"worst {worst:.1f} ms", f"{len(took)} creates", "< 50 ms", worst < 50)
    finally:
        nephele.stop()
        sim.stop()


def resources_scale(args):
    print("9. resources at scale: 10,000 droplets, 5,000 volumes, 2,000 snapshots, 1,000 reserved IPs", flush=True)
    port = free_port()
    # DigitalOcean's own limits (250 a minute, 5,000 an hour, SSH keys 10 a minute): the refresh
    # must fit in them, and its cost is set against the share refreshes may take.
    sim = subprocess.Popen(
        [args.dosim, "--listen", f"127.0.0.1:{port}", "--token", TOKEN, "--droplets", "10000", "--volumes", "5000",
         "--snapshots", "2000", "--reserved-ips", "1000", "--boot-ms", "10"],
        stdout=subprocess.PIPE, text=True)
    sim.stdout.readline()
    url = f"http://127.0.0.1:{port}"
    # The client's budget is the harness's (lifted): a refresh that did not fit dosim's would meet 429s.
    nephele = Nephele(args.nephele, url, "inventory:\n  max_age_secs: 3600\n  read_budget_ms: 60000\n")
    sent_so_far = lambda: sum(request(port, "GET", "/_sim/stats")[1]["requests"].values())  # noqa: E731
    try:
        nephele.wait_ready()
        request(nephele.port, "GET", "/api/v1/volumes")
        before = sent_so_far()
        started = time.monotonic()
        status, body = request(nephele.port, "GET", "/api/v1/volumes?fresh=true")
        refresh = time.monotonic() - started
        assert status == 200 and len(body["resources"]) == 5000, (status, {k: v for k, v in (body or {}).items() if k != "resources"})
        sent = sent_so_far() - before
        limited = request(port, "GET", "/_sim/stats")[1]["rate_limited"]
        assert limited == 0, f"{limited} answers of 429"
        took = []
        for _ in range(200):
            began = time.monotonic()
            status, waste = request(nephele.port, "GET", "/api/v1/costs/waste")
            took.append((time.monotonic() - began) * 1000)
            assert status == 200, status
        p50 = statistics.median(took)
        held, peak = memory_kb(nephele.process.pid)
        share = 0.25 * 250
        # Refreshes are spaced so they take at most the share (inventory.max_refresh_share): a refresh
        # of `sent` requests is followed by the next no sooner than sent / share minutes.
        row("resources at scale: a full refresh, no 429 (25% share of 250/min)", f"{refresh:.1f} s",
            f"{sent} requests", f"every {sent / share:.1f} min at the share", "no 429s", limited == 0)
        row("resources at scale: GET /api/v1/costs/waste from memory, p50 of 200",
            f"{p50:.1f} ms", f"p99 {sorted(took)[197]:.1f} ms", f"{len(waste['items'])} items", "< 50 ms", p50 < 50)
        row("resources at scale: resident memory", f"{held / 1024:.1f} MiB", "-", f"peak {peak / 1024:.1f} MiB",
            "< 300 MiB", held < 300 * 1024)
    finally:
        nephele.stop()
        sim.terminate()
        sim.wait()


def pss_kb(pid):
    """Proportional set size of `pid` in KiB: its private pages, plus each shared page divided by
    the number of processes that map it (what the process tree really adds to the machine; a
    resident-set sum counts the program's pages once per process that runs it)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise KeyError("Pss")


def process_tree_kb(pid, measure=lambda p: memory_kb(p)[0]):
    """Memory of `pid` and of every process below it, in KiB, by `measure` (resident set
    by default): (pid's, the others')."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # The name may hold spaces: the fields after its closing parenthesis.
                    parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    own, others, pending = measure(pid), 0, list(parents.get(pid, []))
    while pending:
        child = pending.pop()
        try:
            others += measure(child)
        except (OSError, KeyError):
            pass
        pending += parents.get(child, [])
    return own, others


def accounts_scale(args):
    print("10. accounts at scale: 100 DigitalOcean accounts, 20 AWS accounts", flush=True)
    digitalocean_accounts(args)
    aws_accounts(args)


def digitalocean_accounts(args):
    tokens = [f"dop_v1_bench{i:04d}" for i in range(100)]
    port = free_port()
    command = [args.dosim, "--listen", f"127.0.0.1:{port}", "--token", TOKEN, "--droplets", "0",
               "--rate-per-minute", "100000000", "--rate-per-hour", "1000000000"]
    for i, token in enumerate(tokens):
        command += ["--account", f"a{i:04d}:{token}:100"]
    sim = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sim.stdout.readline()
    url = f"http://127.0.0.1:{port}"

    def serve_do(count):
        providers = "".join(
            f"  {'digitalocean' if i == 0 else f'do-{i:04d}'}:\n"
            + ("" if i == 0 else "    type: digitalocean\n")
            + f"    api_token: {tokens[i]}\n    region: nyc1\n    base_url: {url}\n"
            for i in range(count))
        nephele = NepheleProviders(args.nephele, providers)
        try:
            ready = None
            while time.monotonic() - nephele.started < 60:
                try:
                    if ready is None and request(nephele.port, "GET", "/readyz", timeout=5)[0] == 200:
                        ready = time.monotonic() - nephele.started
                    if ready is not None:
                        status, body = request(nephele.port, "GET", "/api/v1/instances")
                        if status == 200 and len(body["instances"]) == count * 100 and not body["errors"]:
                            break
                except OSError:
                    pass
                time.sleep(0.005)
            else:
                raise RuntimeError(f"{count} accounts never all listed")
            listed = time.monotonic() - nephele.started
            time.sleep(0.5)
            return ready, listed, memory_kb(nephele.process.pid)[0]
        finally:
            nephele.stop()

    try:
        one = [serve_do(1) for _ in range(3)]
        hundred = [serve_do(100) for _ in range(3)]
    finally:
        sim.terminate()
        sim.wait()
    one_listed = statistics.median(r[1] for r in one)
    ready = statistics.median(r[0] for r in hundred)
    listed = statistics.median(r[1] for r in hundred)
    one_rss = statistics.median(r[2] for r in one)
    hundred_rss = statistics.median(r[2] for r in hundred)
    row("100 DigitalOcean accounts: start to /readyz green with all 10,000 listed (median of 3)",
        f"{listed * 1000:.0f} ms", f"1 account {one_listed * 1000:.0f} ms", f"/readyz green {ready * 1000:.0f} ms",
        "< 2 s", listed < 2)
    grown = (hundred_rss - one_rss) / 1024
    row("100 DigitalOcean accounts: resident memory above one account", f"{grown:+.1f} MiB",
        f"1 account {one_rss / 1024:.1f} MiB", f"100 accounts {hundred_rss / 1024:.1f} MiB", "<= +150 MB",
        grown * 1024 * 1024 <= 150e6)


def aws_accounts(args):
    aws_plugin = os.path.abspath(os.path.join(args.target_dir, "nephele-provider-aws"))
    if not os.path.exists(aws_plugin):
        raise RuntimeError(f"{aws_plugin} is missing: cargo build --release -p nephele-aws --features plugin")
    moto = Moto(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def serve_aws(count):
        providers = "".join(
            f"  {'aws' if i == 0 else f'aws-{i:02d}'}:\n    type: aws\n    plugin: {aws_plugin}\n"
            f"    region: us-east-1\n    regions: [us-east-1]\n    access_key_id: testing\n"
            f"    secret_access_key: testing\n    endpoint_url: {moto.url}\n"
            for i in range(count))
        nephele = NepheleProviders(args.nephele, providers, server="  readiness_interval_secs: 1\n")
        try:
            started = nephele.wait_ready(timeout=120)
            # Every account's inventory read once, as a server in use holds it.
            deadline = time.monotonic() + 120
            while True:
                status, body = request(nephele.port, "GET", "/api/v1/instances")
                if status == 200 and not body["errors"]:
                    break
                assert time.monotonic() < deadline, (status, body)
                time.sleep(0.2)
            time.sleep(1)
            server, plugins = process_tree_kb(nephele.process.pid)
            pss = sum(process_tree_kb(nephele.process.pid, pss_kb))
            return started, server, plugins, pss
        finally:
            nephele.stop()

    try:
        one = serve_aws(1)
        twenty = serve_aws(20)
    finally:
        moto.stop()
    grown = (twenty[1] + twenty[2] - one[1] - one[2]) / 1024
    # The verdict is on the proportional set size: the 20 plugin processes run one program, whose
    # pages the machine holds once however many processes map them; the resident-set sum (in
    # the detail) counts them 20 times.
    grown_pss = (twenty[3] - one[3]) / 1024
    row("20 AWS accounts (plugin) against moto: memory of the server and its plugins above one account (proportional set size)",
        f"{grown_pss:+.1f} MiB", f"1: {one[3] / 1024:.1f} MiB",
        f"resident-set sum {grown:+.1f} MiB (20: server {twenty[1] / 1024:.1f} + plugins {twenty[2] / 1024:.1f} MiB; "
        f"1: {one[1] / 1024:.1f} + {one[2] / 1024:.1f}), ready {twenty[0] * 1000:.0f} ms",
        "<= +100 MB", grown_pss * 1024 * 1024 <= 100e6)


def write_markdown(path, command):
    machine = f"{os.cpu_count()} cores, {platform.machine()}, {platform.processor() or platform.platform()}"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
        machine = f"{os.cpu_count()} cores, {model}"
    except OSError:
        pass
    lines = [
        "# Benchmarks",
        "",
        f"Latest run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, on {machine}.",
        f"Command: `{command}` (release build; every baseline measured in the same run).",
        "",
        "| what | figure | baseline | ratio / detail | target | |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {w} | {f} | {b} | {r} | {t} | {v} |" for w, f, b, r, t, v in rows]
    # The written notes below the table (from the first `## ` heading on) are kept.
    notes = ""
    try:
        with open(path) as f:
            old = f.read()
        if "\n## " in old:
            notes = "\n" + old[old.index("\n## ") + 1:]
    except OSError:
        pass
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + notes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default="target/release")
    parser.add_argument("--markdown", default="BENCHMARKS.md")
    parser.add_argument("--only", nargs="*", default=None,
                        help="phases to run: cold_list small_fleet memory_and_start recovery plugin_overhead wrong_keys webhook_latency budgets resources_scale accounts_scale")
    args = parser.parse_args()
    args.nephele = os.path.join(args.target_dir, "nephele")
    args.dosim = os.path.join(args.target_dir, "dosim")
    args.plugin = os.path.abspath(os.path.join(args.target_dir, "nephele-provider-digitalocean"))
    for phase in (cold_list, small_fleet, memory_and_start, recovery, plugin_overhead, wrong_keys, webhook_latency, budgets,
                  resources_scale, accounts_scale):
        if args.only is None or phase.__name__ in args.only:
            phase(args)
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'what':<{width}}  {'figure':>14}  {'baseline':>22}  target")
    for what, figure, baseline, ratio, target, verdict in rows:
        print(f"{what:<{width}}  {str(figure):>14}  {str(baseline):>22}  {target:<12} {verdict}  ({ratio})")
    write_markdown(args.markdown, "make bench")
    return 0


if __name__ == "__main__":
    sys.exit(main())
