"""Finding 7: plugins. A hostile plugin (crates/cli/tests/fixtures/hostile-plugin/hostile.py, run
with the project's .venv Python, which has grpcio) against a release `nephele serve`:

- a stderr flood for a minute: megabytes of server log written (the finding: 0.65-1.09 GB in 15 s);
- a plugin that announces another server's socket: refused, and nothing outside its own
  directory removed (the finding: configured with our settings, and the socket deleted);
- a program renamed over the configured path while 40 initializes run: times the rejected one ran;
- a plugin that ignores the end of stdin: how long it outlives its host's `kill -9`;
- a plugin reading /proc/<host pid>/environ;
- 64 junk counter names from one plugin: is another plugin's requests_sent still in /metrics;
- INTERNAL without the failure trailer: seconds per read (the finding: 5 s).

The helpers here (PluginServer, hostile) serve groups 05b and 11c too.
"""

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import harness  # noqa: E402

GROUP = "7. plugins"

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE = os.path.join(ROOT, "crates/cli/tests/fixtures/hostile-plugin/hostile.py")
EXAMPLE = os.path.join(ROOT, "examples/plugins/inventory/nephele-provider-inventory")
COOKIE = {"NEPHELE_PLUGIN_MAGIC_COOKIE": "4f1c9e5b2d7a46c8a3e0b6d9f2c1e8a7", "NEPHELE_PLUGIN_PROTOCOL_VERSIONS": "1"}


def python():
    venv = os.path.join(ROOT, ".venv/bin/python")
    return venv if os.access(venv, os.X_OK) else "python3"


def hostile(directory, name, mode, argument=""):
    """A program in `directory` that runs the hostile plugin in `mode`."""
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec '{python()}' '{FIXTURE}' {mode} '{argument}'\n")
    os.chmod(path, 0o755)
    return path


def section(directory, name, program, extra=""):
    return (f"  {name}:\n    plugin: {program}\n    name: {name}\n"
            f"    inventory_file: {os.path.join(directory, name + '.json')}\n{extra}")


class PluginServer(harness.Nephele):
    """A release `nephele serve` whose providers are the given `providers:` lines (plugins), with
    the default log filter (info: a plugin's stderr is logged) and text logs."""

    def __init__(self, binary, directory, providers, auth_required=False):
        self.binary = binary
        self.directory = directory
        self.port = harness.free_port()
        self.database = os.path.join(directory, "nephele.db")
        self.config = os.path.join(directory, "config.yaml")
        with open(self.config, "w") as f:
            f.write(f"server:\n  listen: 127.0.0.1:{self.port}\n  readiness_interval_secs: 1\n"
                    f"providers:\n{providers}database:\n  url: sqlite://{self.database}\n"
                    f"auth:\n  required: {'true' if auth_required else 'false'}\n")
        self.start()

    def start(self):
        self.started = time.monotonic()
        self.log_path = os.path.join(self.directory, "nephele.log")
        self.log = open(self.log_path, "a")
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "DIGITALOCEAN_TOKEN")}
        self.process = subprocess.Popen([self.binary, "serve", "--config", self.config], stdout=subprocess.PIPE,
                                        stderr=self.log, text=True, env=env)
        for line in self.process.stdout:
            if "listening on" in line:
                break
        # Keep stdout drained.
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def get(self, path, headers=None):
        return harness.request(self.port, "GET", path, headers=headers, timeout=60)

    def text(self, path):
        import http.client
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")

    def children(self):
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == self.process.pid:
                found.append(int(pid))
        return found


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return ") Z " in f.read()
    except OSError:
        return True


def metric(text, name, provider):
    for line in text.splitlines():
        if line.startswith(name) and f'provider="{provider}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def stderr_flood(env, rows):
    work = env.scratch("g07-flood")
    server = PluginServer(env.binary("nephele"), work, section(work, "flood", hostile(work, "flood", "flood")))
    try:
        size = os.path.getsize(server.log_path)
        time.sleep(60)
        grown = os.path.getsize(server.log_path) - size
        _, metrics = server.text("/metrics")
    finally:
        server.stop()
    dropped = metric(metrics, "nephele_provider_plugin_log_lines_dropped", "flood") or 0
    rows.append(("server log written in a minute of stderr flood (MB)", f"{grown / 1e6:.2f}", "< 10", grown < 10e6))
    rows.append(("  (flood lines dropped and counted in that minute)", f"{dropped:.0f}", "> 0", dropped > 0))


def foreign_socket(env, rows):
    work = env.scratch("g07-socket")
    victim = subprocess.Popen([EXAMPLE], env={**{k: v for k, v in os.environ.items() if k != "NEPHELE_PLUGIN_SOCKET_DIR"},
                                              **COOKIE}, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    socket = victim.stdout.readline().strip().split("|")[3]
    folder = os.path.dirname(socket)
    providers = (section(work, "thief", hostile(work, "thief", "steal", socket))
                 + section(work, "linked", hostile(work, "linked", "steal-by-link", socket)))
    server = PluginServer(env.binary("nephele"), work, providers)
    try:
        _, body = server.get("/api/v1/providers")
    finally:
        server.stop()
    listed = {p["name"]: p for p in body["providers"]}
    for name in ("thief", "linked"):
        p = listed[name]
        refused = not p["reachable"]
        why = (p.get("error") or "").split(";")[0]
        why = "outside its directory" if "not in the directory" in why else "served by another process" \
            if "served by process" in why else why[:30]
        rows.append((f"plugin announcing another server's socket ({name}; {why})",
                     "refused" if refused else "configured", "refused", refused))
    kept = os.path.exists(socket) and os.path.isdir(folder)
    rows.append(("files removed outside the plugin's own directory", "0" if kept else "the victim's socket", "0", kept))
    victim.stdin.close()
    victim.wait()


def renamed_program(env, rows):
    work = env.scratch("g07-swap")
    marker = os.path.join(work, "bad-program-ran")
    good = hostile(work, "good", "serve")
    bad = hostile(work, "bad", "marker", marker)
    with open(good, "rb") as f:
        good_bytes = f.read()
    with open(bad, "rb") as f:
        bad_bytes = f.read()
    program = os.path.join(work, "nephele-provider-swapped")
    shutil.copy(good, program)
    digest = hashlib.sha256(good_bytes).hexdigest()
    server = PluginServer(env.binary("nephele"), work, section(work, "swapped", program, f'    sha256: "{digest}"\n'),
                          auth_required=True)
    admin = server.make_key("admin")
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            for content, name in ((bad_bytes, "next-bad"), (good_bytes, "next-good")):
                path = os.path.join(work, name)
                with open(path, "wb") as f:
                    f.write(content)
                os.chmod(path, 0o755)
                os.rename(path, program)

    swapper = threading.Thread(target=swap)
    swapper.start()
    statuses = []
    try:
        for _ in range(40):
            status, _ = harness.request(server.port, "POST", "/api/v1/providers/swapped/initialize",
                                        headers={"Authorization": f"Bearer {admin}"}, timeout=60)
            statuses.append(status)
    finally:
        stop.set()
        swapper.join()
        server.stop()
    ran = 0
    if os.path.exists(marker):
        with open(marker) as f:
            ran = len(f.readlines())
    rows.append((f"renamed-in program ran, in 40 initializes ({statuses.count(200)} started, {statuses.count(503)} refused)",
                 ran, "0", ran == 0))


def outlives_kill(env, rows):
    work = env.scratch("g07-deaf")
    server = PluginServer(env.binary("nephele"), work, section(work, "deaf", hostile(work, "deaf", "deaf")))
    plugins = server.children()
    server.kill_hard()
    killed = time.monotonic()
    while plugins and not gone(plugins[0]) and time.monotonic() - killed < 5:
        time.sleep(0.005)
    took = time.monotonic() - killed
    alive = bool(plugins) and not gone(plugins[0])
    if alive:
        os.kill(plugins[0], signal.SIGKILL)
    rows.append(("EOF-ignoring plugin gone after the host's kill -9 (ms)", ">5000" if alive else f"{took * 1000:.0f}",
                 "< 1000", bool(plugins) and not alive and took < 1))


def environ(env, rows):
    work = env.scratch("g07-environ")
    server = PluginServer(env.binary("nephele"), work, section(work, "snoop", hostile(work, "snoop", "environ")))
    said = ""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not said:
            with open(server.log_path) as f:
                said = next((line for line in f if "environ of the host:" in line), "")
            time.sleep(0.1)
    finally:
        server.stop()
    unreadable = "environ of the host: unreadable" in said
    figure = "unreadable" if unreadable else (re.search(r"READABLE, \d+ bytes", said) or [said[:40] or "no report"])[0]
    rows.append(("plugin reading /proc/<host pid>/environ", figure, "unreadable", unreadable))


def counters(env, rows):
    work = env.scratch("g07-counters")
    providers = (section(work, "junk", hostile(work, "junk", "junk-counters"))
                 + section(work, "late", hostile(work, "late", "late-counter")))
    server = PluginServer(env.binary("nephele"), work, providers)
    found = None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and found is None:
            _, metrics = server.text("/metrics")
            found = metric(metrics, "nephele_provider_requests_sent", "late")
            time.sleep(0.3)
        junk = {line.split("{")[0] for line in metrics.splitlines()
                if line.startswith("nephele_provider_junk_") and 'provider="junk"' in line}
    finally:
        server.stop()
    rows.append((f"another plugin's requests_sent beside one sending 64 new junk names a scrape ({len(junk)} kept)",
                 "present" if found is not None else "pushed out", "present", found is not None and len(junk) <= 64))


def internal(env, rows):
    work = env.scratch("g07-internal")
    server = PluginServer(env.binary("nephele"), work, section(work, "internal", hostile(work, "internal", "internal")))
    try:
        started = time.monotonic()
        statuses = [server.get("/api/v1/providers/internal/regions")[0] for _ in range(5)]
        each = (time.monotonic() - started) / 5
    finally:
        server.stop()
    rows.append((f"INTERNAL without the failure trailer: seconds per read (5 reads, {statuses[0]})", f"{each:.3f}", "< 1",
                 each < 1 and all(s == 502 for s in statuses)))


def run(env):
    rows = []
    for attack in (stderr_flood, foreign_socket, renamed_program, outlives_kill, environ, counters, internal):
        try:
            attack(env, rows)
        except Exception as e:  # one broken attack is a failed row, the others still run
            rows.append((f"{attack.__name__}: the attack itself failed: {type(e).__name__}: {e}", "-", "-", False))
    return rows
