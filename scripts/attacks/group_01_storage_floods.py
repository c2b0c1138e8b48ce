"""Finding 1: a viewer (or anyone) fills the disk through the audit log.

Against a release `nephele serve` with keys required: 300 refused viewer requests with 64 KB
paths, 10,000 anonymous ones with 64 KB paths from 1,000 source addresses (127.0.0.0/8: Linux
lets a socket bind any of them), then 100 viewer keys refusing 100 requests each (the audit log's
worst case per window) and an admin's `GET /api/v1/audit?limit=10000`: database growth, the size
of that answer and the server's memory after it.
"""

import http.client
import json
import os
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from harness import Dosim, Nephele, memory_kb, request

GROUP = "1. viewer fills the disk"

HUGE = "A" * 64_950


def database_bytes(path):
    """The SQLite file's size once its write-ahead log is folded into it."""
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return os.path.getsize(path)


def send_many(port, jobs, concurrency=32):
    """Runs each job (source address, method, path, headers, count): `count` requests over one
    connection from that address, `concurrency` jobs at a time; returns the statuses."""
    statuses = []
    lock = threading.Lock()

    def one(job):
        source, method, path, headers, count = job
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
        mine = []
        for _ in range(count):
            # A refusal answered before its body was read ends the connection; the request is
            # then sent again on a new one (once).
            status = 0
            for _attempt in range(2):
                try:
                    connection.request(method, path, body=b"{}" if method == "POST" else None,
                                       headers={"Content-Type": "application/json", **headers})
                    response = connection.getresponse()
                    response.read()
                    status = response.status
                    break
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                                            source_address=(source, 0))
            mine.append(status)
        connection.close()
        with lock:
            statuses.extend(mine)

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, jobs))
    return statuses


def tally(statuses):
    return ", ".join(f"{n} x {s}" for s, n in sorted(Counter(statuses).items()))


def run(env):
    rows = []
    sim = Dosim(env.binary("dosim"))
    # Short windows, so the summaries written when they end are inside the figures.
    server = Nephele(env.binary("nephele"), sim.url, directory=env.scratch("group_01"), auth_required=True,
                     extra="audit:\n  failed_auth_window_secs: 5\n  refusals_window_secs: 5\n")
    try:
        viewer = server.make_key("viewer")
        admin = server.make_key("admin")
        refused = f"/api/v1/providers/{HUGE}/instances"

        size = database_bytes(server.database)
        statuses = send_many(server.port, [("127.0.0.1", "POST", refused, {"Authorization": f"Bearer {viewer}"}, 10)] * 30)
        time.sleep(6)  # the window ends and its summary is written
        grown = (database_bytes(server.database) - size) / 2**20
        rows.append((f"database growth, 300 refused viewer requests with 64 KB paths (MB) [{tally(statuses)}]",
                     f"{grown:.2f}", "< 2", grown < 2 and all(s == 403 for s in statuses)))

        size = database_bytes(server.database)
        sources = [f"127.{1 + i // 250}.{i % 250}.{1 + i % 7}" for i in range(1000)]
        path = f"/api/v1/providers/digitalocean/instances/{HUGE}"
        started = time.monotonic()
        statuses = send_many(server.port, [(source, "GET", path, {}, 10) for source in sources], 64)
        took = time.monotonic() - started
        time.sleep(6)
        grown = (database_bytes(server.database) - size) / 2**20
        rows.append((f"database growth, 10,000 anonymous requests (64 KB paths) from 1,000 addresses (MB) "
                     f"[{tally(statuses)}]", f"{grown:.2f}", "< 5", grown < 5 and statuses.count(401) == 10_000))
        rows.append(("  (their rate, requests per second)", f"{10_000 / took:.0f}", "-", True))

        # The most a flood of keys can write in one window: 100 keys, 100 refusals each.
        keys = []
        for i in range(100):
            status, made = request(server.port, "POST", "/api/v1/keys", {"role": "viewer"},
                                   {"Authorization": f"Bearer {admin}"})
            keys.append(made["key"])
        size = database_bytes(server.database)
        jobs = [("127.0.0.1", "POST", refused, {"Authorization": f"Bearer {key}"}, 100) for key in keys]
        statuses = send_many(server.port, jobs, 64)
        grown = (database_bytes(server.database) - size) / 2**20
        rows.append((f"database growth, 100 viewer keys x 100 refused 64 KB-path requests (MB) [{tally(statuses)}]",
                     f"{grown:.2f}", "< 10", grown < 10 and all(s == 403 for s in statuses)))
        before, _ = memory_kb(server.process.pid)

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        started = time.monotonic()
        connection.request("GET", "/api/v1/audit?limit=10000", headers={"Authorization": f"Bearer {admin}"})
        response = connection.getresponse()
        body = response.read()
        took = time.monotonic() - started
        listed = json.loads(body)
        megabytes = len(body) / 2**20
        rows.append((f"admin audit listing, limit=10000: answer (MB), {len(listed['entries'])} entries, next page "
                     f"{'given' if listed.get('next') else 'none'}", f"{megabytes:.2f}", "<= 4.1",
                     response.status == 200 and megabytes <= 4.1))
        rows.append(("  (its time, s)", f"{took:.2f}", "-", True))
        current, _ = memory_kb(server.process.pid)
        rows.append((f"server RSS after the listing (MB; {before / 1024:.0f} before it)", f"{current / 1024:.0f}",
                     "< 200", current < 200 * 1024))
    finally:
        server.stop()
        sim.stop()
    return rows
