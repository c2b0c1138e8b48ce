"""The second round of trust-boundary attacks (issue 18), one module per finding group.

Each module `group_NN_<name>.py` exposes

    GROUP = "1. viewer fills the disk"          # the finding, as the table names it
    def run(env) -> list[tuple[str, str, str, bool]]

returning rows of (what was measured, figure, target, met). `env` is an `Env` (below): where the
release binaries are, and a scratch folder. A module starts and stops whatever it needs (dosim,
nephele, proxies, fake plugins) through `scripts/harness.py`, keeps every loop bounded, stays on
127.0.0.1, and uses the Python standard library only. `scripts/attack_release.py` runs every
module in order and prints one table.
"""

import dataclasses
import os


@dataclasses.dataclass
class Env:
    target_dir: str
    work: str

    def binary(self, name):
        return os.path.join(self.target_dir, name)

    def scratch(self, name):
        path = os.path.join(self.work, name)
        os.makedirs(path, exist_ok=True)
        return path
