"""Running Nephele's release binaries from Python scripts (benchmarks, attack repeats).

Standard library only. Everything listens on 127.0.0.1.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

TOKEN = "dop_v1_harness000000000000000000000000000000000000000000000000000000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kb(pid):
    """(current, peak) resident memory of `pid`, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def request(port, method, path, body=None, headers=None, timeout=120):
    """(status, parsed JSON or None) of one request to 127.0.0.1:port."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    payload = json.dumps(body).encode() if body is not None else None
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    connection.request(method, path, body=payload, headers=all_headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    try:
        return response.status, json.loads(data) if data else None
    except ValueError:
        return response.status, None


class Dosim:
    """A `dosim` process with `droplets` droplets and no rate limit worth the name."""

    def __init__(self, binary, droplets=0, latency_ms=0, boot_ms=1000):
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--listen", f"127.0.0.1:{self.port}", "--token", TOKEN, "--droplets", str(droplets),
             "--latency-ms", str(latency_ms), "--boot-ms", str(boot_ms),
             "--rate-per-minute", "100000000", "--rate-per-hour", "1000000000"],
            stdout=subprocess.PIPE, text=True)
        self.process.stdout.readline()
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self):
        return request(self.port, "GET", "/_sim/stats")[1]

    def requests(self, operation):
        return self.stats()["requests"].get(operation, 0)

    def faults(self, **faults):
        request(self.port, "PUT", "/_sim/faults", faults)

    def stop(self):
        self.process.terminate()
        self.process.wait()


class Nephele:
    """A `nephele serve` process against `upstream`, on a fresh SQLite file, open (no keys)
    unless `auth_required`; with `plugin`, DigitalOcean runs as that plugin program instead of in
    process."""

    def __init__(self, binary, upstream, extra="", database=None, directory=None, plugin=None,
                 auth_required=False):
        self.binary = binary
        self.directory = directory or tempfile.mkdtemp(prefix="nephele-harness-")
        self.port = free_port()
        self.database = database or os.path.join(self.directory, "nephele.db")
        self.config = os.path.join(self.directory, "config.yaml")
        with open(self.config, "w") as f:
            f.write(f"""server:
  listen: 127.0.0.1:{self.port}
providers:
  digitalocean:
{f"    plugin: {plugin}" + chr(10) if plugin else ""}    api_token: {TOKEN}
    region: nyc1
    base_url: {upstream}
    rate_limit_per_minute: 100000000
    rate_limit_per_hour: 1000000000
database:
  url: sqlite://{self.database}
auth:
  required: {"true" if auth_required else "false"}
{extra}""")
        self.start()

    def start(self):
        """Starts the process; returns once it prints its address."""
        self.started = time.monotonic()
        self.log = open(os.path.join(self.directory, "nephele.log"), "a")
        self.process = subprocess.Popen([self.binary, "serve", "--config", self.config],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        for line in self.process.stdout:
            if "listening on" in line:
                break

    def make_key(self, role):
        """A new API key of `role`, made with `nephele keys create` in this server's database."""
        made = subprocess.run(
            [self.binary, "--output", "json", "keys", "create", "--role", role, "--config", self.config],
            check=True, capture_output=True, text=True)
        return json.loads(made.stdout)["key"]

    def log_tail(self, lines=10):
        self.log.flush()
        with open(os.path.join(self.directory, "nephele.log")) as f:
            return "".join(f.readlines()[-lines:])

    def wait_ready(self, timeout=30):
        """Seconds from process start to the first 200 of /readyz."""
        while time.monotonic() - self.started < timeout:
            try:
                if request(self.port, "GET", "/readyz", timeout=5)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("nephele never became ready")

    def kill_hard(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill_hard()


class NepheleWithServerKeys(Nephele):
    """A `Nephele` whose `server:` section has `server_keys` (YAML lines, unindented) beside
    `listen`: connection limits, body deadlines and the like."""

    def __init__(self, binary, upstream, server_keys, **kwargs):
        self.server_keys = server_keys
        super().__init__(binary, upstream, **kwargs)

    def start(self):
        with open(self.config) as f:
            text = f.read()
        listen = f"  listen: 127.0.0.1:{self.port}\n"
        keys = "".join(f"  {line}\n" for line in self.server_keys.splitlines())
        if keys and listen + keys not in text:
            with open(self.config, "w") as f:
                f.write(text.replace(listen, listen + keys, 1))
        super().start()


class NepheleProviders(Nephele):
    """A `nephele serve` process whose `providers:` section is given whole (`providers`: YAML
    lines indented two spaces, one provider or several), on a fresh SQLite file, open unless
    `auth_required`; `server` lines (indented two spaces) join `listen` in the server section,
    `extra` is appended at the top level."""

    def __init__(self, binary, providers, extra="", directory=None, auth_required=False, server=""):
        self.binary = binary
        self.directory = directory or tempfile.mkdtemp(prefix="nephele-harness-")
        self.port = free_port()
        self.database = os.path.join(self.directory, "nephele.db")
        self.config = os.path.join(self.directory, "config.yaml")
        with open(self.config, "w") as f:
            f.write(f"""server:
  listen: 127.0.0.1:{self.port}
{server}providers:
{providers}database:
  url: sqlite://{self.database}
auth:
  required: {"true" if auth_required else "false"}
{extra}""")
        self.start()

    def alive(self):
        return self.process.poll() is None

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.directory, "nephele.log")) as f:
            return f.read()


class Moto:
    """moto's EC2 (`.venv/bin/moto_server`, from `make aws-peer`) on a free port."""

    def __init__(self, repo_root):
        program = os.path.join(repo_root, ".venv", "bin", "moto_server")
        if not os.path.exists(program):
            raise RuntimeError(f"{program} is missing: `make aws-peer` installs moto")
        self.port = free_port()
        self.process = subprocess.Popen([program, "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not listen within 30 s")

    def stop(self):
        self.process.terminate()
        self.process.wait()


class TamperingProxy:
    """An HTTP proxy on 127.0.0.1 in front of `upstream` that a script can turn hostile.

    `before(method, path, headers, body)` may answer a request itself: it returns None (pass it
    on) or `(status, headers, body)`. `after(method, path, status, body)` may rewrite what the
    upstream answered and returns the new body. Both run on the proxy's threads; `seen` lists
    `(method, path, headers, body)` of every request."""

    def __init__(self, upstream):
        import http.server
        import threading
        import urllib.error
        import urllib.request
        self.upstream = upstream
        self.before = lambda method, path, headers, body: None
        self.after = lambda method, path, status, body: body
        self.seen = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                proxy.seen.append((self.command, self.path, headers, body))
                mine = proxy.before(self.command, self.path, headers, body)
                if mine is None:
                    request = urllib.request.Request(proxy.upstream + self.path, data=body if body else None,
                                                     method=self.command)
                    for name in ("authorization", "content-type", "x-amz-date", "x-amz-security-token",
                                 "x-amz-content-sha256"):
                        if name in headers:
                            request.add_header(name, headers[name])
                    try:
                        with urllib.request.urlopen(request, timeout=60) as upstream:
                            status, answer = upstream.status, upstream.read()
                            kind = upstream.headers.get("Content-Type", "application/json")
                    except urllib.error.HTTPError as e:
                        status, answer = e.code, e.read()
                        kind = e.headers.get("Content-Type", "application/json")
                    answer = proxy.after(self.command, self.path, status, answer)
                    mine = (status, {"Content-Type": kind}, answer)
                status, extra, answer = mine
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = do_DELETE = answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
