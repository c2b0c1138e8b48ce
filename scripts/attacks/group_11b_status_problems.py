"""Finding 11 (in part): a URI too long (414) and headers too large (431) were answered by hyper
with an empty body. Now they (and a malformed head, 400) are problem documents with a request id."""

import json
import socket

from harness import Dosim, Nephele

GROUP = "11b. 414/431 problems"


def raw(port, request):
    """(status, lower-cased head, parsed body or None) of `request` sent as it is."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(request)
        except OSError:
            pass  # answered and closed before reading it all
        received = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                received += data
        except OSError:
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    try:
        status = int(head[9:12])
    except ValueError:
        status = 0
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    return status, head.decode(errors="replace").lower(), document


def run(env):
    rows = []
    dosim = Dosim(env.binary("dosim"))
    nephele = Nephele(env.binary("nephele"), dosim.url, directory=env.scratch("group_11b"))
    try:
        cases = [
            ("URI of 70,000 bytes", b"GET /api/v1/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
             414, "uri_too_long"),
            ("200 headers", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             + b"".join(b"x-filler-%d: %d\r\n" % (i, i) for i in range(200)) + b"\r\n", 431, "headers_too_large"),
            ("one header of 600 KB", b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nx-big: " + b"b" * 600_000 + b"\r\n\r\n",
             431, "headers_too_large"),
            ("a malformed head", b"GET /healthz HTTP/1.1\r\nnot a header\r\n\r\n", 400, "bad_request"),
        ]
        for what, request, status, code in cases:
            answered, head, document = raw(nephele.port, request)
            ok = (answered == status and "content-type: application/problem+json" in head
                  and isinstance(document, dict) and document.get("code") == code
                  and bool(document.get("request_id")))
            figure = f"{answered} {document.get('code') if isinstance(document, dict) else 'no document'}"
            rows.append((f"{what}: status and problem code", figure, f"{status} {code}", ok))
    finally:
        nephele.stop()
        dosim.stop()
    return rows
