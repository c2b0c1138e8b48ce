"""Finding 9: AWS answers read too kindly.

The release AWS plugin against moto, through a tampering proxy that can answer with an HTML
page and status 200 (a captive portal, a misrouted load balancer) or with a 307 redirect.
Measured: the list's status and code, /readyz while the HTML lasts (waited for, 30 s at most),
and a create whose exactly-once tag look-up meets the HTML: RunInstances calls sent while it
lasts (the look-up must fail closed, never read garbage as "nothing made yet").
"""

import os
import time

from harness import Moto, NepheleProviders, TamperingProxy, request

GROUP = "9. AWS answers read too kindly"

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HTML = b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>Sign in</h1></body></html>\n"


def action_of(body):
    for pair in body.decode(errors="replace").split("&"):
        if pair.startswith("Action="):
            return pair[len("Action="):]
    return ""


class Mode:
    """The proxy's `before`: honest, HTML for every call or for DescribeInstances only, or 307."""

    def __init__(self):
        self.mode = "honest"

    def __call__(self, method, path, headers, body):
        action = action_of(body)
        if self.mode == "html" or (self.mode == "html-describe-instances" and action == "DescribeInstances"):
            return 200, {"Content-Type": "text/html"}, HTML
        if self.mode == "redirect":
            return 307, {"Location": "http://127.0.0.1:9/elsewhere"}, b""
        return None


def wait_for(port, path, wanted, within):
    started = time.monotonic()
    while time.monotonic() - started < within:
        if request(port, "GET", path)[0] == wanted:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def run(env):
    rows = []
    moto = Moto(REPO)
    mode = Mode()
    proxy = TamperingProxy(moto.url)
    proxy.before = mode
    server = NepheleProviders(env.binary("nephele"), f"""  aws:
    plugin: {os.path.abspath(env.binary("nephele-provider-aws"))}
    region: us-east-1
    access_key_id: testing
    secret_access_key: testing-secret
    endpoint_url: {proxy.url}
""", server="  readiness_interval_secs: 1\n", directory=env.scratch("g09"))
    try:
        server.wait_ready()
        images = (request(server.port, "GET", "/api/v1/providers/aws/images")[1] or {}).get("images", [])
        request(server.port, "GET", "/api/v1/providers/aws/instance-types")

        mode.mode = "html"
        status, body = request(server.port, "GET", "/api/v1/providers/aws/instances?fresh=true")
        code = (body or {}).get("code", "-")
        rows.append(("HTML with status 200 at endpoint_url: the list", f"{status} {code}", "502 provider_bad_response",
                     status == 502 and code == "provider_bad_response"))
        took = wait_for(server.port, "/readyz", 503, 30)
        rows.append(("  /readyz while it lasts", "503" if took is not None else "200 for 30 s", "503", took is not None))

        mode.mode = "redirect"
        status, body = request(server.port, "GET", "/api/v1/providers/aws/instances?fresh=true")
        code = (body or {}).get("code", "-")
        rows.append(("a 307 redirect: the list", f"{status} {code}", "502 provider_bad_response",
                     status == 502 and code == "provider_bad_response"))

        mode.mode = "honest"
        wait_for(server.port, "/readyz", 200, 30)
        if images:
            mode.mode = "html-describe-instances"
            create = {"name": "once", "type": "t3.micro", "region": "us-east-1", "image_id": images[0]["id"]}
            status, accepted = request(server.port, "POST", "/api/v1/providers/aws/instances", create)
            operation = (accepted or {}).get("operation_id", "")
            started = time.monotonic()
            lookups = lambda: sum(1 for _, _, _, b in proxy.seen  # noqa: E731
                                  if action_of(b) == "DescribeInstances" and operation and operation in b.decode())
            runs = lambda: sum(1 for _, _, _, b in proxy.seen if action_of(b) == "RunInstances")  # noqa: E731
            while lookups() < 3 and runs() == 0 and time.monotonic() - started < 60:
                time.sleep(0.25)
            rows.append((f"RunInstances sent while the tag look-up meets HTML ({lookups()} look-ups)", str(runs()), "0",
                         status == 202 and runs() == 0 and lookups() >= 2))
        else:
            rows.append(("RunInstances sent while the tag look-up meets HTML", "no image to create from", "0", False))
    finally:
        server.stop()
        proxy.stop()
        moto.stop()
    return rows
