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
