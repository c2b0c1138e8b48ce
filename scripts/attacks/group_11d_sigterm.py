"""Finding 11 (and the house issue): SIGTERM ended the server at once (exit 143) without handing
its operation leases back. Now SIGTERM takes the clean path: stop accepting, finish what is in
flight, stop the worker, hand the leases back, leave the replicas table, exit 0.

Against a release `nephele serve` (SQLite): 20 creates on droplets that take 3 s to boot, then
SIGTERM while they are being followed. Measured: the exit code, how long the stop took, and how
many of the operations still held a lease in the database after the exit (target 0: all handed
back, due at once for whoever runs next).
"""

import signal
import sqlite3
import time

from harness import Dosim, Nephele, request

GROUP = "11d. SIGTERM"


def run(env):
    sim = Dosim(env.binary("dosim"), boot_ms=3000)
    server = Nephele(env.binary("nephele"), sim.url, directory=env.scratch("group_11d"))
    try:
        server.wait_ready()
        for i in range(20):
            status, body = request(server.port, "POST", "/api/v1/providers/digitalocean/instances",
                                   {"name": f"term-{i}", "type": "s-1vcpu-1gb", "region": "nyc1",
                                    "image_id": "ubuntu-24-04-x64"})
            assert status == 202, (status, body)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=60)
        took = time.monotonic() - started
        with sqlite3.connect(server.database) as db:
            unfinished = db.execute("SELECT COUNT(*) FROM operations WHERE state IN ('pending', 'running')").fetchone()[0]
            leased = db.execute("SELECT COUNT(*) FROM operations WHERE state IN ('pending', 'running') "
                                "AND lease_owner IS NOT NULL").fetchone()[0]
            replicas = db.execute("SELECT COUNT(*) FROM replicas").fetchone()[0]
    finally:
        if server.process.poll() is None:
            server.kill_hard()
        sim.stop()
    return [
        ("exit code after SIGTERM", code, "0", code == 0),
        ("seconds from SIGTERM to exit", f"{took:.2f}", "< 20 (the grace)", took < 20),
        (f"operations left unfinished ({unfinished}) still leased after the exit", leased, "0", leased == 0),
        ("rows of this replica left in the replicas table", replicas, "0", replicas == 0),
    ]
