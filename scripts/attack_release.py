#!/usr/bin/env python3
"""Repeat the trust-boundary attacks by hand against a release build, and print the figures.

    cargo build --release -p nephele -p dosim
    python3 scripts/attack_release.py [--target-dir target/release]

It starts `dosim`, a hostile DigitalOcean in front of it (a tampering proxy, as in the Rust tests),
a catcher where a leaked token would arrive, and a release `nephele serve` with API keys
required. Then it measures what the issue asks for: no request reaches another origin, resident
memory under an endless and a huge body, upstream requests per list under lying pagination,
database growth per 10,000 anonymous and 10,000 idempotent requests, and `/healthz` while
20,000 idle connections are held. Everything stays on 127.0.0.1 and every loop is bounded.

Standard library only, so it runs with the machine's python3.
"""

import argparse
import http.client
import importlib
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import attacks  # noqa: E402
from harness import free_port, memory_kb  # noqa: E402

TOKEN = "dop_v1_attackrepeat0000000000000000000000000000000000000000000000000"


class Hostile:
    """A proxy to dosim that tampers with droplet lists according to `mode`."""

    def __init__(self, upstream, catcher):
        self.upstream, self.catcher = upstream, catcher
        self.mode = "honest"
        self.droplet_lists = 0
        self.bytes_sent = 0
        self.lock = threading.Lock()
        hostile = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                hostile.answer(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stream(self, handler, total):
        chunk = b" " * 65536
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        if total is None:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(total))
        handler.end_headers()
        sent = 0
        try:
            while total is None or sent < total:
                if total is None:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    handler.wfile.write(chunk)
                sent += len(chunk)
                with self.lock:
                    self.bytes_sent += len(chunk)
                if sent > 4 << 30:  # a bound for this script itself
                    break
        except OSError:
            pass

    def answer(self, handler):
        path = handler.path
        is_list = path.startswith("/v2/droplets?")
        if is_list:
            with self.lock:
                self.droplet_lists += 1
        mode = self.mode
        if is_list and mode == "endless":
            return self.stream(handler, None)
        if is_list and mode == "huge":
            return self.stream(handler, 500_000_000)
        if mode == "echo401":
            body = json.dumps({"id": "unauthorized", "message": "bad token " + handler.headers.get("Authorization", ""),
                               "request_id": "attack-1"}).encode()
            return self.reply(handler, 401, body)
        request = urllib.request.Request(self.upstream + path, headers={"Authorization": handler.headers.get("Authorization", "")})
        try:
            with urllib.request.urlopen(request) as upstream:
                status, body = upstream.status, upstream.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        if is_list and status == 200:
            page = json.loads(body)
            if mode == "steal":
                page["links"] = {"pages": {"next": self.catcher + "/steal?page=2"}}
            elif mode == "selfloop":
                page["meta"]["total"] = 201
                page["links"] = {"pages": {"next": "https://api.digitalocean.com/v2/droplets?page=2"}}
            elif mode == "hugetotal":
                page["meta"]["total"] = 10**12
            body = json.dumps(page).encode()
        self.reply(handler, status, body)

    @staticmethod
    def reply(handler, status, body):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


class Catcher:
    def __init__(self):
        self.requests = 0
        catcher = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                catcher.requests += 1
                self.send_response(200)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def database_bytes(path):
    """Bytes of stored data: the main file after the write-ahead log is checkpointed into it.

    The WAL itself is scratch space SQLite reuses (about 4 MiB at its auto-checkpoint), not data;
    its size is returned beside the figure."""
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path + "-wal"
    return os.path.getsize(path), os.path.getsize(wal) if os.path.exists(wal) else 0


def requests(port, count, concurrency, make):
    """Sends `count` requests over `concurrency` keep-alive connections; returns statuses."""
    statuses = []
    lock = threading.Lock()
    per = count // concurrency

    def worker(offset):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for i in range(offset, offset + per):
            method, path, headers, body = make(i)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                mine.append(response.status)
            except (OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine.append(0)
        with lock:
            statuses.extend(mine)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(0, per * concurrency, per)))
    return statuses


def hold_connections(port, count, half_sent):
    """A child process holding `count` idle (or half-sent) connections until stdin closes."""
    code = f"""
import resource, socket, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for i in range({count}):
    s = socket.create_connection(("127.0.0.1", {port}))
    if {half_sent} and i % 2:
        s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")
    held.append(s)
print("holding", len(held), flush=True)
sys.stdin.read()
"""
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    return child, line.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default="target/release")
    parser.add_argument("--only", action="append", default=[],
                        help="run only the second-round groups whose module name contains this (repeatable); "
                             "skips the first round")
    args = parser.parse_args()
    if args.only:
        work = tempfile.mkdtemp(prefix="nephele-attack-")
        return 0 if second_round(args.target_dir, work, args.only) else 1
    nephele_bin = os.path.join(args.target_dir, "nephele")
    dosim_bin = os.path.join(args.target_dir, "dosim")
    work = tempfile.mkdtemp(prefix="nephele-attack-")

    dosim_port = free_port()
    dosim = subprocess.Popen([dosim_bin, "--listen", f"127.0.0.1:{dosim_port}", "--token", TOKEN, "--droplets", "300",
                              "--rate-per-minute", "1000000", "--rate-per-hour", "10000000"], stdout=subprocess.PIPE, text=True)
    dosim.stdout.readline()
    catcher = Catcher()
    hostile = Hostile(f"http://127.0.0.1:{dosim_port}", catcher.url)

    port = free_port()
    database = os.path.join(work, "nephele.db")
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write(f"""server:
  listen: 127.0.0.1:{port}
  header_read_timeout_secs: 10
providers:
  digitalocean:
    api_token: {TOKEN}
    region: nyc1
    base_url: {hostile.url}
    call_deadline_secs: 20
database:
  url: sqlite://{database}
auth:
  required: true
""")
    key = subprocess.run([nephele_bin, "keys", "create", "--role", "admin", "--config", config], capture_output=True, text=True,
                         check=True).stdout.strip()
    log = open(os.path.join(work, "nephele.log"), "w")
    server = subprocess.Popen([nephele_bin, "serve", "--config", config], stdout=subprocess.PIPE, stderr=log, text=True)
    for line in server.stdout:
        if "listening on" in line:
            break
    auth = {"Authorization": f"Bearer {key}"}
    results = []

    def report(what, figure, target, ok):
        results.append((what, figure, target, "ok" if ok else "MISSED"))

    # Lists are served from the inventory; the upstream attacks need live reads.
    live = "/api/v1/providers/digitalocean/instances?fresh=true"

    def list_once():
        return requests(port, 1, 1, lambda i: ("GET", live, auth, None))[0]

    try:
        list_once()  # honest warm-up
        # 1. The token never leaves for another origin.
        hostile.mode = "steal"
        statuses = [list_once() for _ in range(20)]
        report("requests that reached another origin (20 lists, next link to it)", catcher.requests, "0",
               catcher.requests == 0 and all(s == 200 for s in statuses))
        hostile.mode = "echo401"
        body = urllib.request.Request(f"http://127.0.0.1:{port}{live}", headers=auth)
        try:
            urllib.request.urlopen(body)
            text = ""
        except urllib.error.HTTPError as e:
            text = e.read().decode()
        with open(os.path.join(work, "nephele.log")) as f:
            logged = f.read()
        leaked = TOKEN in text or TOKEN in logged
        report("token in the 502 or the log after a 401 quoting it", "yes" if leaked else "no", "no", not leaked)

        # 2. Bounded reads: endless and huge bodies, 20 lists at once each.
        for mode in ("endless", "huge"):
            hostile.mode = mode
            hostile.bytes_sent = 0
            statuses = requests(port, 20, 20, lambda i: ("GET", live, auth, None))
            _, peak = memory_kb(server.pid)
            report(f"peak RSS after 20 concurrent lists with a {mode} body (MiB)", f"{peak / 1024:.1f}", "< 100",
                   peak < 100 * 1024 and all(s == 502 for s in statuses))

        # 3. Bounded pagination.
        for mode in ("selfloop", "hugetotal"):
            hostile.mode = mode
            before = hostile.droplet_lists
            status = list_once()
            report(f"upstream requests for one list ({mode})", hostile.droplet_lists - before, "<= 2",
                   hostile.droplet_lists - before <= 2 and status in (200, 502))
        hostile.mode = "honest"

        # 4. Database growth: 10,000 anonymous requests, then 10,000 idempotent estimates.
        size, _ = database_bytes(database)
        statuses = requests(port, 10_000, 50, lambda i: ("GET", "/api/v1/providers/digitalocean/instances", {}, None))
        grown = database_bytes(database)[0] - size
        report("database growth per 10,000 anonymous requests (KiB)", f"{grown / 1024:.0f}", "< 1024",
               grown < 1 << 20 and all(s == 401 for s in statuses))
        viewer = subprocess.run([nephele_bin, "keys", "create", "--role", "viewer", "--config", config], capture_output=True,
                                text=True, check=True).stdout.strip()
        size, _ = database_bytes(database)
        estimate = json.dumps({"instance_type": "s-1vcpu-1gb", "region": "nyc1", "duration": "100y"})
        started = time.monotonic()
        statuses = requests(port, 10_000, 50, lambda i: ("POST", "/api/v1/providers/digitalocean/cost-estimate", {
            "Authorization": f"Bearer {viewer}", "Content-Type": "application/json", "Idempotency-Key": f"attack-{i}"}, estimate))
        now, wal = database_bytes(database)
        grown = now - size
        report("database growth per 10,000 idempotent 100-year estimates (KiB)", f"{grown / 1024:.0f}", "< 1024",
               grown < 1 << 20 and all(s == 200 for s in statuses))
        report("  (write-ahead log after a checkpoint, KiB)", f"{wal / 1024:.0f}", "-", True)
        report("  (their rate, requests per second)", f"{10_000 / (time.monotonic() - started):.0f}", "-", True)

        # 5. 20,000 idle connections (two processes of 10,000; half of them half-sent).
        holders = [hold_connections(port, 10_000, True) for _ in range(2)]
        time.sleep(0.5)
        worst = 0.0
        for _ in range(10):
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            status = connection.getresponse().status
            worst = max(worst, time.monotonic() - started)
            connection.close()
            assert status == 200
        current, _ = memory_kb(server.pid)
        report(f"/healthz worst of 10 under 20,000 held connections (s) [{holders[0][1]}, {holders[1][1]}]",
               f"{worst:.3f}", "< 1", worst < 1)
        report("  (RSS while holding them, MiB)", f"{current / 1024:.1f}", "-", True)
        for child, _ in holders:
            child.stdin.close()
            child.wait()
    finally:
        server.terminate()
        dosim.terminate()
        server.wait()
        dosim.wait()

    width = max(len(r[0]) for r in results)
    print(f"{'attack':<{width}}  {'figure':>10}  {'target':>8}")
    for what, figure, target, verdict in results:
        print(f"{what:<{width}}  {figure:>10}  {target:>8}  {verdict}")
    second = second_round(args.target_dir, work, args.only)
    return 0 if all(r[3] == "ok" for r in results) and second else 1


def second_round(target_dir, work, only):
    """The second round (issue 18): every module in scripts/attacks/, as one table."""
    env = attacks.Env(target_dir=target_dir, work=work)
    rows = []
    for name in sorted(n[:-3] for n in os.listdir(os.path.join(os.path.dirname(__file__), "attacks"))
                       if n.startswith("group_") and n.endswith(".py")):
        if only and not any(o in name for o in only):
            continue
        module = importlib.import_module(f"attacks.{name}")
        try:
            found = module.run(env)
        except Exception as e:  # a module that breaks is a row that failed, not a lost table
            found = [(f"the attack itself failed: {type(e).__name__}: {e}", "-", "-", False)]
        rows.extend((module.GROUP, what, str(figure), str(target), ok) for what, figure, target, ok in found)
    if not rows:
        return True
    widths = [max(len(r[i]) for r in rows + [("finding", "measured", "figure", "target", True)]) for i in range(4)]
    print()
    print(f"{'finding':<{widths[0]}}  {'measured':<{widths[1]}}  {'figure':>{widths[2]}}  {'target':>{widths[3]}}")
    for group, what, figure, target, ok in rows:
        print(f"{group:<{widths[0]}}  {what:<{widths[1]}}  {figure:>{widths[2]}}  {target:>{widths[3]}}  "
              f"{'ok' if ok else 'MISSED'}")
    return all(r[4] for r in rows)


if __name__ == "__main__":
    sys.exit(main())
