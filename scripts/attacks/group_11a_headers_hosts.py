"""Finding 11 (the browser's part): /docs could be framed cross-origin, and an open server
answered any Host (DNS rebinding).

Against a release `nephele serve` running open (no keys): the security headers of `/docs/` and its
script, and requests addressed to a foreign host name (as a rebound browser sends them) against
the same requests addressed to 127.0.0.1 and localhost.
"""

import http.client

from harness import Dosim, Nephele

GROUP = "11a. /docs headers, Host"


def get(port, path, host=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": host} if host else {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}


def run(env):
    rows = []
    sim = Dosim(env.binary("dosim"))
    server = Nephele(env.binary("nephele"), sim.url, directory=env.scratch("group_11a"))
    try:
        missing = []
        for path in ("/docs/", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"):
            status, headers = get(server.port, path)
            policy = headers.get("content-security-policy", "")
            checks = {
                "200": status == 200,
                "CSP default-src 'none'": "default-src 'none'" in policy,
                "frame-ancestors 'none'": "frame-ancestors 'none'" in policy,
                "no unsafe-inline": "unsafe" not in policy,
                "X-Frame-Options DENY": headers.get("x-frame-options") == "DENY",
                "nosniff": headers.get("x-content-type-options") == "nosniff",
            }
            missing += [f"{path}: {name}" for name, ok in checks.items() if not ok]
        rows.append(("/docs security headers missing (3 answers x 6 checks)", len(missing), "0", not missing))
        for what in missing:
            rows.append((f"  missing {what}", "-", "-", False))

        foreign = [get(server.port, path, f"rebound.example:{server.port}")[0]
                   for path in ("/healthz", "/api/v1/providers", "/api/v1/instances", "/", "/docs/")]
        rows.append(("open server, foreign Host: 5 requests refused (400)", sum(s == 400 for s in foreign), "5",
                     all(s == 400 for s in foreign)))
        own = [get(server.port, "/api/v1/providers", host)[0]
               for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}")]
        rows.append(("open server, its own names (127.0.0.1, localhost) answered (200)", sum(s == 200 for s in own), "2",
                     all(s == 200 for s in own)))
    finally:
        server.stop()
        sim.stop()
    return rows
