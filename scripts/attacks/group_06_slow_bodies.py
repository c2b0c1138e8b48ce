"""Finding 6: a request head followed by a body at 1 byte per 5 s held its connection as busy,
and was never timed out; at `max_connections` every new connection, even `/healthz`, was refused.
Now a body has a deadline (10 s, plus a second per 1,024 bytes it brings) and a connection stuck
in its body counts as idle when the limit needs room."""

import http.client
import socket
import threading
import time

from harness import Dosim, NepheleWithServerKeys

GROUP = "6. slow request bodies"

LIMIT = 16
HEAD = ("POST /api/v1/providers/digitalocean/cost-estimate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")


def trickle(port, stop, answered):
    """Sends the head, then a byte every 5 s until the server answers or `stop` is set."""
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(HEAD.encode())
            s.settimeout(5)
            while not stop.is_set():
                try:
                    if s.recv(4096):
                        answered.append(time.monotonic())
                        return
                except socket.timeout:
                    pass
                s.sendall(b" ")
    except OSError:
        answered.append(time.monotonic())


def healthz(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        status = connection.getresponse().status
        connection.close()
        return status
    except (OSError, http.client.HTTPException):
        return 0


def run(env):
    rows = []
    dosim = Dosim(env.binary("dosim"))
    nephele = NepheleWithServerKeys(env.binary("nephele"), dosim.url, f"max_connections: {LIMIT}",
                                    directory=env.scratch("group_06"))
    stop = threading.Event()
    try:
        answered = []
        senders = [threading.Thread(target=trickle, args=(nephele.port, stop, answered), daemon=True)
                   for _ in range(LIMIT * 2)]
        started = time.monotonic()
        for sender in senders:
            sender.start()
        time.sleep(1)  # every connection is in its body
        served = None
        while time.monotonic() - started < 60:
            if healthz(nephele.port) == 200:
                served = time.monotonic() - started - 1
                break
            time.sleep(0.5)
        rows.append((f"seconds until /healthz is served, {LIMIT * 2} bodies at 1 byte per 5 s, limit {LIMIT}",
                     f"{served:.2f}" if served is not None else "never (60 s)", "< 35",
                     served is not None and served < 35))
        # The ones still connected are cut off at their deadline: 10 s and what 1 byte a 5 s earns.
        while time.monotonic() - started < 30 and len(answered) < len(senders):
            time.sleep(0.5)
        cut = [t - started for t in answered]
        rows.append(("  (seconds until the last slow body was cut off or closed)",
                     f"{max(cut):.1f}" if len(cut) == len(senders) else f"{len(cut)} of {len(senders)} in 30 s",
                     "<= 15", len(cut) == len(senders) and max(cut) <= 15))
    finally:
        stop.set()
        nephele.stop()
        dosim.stop()
    return rows
