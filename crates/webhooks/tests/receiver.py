#!/usr/bin/env python3
"""A webhook receiver for crates/webhooks' tests: every delivery is checked by the stock
Standard Webhooks verifier (`standardwebhooks` from PyPI, pinned in
scripts/requirements-webhooks.txt, installed by `make webhooks-peer`), used unchanged.

The secret comes in the WEBHOOK_SECRET environment variable. The receiver listens on
127.0.0.1:0 and prints its port on the first line of stdout. A POST answers 204 when the delivery
verifies and 400 when it does not; GET /results answers every outcome so far as JSON:
[{"id": ..., "verified": true|false, "error": ...}], in arrival order. Standard library only,
besides the verifier.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

WEBHOOK = Webhook(os.environ["WEBHOOK_SECRET"])
RESULTS = []
LOCK = threading.Lock()
MAX_BODY = 1 << 20


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        if length > MAX_BODY:
            self._answer(413, b"")
            return
        body = self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        outcome = {"id": self.headers.get("webhook-id"), "verified": False, "error": None}
        try:
            WEBHOOK.verify(body, headers)
            outcome["verified"] = True
        except Exception as error:  # the verifier's own exceptions, reported as they are
            outcome["error"] = f"{type(error).__name__}: {error}"
        with LOCK:
            RESULTS.append(outcome)
        self._answer(204 if outcome["verified"] else 400, b"" if outcome["verified"] else outcome["error"].encode())

    def do_GET(self):
        if self.path != "/results":
            self._answer(404, b"")
            return
        with LOCK:
            payload = json.dumps(RESULTS).encode()
        self._answer(200, payload, "application/json")

    def _answer(self, status, body, content_type="text/plain"):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
