"""Finding 11, raw carriage returns from plugin output in text logs: a plugin prints a line holding
a carriage return followed by what looks like a log line of the server's own, and a terminal
escape. The release `nephele serve` writes text logs (no --log-format json); count the raw control
characters that reach the file, and whether the forged text starts a line of its own.
"""

import time

from . import group_07_plugins as plugins

GROUP = "11c. log control characters"


def run(env):
    work = env.scratch("g11c-log")
    program = plugins.hostile(work, "raw", "control-chars")
    server = plugins.PluginServer(env.binary("nephele"), work, plugins.section(work, "raw", program))
    try:
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline and "FORGED" not in text:
            with open(server.log_path, encoding="utf-8", errors="replace", newline="") as f:
                text = f.read()
            time.sleep(0.1)
    finally:
        server.stop()
    with open(server.log_path, "rb") as f:
        raw = f.read()
    carriage_returns = raw.count(b"\r")
    escapes = raw.count(b"\x1b")
    # What a reader of the file (or a terminal) sees as lines: split at \r as well as \n.
    forged = any(line.startswith("2026-12-02T00:00:00.000000Z  INFO nephele_server: FORGED")
                 for line in raw.decode(errors="replace").replace("\r", "\n").splitlines())
    return [
        ("raw carriage returns in the text log after a plugin printed one", carriage_returns, "0", carriage_returns == 0),
        ("raw ESC bytes in the text log (plugin's terminal escape, or colour codes)", escapes, "0", escapes == 0),
        ("the plugin's forged text starts a log line of its own", "yes" if forged else "no", "no", not forged),
    ]
