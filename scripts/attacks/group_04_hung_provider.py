"""Finding 4: a provider that stops answering must not stall the fleet. DigitalOcean sits behind
a proxy that, once told to hang, passes requests on but no answer back; with the client's default
deadlines (30 s a request, 60 s a call) a read that waited for it took 114-380 s. Now a read waits
`inventory.read_budget_ms` (3 s) and answers from the last good copy, marked stale."""

import http.client
import json
import socket
import threading
import time

from harness import Dosim, Nephele

GROUP = "4. hung provider"


class HangingProxy:
    """A TCP proxy to 127.0.0.1:`port` that, while hung, holds everything the upstream sends."""

    def __init__(self, port):
        self.upstream = port
        self.flowing = threading.Event()
        self.flowing.set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                return
            threading.Thread(target=self.pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(server, client, True), daemon=True).start()

    def pipe(self, source, sink, held):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if held:
                    self.flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def hang(self):
        self.flowing.clear()

    def release(self):
        self.flowing.set()

    def close(self):
        self.release()
        self.listener.close()


def timed_get(port, path, timeout=400):
    """(seconds, status, parsed body) of one GET; a read that is never answered counts its timeout."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read() or b"null")
    except OSError:
        status, body = 0, None
    finally:
        connection.close()
    return time.monotonic() - started, status, body


def timed_out(body):
    return any(e.get("code") == "provider_timed_out" for e in (body or {}).get("errors", []))


def run(env):
    rows = []
    dosim = Dosim(env.binary("dosim"), droplets=300)
    proxy = HangingProxy(dosim.port)
    nephele = Nephele(env.binary("nephele"), proxy.url, directory=env.scratch("group_04"),
                      extra="inventory:\n  max_age_secs: 5\n")
    try:
        deadline = time.monotonic() + 60
        while True:
            _, status, body = timed_get(nephele.port, "/api/v1/instances", timeout=30)
            if status == 200 and not body["stale"] and len(body["instances"]) == 300:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fleet never loaded: {status} {body}")
            time.sleep(0.2)
        timed_get(nephele.port, "/api/v1/costs", timeout=30)  # prices loaded while it answers

        proxy.hang()
        time.sleep(6)  # past max_age: the refresh that is due now hangs
        for path, what in [("/api/v1/instances", "/api/v1/instances"),
                           ("/api/v1/providers/digitalocean/instances", "the provider's list"),
                           ("/api/v1/costs", "/api/v1/costs")]:
            took, status, body = timed_get(nephele.port, path)
            if path == "/api/v1/costs":
                served = status == 200 and body["instances"] == 300 and timed_out(body)
                said = "priced from the copy" if served else f"{status}"
            else:
                served = status == 200 and body["stale"] and len(body["instances"]) == 300 and timed_out(body)
                said = "stale copy, timed_out" if served else f"{status}"
            rows.append((f"seconds for {what} with the provider hung ({said})", f"{took:.2f}", "<= 5",
                         served and took <= 5))
        took, status, _ = timed_get(nephele.port, "/api/v1/instances")
        rows.append(("  (again, the budget already spent on that refresh)", f"{took:.2f}", "<= 5",
                     status == 200 and took <= 5))

        proxy.release()
        started = time.monotonic()
        fresh = False
        while time.monotonic() - started < 120 and not fresh:
            _, status, body = timed_get(nephele.port, "/api/v1/instances", timeout=30)
            fresh = status == 200 and not body["stale"]
            time.sleep(0.1)
        rows.append(("  (seconds until fresh again once the provider answers)", f"{time.monotonic() - started:.2f}",
                     "-", fresh))
    finally:
        nephele.stop()
        proxy.close()
        dosim.stop()
    return rows
