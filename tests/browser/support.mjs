// What the browser test files share: the workspace's binaries, a free port, dosim started with a
// file's own arguments, and waiting for a server to answer (with a deadline).

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dirname, "../..");
export const nepheleBin = process.env.NEPHELE_BIN || join(root, "target/debug/nephele");
export const dosimBin = process.env.DOSIM_BIN || join(root, "target/debug/dosim");

export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

// dosim on a port of its own choosing, with `args` after `--listen`: [child, its base URL].
export function startDosim(args) {
  return new Promise((done, fail) => {
    const child = spawn(dosimBin, ["--listen", "127.0.0.1:0", ...args]);
    child.on("error", fail);
    child.stdout.once("data", (chunk) => {
      const match = /listening on (\S+)/.exec(chunk.toString());
      if (match) done([child, `http://${match[1]}`]);
      else fail(new Error(`dosim did not start: ${chunk}`));
    });
  });
}

// Waits up to 30 s for `url`'s /healthz; else fails with the end of the server's log.
export async function waitUntilUp(url, logPath) {
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nephele did not answer; its log:\n${readFileSync(logPath, "utf8").slice(-3000)}`);
}
