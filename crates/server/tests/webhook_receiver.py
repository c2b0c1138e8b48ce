#!/usr/bin/env python3
"""A webhook receiver for the server's event tests: every delivery is checked by the stock
Standard Webhooks verifier (`standardwebhooks` from PyPI, pinned in
scripts/requirements-webhooks.txt, installed by `make webhooks-peer`), used unchanged.

It listens on 127.0.0.1:0 and prints its port on the first line of stdout. The test steers it:

- POST /_control with JSON {"secrets": [...], "status": 204, "retry_after": null,
  "fail_ratio": 0.0, "delay_ms": 0, "location": null} (any subset): the secrets a delivery may
  verify with (it verifies when any one does), and how to answer the next deliveries.
- GET /_results: every delivery so far as JSON, in arrival order:
  [{"id", "verified", "error", "status", "type", "at"}].

A delivery that does not verify is answered 400 whatever the steering says. Standard library
only, besides the verifier.
"""

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

LOCK = threading.Lock()
STATE = {"secrets": [], "status": 204, "retry_after": None, "fail_ratio": 0.0, "delay_ms": 0, "location": None}
RESULTS = []
MAX_BODY = 1 << 20


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        if length > MAX_BODY:
            self._answer(413, b"")
            return
        body = self.rfile.read(length)
        if self.path == "/_control":
            with LOCK:
                STATE.update(json.loads(body))
            self._answer(204, b"")
            return
        with LOCK:
            state = dict(STATE)
        headers = {name: value for name, value in self.headers.items()}
        verified, error = False, None
        for secret in state["secrets"]:
            try:
                Webhook(secret).verify(body, headers)
                verified, error = True, None
                break
            except Exception as failure:  # the verifier's own exceptions, reported as they are
                error = f"{type(failure).__name__}: {failure}"
        if not state["secrets"]:
            error = "the receiver holds no secret"
        event_type = None
        try:
            event_type = json.loads(body).get("type")
        except ValueError:
            pass
        if state["delay_ms"]:
            time.sleep(state["delay_ms"] / 1000)
        status = state["status"]
        if state["fail_ratio"] and random.random() < state["fail_ratio"]:
            status = 500
        if not verified:
            status = 400
        with LOCK:
            RESULTS.append({
                "id": self.headers.get("webhook-id"),
                "verified": verified,
                "error": error,
                "status": status,
                "type": event_type,
                "at": time.time(),
            })
        extra = []
        if state["retry_after"] is not None and status in (429, 503):
            extra.append(("retry-after", str(state["retry_after"])))
        if state["location"] and 300 <= status < 400:
            extra.append(("location", state["location"]))
        # A 204 has no body (a body would corrupt the next answer on a kept-alive connection).
        body = b"" if status == 204 else (error or "ok").encode()
        self._answer(status, body, headers=extra)

    def do_GET(self):
        if self.path != "/_results":
            self._answer(404, b"")
            return
        with LOCK:
            payload = json.dumps(RESULTS).encode()
        self._answer(200, payload, "application/json")

    def _answer(self, status, body, content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
