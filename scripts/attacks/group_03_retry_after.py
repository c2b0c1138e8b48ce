"""Finding 3: one Retry-After poisons a provider for centuries.

A tampering proxy in front of dosim answers one droplet list with 429 and `retry-after:
10000000000` (317 years), then turns honest. Measured: seconds from that 429 until a live list
(`?fresh=true`, not a stale copy, after the proxy saw a new droplet list) answers 200, with the
default ceiling (`max_retry_after_secs` 60). Then 10^12 and u64::MAX, with a 2-second ceiling:
no dropped connection, no panic in the log, and the provider served again.
"""

import time

from harness import Dosim, NepheleProviders, TamperingProxy, TOKEN, request

GROUP = "3. one Retry-After poisons a provider"

LIST = "/api/v1/providers/digitalocean/instances?fresh=true"


class OneTooManyRequests:
    """The proxy's `before`: the next droplet list after `arm` gets a 429 asking for `seconds`."""

    def __init__(self):
        self.armed = None
        self.lists_served = 0

    def arm(self, seconds):
        self.armed = seconds

    def __call__(self, method, path, headers, body):
        if method == "GET" and path.startswith("/v2/droplets?"):
            if self.armed is not None:
                seconds, self.armed = self.armed, None
                answer = b'{"id": "too_many_requests", "message": "API rate limit exceeded."}'
                return 429, {"Content-Type": "application/json", "retry-after": seconds}, answer
            self.lists_served += 1
        return None


def served_again(server, limiter, within):
    """Seconds until a live list answers 200 after the 429, or None past `within`; and whether
    any answer was a dropped connection."""
    started = time.monotonic()
    before = limiter.lists_served
    dropped = False
    while time.monotonic() - started < within:
        try:
            status, body = request(server.port, "GET", LIST, timeout=within)
        except OSError:
            dropped = True
            status, body = 0, None
        fresh = isinstance(body, dict) and not body.get("stale")
        if status == 200 and fresh and limiter.lists_served > before and limiter.armed is None:
            return time.monotonic() - started, dropped
        time.sleep(0.5)
    return None, dropped


def server_for(env, proxy, name, ceiling):
    return NepheleProviders(env.binary("nephele"), f"""  digitalocean:
    api_token: {TOKEN}
    region: nyc1
    base_url: {proxy.url}
    rate_limit_per_minute: 100000000
    rate_limit_per_hour: 1000000000
{f"    max_retry_after_secs: {ceiling}" + chr(10) if ceiling else ""}""", directory=env.scratch(name))


def run(env):
    rows = []
    dosim = Dosim(env.binary("dosim"), droplets=3)
    limiter = OneTooManyRequests()
    proxy = TamperingProxy(dosim.url)
    proxy.before = limiter
    try:
        cases = [("10000000000", None, "g03-default"), ("1000000000000", 2, "g03-e12"),
                 ("18446744073709551615", 2, "g03-max")]
        for seconds, ceiling, name in cases:
            server = server_for(env, proxy, name, ceiling)
            try:
                server.wait_ready()
                request(server.port, "GET", LIST)
                limiter.arm(seconds)
                took, dropped = served_again(server, limiter, 120)
                panicked = "panicked" in server.log_text()
                healthy = request(server.port, "GET", "/healthz")[0] == 200
                clean = not dropped and not panicked and healthy and server.alive()
                if ceiling is None:
                    figure = "never" if took is None else f"{took:.1f}"
                    rows.append((f"s until DigitalOcean serves again after retry-after {seconds} (ceiling 60 s)",
                                 figure + ("" if clean else ", panic or drop"), "< 90",
                                 took is not None and took < 90 and clean))
                else:
                    figure = ("no panic" if clean else "panic or drop") + (
                        ", never served" if took is None else f", served in {took:.1f} s")
                    rows.append((f"retry-after {seconds} (ceiling {ceiling} s)", figure, "no panic, served",
                                 clean and took is not None))
            finally:
                server.stop()
    finally:
        proxy.stop()
        dosim.stop()
    return rows
