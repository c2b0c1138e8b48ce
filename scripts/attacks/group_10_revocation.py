"""Finding 10: while key B revokes admin key A, A minted keys after the revocation was committed.

Against a release `nephele serve` (SQLite) with keys required, 100 races: four connections make
keys with A as fast as they can; B revokes A; the keys listed right after B's 204 are what was
made before the revocation; any key that appears later was made after it.
"""

import http.client
import json
import random
import threading
import time

from harness import Dosim, Nephele, request

GROUP = "10. revocation race"

RACES = 100
MINTERS = 4


def keys(port, admin):
    status, body = request(port, "GET", "/api/v1/keys", headers={"Authorization": f"Bearer {admin}"})
    assert status == 200, status
    return {k["id"] for k in body["keys"]}


def run(env):
    sim = Dosim(env.binary("dosim"))
    server = Nephele(env.binary("nephele"), sim.url, directory=env.scratch("group_10"), auth_required=True)
    late, refused_after, slowest = 0, 0, 0.0
    try:
        revoker = server.make_key("admin")
        for _ in range(RACES):
            status, doomed = request(server.port, "POST", "/api/v1/keys", {"role": "admin"},
                                     {"Authorization": f"Bearer {revoker}"})
            assert status == 201, status
            made = []
            ends = []

            def mint():
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                body = json.dumps({"role": "viewer"})
                while True:
                    connection.request("POST", "/api/v1/keys", body=body, headers={
                        "Authorization": f"Bearer {doomed['key']}", "Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    if response.status != 201:
                        ends.append(response.status)
                        return
                    made.append(1)

            threads = [threading.Thread(target=mint) for _ in range(MINTERS)]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 30
            while not made and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(random.uniform(0, 0.003))
            started = time.monotonic()
            status, _ = request(server.port, "DELETE", f"/api/v1/keys/{doomed['id']}",
                                headers={"Authorization": f"Bearer {revoker}"})
            slowest = max(slowest, time.monotonic() - started)
            assert status == 204, status
            committed = keys(server.port, revoker)
            for thread in threads:
                thread.join(60)
            late += len(keys(server.port, revoker) - committed)
            refused_after += sum(1 for s in ends if s == 401)
    finally:
        server.stop()
        sim.stop()
    return [
        (f"keys minted after the revocation was committed, {RACES} races x {MINTERS} minters", late, "0", late == 0),
        ("  (minters refused with 401 once revoked)", f"{refused_after}/{RACES * MINTERS}", "all",
         refused_after == RACES * MINTERS),
        ("  (slowest revocation, ms)", f"{slowest * 1000:.1f}", "-", True),
    ]
