"""Finding 5, the plugin half: plugin-protocol strings had no length caps, and 4 KB instance
names made one fleet read 437 MB. A hostile plugin lists 20,000 instances with 4 KB names (80 MB
of names, in pages of 1,000) to a release `nephele serve`; the fleet read and the provider's own
list are asked, and the answer's size and the server's memory measured.
"""

import os
import time

from . import group_07_plugins as plugins
from harness import memory_kb

GROUP = "5b. plugin fields"


def run(env):
    work = env.scratch("g05b-fields")
    program = plugins.hostile(work, "longnames", "long-names", "20000")
    server = plugins.PluginServer(env.binary("nephele"), work, plugins.section(work, "longnames", program))
    try:
        before, _ = memory_kb(server.process.pid)
        started = time.monotonic()
        fleet_status, fleet = server.text("/api/v1/instances?fresh=true")
        took = time.monotonic() - started
        own_status, own = server.text("/api/v1/providers/longnames/instances?fresh=true")
        current, peak = memory_kb(server.process.pid)
    finally:
        server.stop()
    named = "instance.name" in fleet and "instance.name" in own
    return [
        (f"fleet read with 20,000 plugin instances of 4 KB names: answer bytes ({fleet_status}, {took:.2f} s)",
         len(fleet), "< 65536", fleet_status == 200 and len(fleet) < 65536 and named),
        (f"  the provider's own list ({own_status}, names the field: {'yes' if named else 'no'})", len(own), "502",
         own_status == 502 and named),
        ("  server RSS before, after, peak (MiB)",
         f"{before / 1024:.0f}/{current / 1024:.0f}/{peak / 1024:.0f}", "peak < 100", peak < 100 * 1024),
    ]
