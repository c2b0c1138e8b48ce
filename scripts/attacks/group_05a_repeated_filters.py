"""Finding 5 (the rendered cache): 40 concurrent reads of one filter, each spelled another way,
on 100,000 instances took a viewer's server from 0.33 to 4.1 GB of RSS (2.4 GB kept after), each
spelling a rendered answer of its own. Now a repeated parameter is 422, spellings share one key,
at most two answers are rendered whole at once, and an answer over 16 MiB is streamed, not kept."""

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from harness import Dosim, Nephele, memory_kb, request

GROUP = "5a. repeated filters"

DROPLETS = 100_000
READERS = 40


def read_all(port, path, key):
    """(status, bytes) of one GET, its body read and thrown away as it arrives."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        total = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
        return response.status, total
    except (OSError, http.client.HTTPException):
        return 0, 0
    finally:
        connection.close()


def spellings(count):
    """`count` ways to write status=running (which all 100,000 droplets are): letters escaped
    or not, with or without fresh=false."""
    word = "running"
    found = []
    for mask in range(1 << len(word)):
        value = "".join(f"%{ord(c):02X}" if mask >> i & 1 else c for i, c in enumerate(word))
        found.append(f"status={value}")
        found.append(f"fresh=false&status={value}")
    return found[:count]


def under_load(pid, work):
    """Runs `work`, sampling RSS every 50 ms; returns (work's result, peak RSS in MiB)."""
    peak = [memory_kb(pid)[0]]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], memory_kb(pid)[0])
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        return work(), peak[0] / 1024
    finally:
        done.set()
        sampler.join()


def run(env):
    rows = []
    dosim = Dosim(env.binary("dosim"), droplets=DROPLETS)
    nephele = Nephele(env.binary("nephele"), dosim.url, directory=env.scratch("group_05a"), auth_required=True)
    try:
        viewer = nephele.make_key("viewer")
        auth = {"Authorization": f"Bearer {viewer}"}
        started = time.monotonic()
        while True:
            status, body = request(nephele.port, "GET", "/api/v1/instances?name=sim-000001", headers=auth, timeout=60)
            if status == 200 and len(body["instances"]) == 1 and not body["errors"]:
                break
            if time.monotonic() - started > 300:
                raise RuntimeError(f"the inventory never loaded: {status} {body}")
            time.sleep(0.5)
        loaded = memory_kb(nephele.process.pid)[0] / 1024
        rows.append((f"RSS with {DROPLETS:,} instances loaded (MiB)", f"{loaded:.0f}", "-", True))

        repeated = [f"/api/v1/instances?{'&'.join(['fresh=false'] * (i + 2))}" for i in range(READERS)]
        with ThreadPoolExecutor(READERS) as pool:
            answers, peak = under_load(nephele.process.pid, lambda: list(
                pool.map(lambda path: read_all(nephele.port, path, viewer), repeated)))
        refused = sum(1 for status, _ in answers if status == 422)
        status, problem = request(nephele.port, "GET", repeated[0], headers=auth)
        names_it = status == 422 and problem["errors"][0]["field"] == "fresh"
        rows.append((f"{READERS} concurrent reads with fresh=false repeated 2-{READERS + 1} times: peak RSS (MiB)",
                     f"{peak:.0f}", "< 600", peak < 600 and refused == READERS))
        rows.append(("  (of them answered 422, naming `fresh`)", refused, READERS, refused == READERS and names_it))

        spelled = [f"/api/v1/instances?{query}" for query in spellings(READERS)]
        with ThreadPoolExecutor(READERS) as pool:
            answers, peak = under_load(nephele.process.pid, lambda: list(
                pool.map(lambda path: read_all(nephele.port, path, viewer), spelled)))
        whole = sum(1 for status, size in answers if status == 200 and size > 10_000_000)
        rows.append((f"{READERS} concurrent full reads, {READERS} spellings of one filter: peak RSS (MiB)",
                     f"{peak:.0f}", "< 600", peak < 600 and whole == READERS))
        rows.append(("  (of them answered whole, 100,000 instances each)", whole, READERS, whole == READERS))
        time.sleep(1)
        after = memory_kb(nephele.process.pid)[0] / 1024
        rows.append(("  (RSS a second after, MiB)", f"{after:.0f}", "-", True))
    finally:
        nephele.stop()
        dosim.stop()
    return rows
