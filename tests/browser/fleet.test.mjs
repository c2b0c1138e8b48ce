// The dashboard's accounts, resources, waste and paging in a real browser: Debian's headless
// Chromium, driven by playwright-core, against `nephele serve` and dosim.
//
// dosim serves two DigitalOcean accounts: the file's (130 droplets, so the fleet has a second
// page) and `team-b` (5 droplets), which an admin adds through the page with its token. Each
// account starts with volumes, snapshots and reserved IPs, some attached to nothing, so the waste
// report has rows. Screenshots go to target/browser/.
//
// Run by `make browser` (part of `make test`). Environment: NEPHELE_BIN, DOSIM_BIN, CHROMIUM.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, openSync, writeFileSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, nepheleBin, root, startDosim, waitUntilUp } from "./support.mjs";

const shots = join(root, "target/browser");
const TOKEN = "fleet-test-token";
const TEAM_B_TOKEN = "team-b-secret-token-0123456789";
const LONG = { timeout: 60_000 };
const DROPLETS = 130;

let sim, simUrl, server, browser, page, base, logPath, adminKey;
const pageErrors = [];

function startSim() {
  return startDosim(["--token", TOKEN, "--droplets", String(DROPLETS),
      "--account", `team-b:${TEAM_B_TOKEN}:5`, "--volumes", "30", "--snapshots", "4", "--reserved-ips", "3",
      "--boot-ms", "300", "--rate-per-minute", "1000000", "--rate-per-hour", "1000000"]);
}

// The API as another client: the test itself, not the page.
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${adminKey}` };
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// Waits (up to `ms`) until `check` returns a truthy value, which it returns.
async function until(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    assert.ok(Date.now() < deadline, `not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const idle = (table) => page.locator(`#${table}[aria-busy=false]`).waitFor(LONG);
const fleetRow = (name) => page.locator("#fleet tbody tr", { has: page.locator(`th:text-is("${name}")`) });
const resourceRow = (name) => page.locator("#resources tbody tr", { has: page.locator(`th:text-is("${name}")`) });
const wasteRow = (id) => page.locator(`#waste tbody tr[data-id="${id}"]`);
const dollars = (text) => Number(text.replace(/[$,]/g, ""));

// Waits for the operation the page follows under `label` to end, and for it to have succeeded.
async function progress(text) {
  const label = text.replace(/: succeeded$/, ": ");
  const ended = page.locator("#progress li.succeeded, #progress li.failed", { hasText: label }).first();
  await ended.waitFor(LONG).catch(async (e) => {
    const shown = await page.locator("#progress li").allTextContents();
    throw new Error(`${e.message}\nnotice: ${await page.locator("#notice").textContent()}\nresource: ${await page.locator("#resource-result").textContent()}\nprogress: ${shown.join(" | ")}`);
  });
  assert.equal(await ended.textContent(), text);
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "nephele-fleet-"));
  [sim, simUrl] = await startSim();
  const listen = `127.0.0.1:${await freePort()}`;
  const masterKey = join(tmp, "master.key");
  writeFileSync(masterKey, randomBytes(32).toString("base64"), { mode: 0o600 });
  const config = join(tmp, "config.yaml");
  writeFileSync(config, `
server:
  listen: ${listen}
providers:
  digitalocean:
    api_token: ${TOKEN}
    base_url: ${simUrl}
    region: nyc1
    rate_limit_per_minute: 100000
    rate_limit_per_hour: 1000000
database:
  url: sqlite://${join(tmp, "nephele.db")}
auth:
  required: true
operations:
  poll_interval_ms: 100
secrets:
  master_key_file: ${masterKey}
`);
  const made = execFileSync(nepheleBin, ["--output", "json", "keys", "create", "--role", "admin", "--config", config]);
  adminKey = JSON.parse(made.toString()).key;
  logPath = join(tmp, "nephele.log");
  base = `http://${listen}`;
  const log = openSync(logPath, "a");
  server = spawn(nepheleBin, ["serve", "--config", config], { stdio: ["ignore", log, log] });
  await waitUntilUp(base, logPath);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.addInitScript((k) => sessionStorage.setItem("nephele.api-key", k), adminKey);
  await page.goto(base + "/");
  await page.locator("#fleet-count", { hasText: `${DROPLETS} of ${DROPLETS} instances` }).waitFor(LONG);
});

after(async () => {
  await browser?.close();
  server?.kill();
  sim?.kill();
});

test("the fleet pages past its first page and back", async () => {
  // 500 rows a page at first: all 130 on one page, and no next.
  assert.equal(await page.locator("#fleet tbody tr").count(), DROPLETS);
  assert.equal(await page.locator("#fleet-next").isDisabled(), true);
  await page.locator("#fleet-page-size").selectOption("100");
  await page.locator("#fleet-count", { hasText: "100 of 100 instances on page 1" }).waitFor(LONG);
  assert.equal(await page.locator("#fleet tbody tr").count(), 100);
  assert.match(await page.locator("#fleet-count").textContent(), /more on the next page/);
  assert.equal(await page.locator("#fleet-prev").isDisabled(), true);
  const first = await page.locator("#fleet tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  await page.getByRole("button", { name: "Next page" }).first().click();
  await page.locator("#fleet-count", { hasText: `${DROPLETS - 100} of ${DROPLETS - 100} instances on page 2` }).waitFor(LONG);
  const second = await page.locator("#fleet tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  assert.equal(second.length, DROPLETS - 100);
  assert.ok(second.every((id) => !first.includes(id)), "page 2 repeats no row of page 1");
  assert.equal(await page.locator("#fleet-next").isDisabled(), true, "the last page has no next");
  await page.locator("#fleet-prev").click();
  await page.locator("#fleet-count", { hasText: "on page 1" }).waitFor(LONG);
  assert.deepEqual(await page.locator("#fleet tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id)), first);
  // A smaller page: 25 rows, and six pages for 130.
  await page.locator("#fleet-page-size").selectOption("25");
  await page.locator("#fleet-count", { hasText: "25 of 25 instances on page 1" }).waitFor(LONG);
  for (let n = 2; n <= 6; n++) {
    await page.locator("#fleet-next").click();
    await page.locator("#fleet-count", { hasText: `on page ${n}` }).waitFor(LONG);
  }
  assert.match(await page.locator("#fleet-count").textContent(), /^5 of 5 instances on page 6$/);
  await page.locator("#fleet-page-size").selectOption("500");
  await page.locator("#fleet-count", { hasText: `${DROPLETS} of ${DROPLETS} instances` }).waitFor(LONG);
});

test("an admin adds an account through the Accounts panel: refusals name their field, the credential is cleared", async () => {
  const section = page.locator("#accounts-section");
  await section.waitFor(LONG);
  const fileRow = page.locator("#accounts tbody tr[data-name=digitalocean]");
  assert.deepEqual((await fileRow.locator("td").allTextContents()).slice(0, 4), ["digitalocean", "ready", "–", "file"]);

  const add = async (name, token) => {
    await page.locator("#account-type").selectOption("digitalocean");
    await page.locator("#account-name").fill(name);
    await page.locator("#account-region").fill("nyc1");
    await page.locator("#account-endpoint").fill(simUrl);
    await page.locator("#account-credential").fill(token);
    await page.getByRole("button", { name: "Add account" }).click();
    assert.equal(await page.locator("#account-credential").inputValue(), "", "the credential is cleared once sent");
    await page.locator("#account-result:not(:text('Trying'))").waitFor(LONG);
    return page.locator("#account-result");
  };

  let out = await add("Team_B", TEAM_B_TOKEN);
  assert.match(await out.textContent(), /^Not added: name: /);
  assert.equal(await out.getAttribute("class"), "failed");
  out = await add("team-b", "not-the-token");
  assert.match(await out.textContent(), /^Not added: /);
  assert.ok(!(await call("GET", "/api/v1/providers")).providers.some((p) => p.name === "team-b"), "nothing stored");
  out = await add("team-b", TEAM_B_TOKEN);
  assert.match(await out.textContent(), /^Added team-b \(digitalocean/);
  const row = page.locator("#accounts tbody tr[data-name=team-b]");
  await row.waitFor(LONG);
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[0], "digitalocean");
  assert.equal(cells[3], "API");
  assert.ok(cells[4].includes(TEAM_B_TOKEN.slice(-4)) && cells[4] !== TEAM_B_TOKEN, `fingerprint ${cells[4]}`);
  out = await add("team-b", TEAM_B_TOKEN);
  assert.match(await out.textContent(), /^Refused: /);
  const html = await page.content();
  assert.ok(!html.includes(TEAM_B_TOKEN), "the credential is nowhere in the page");
  await page.screenshot({ path: join(shots, "accounts.png") });
});

test("the fleet and the costs show each row's account and filter by account", async () => {
  await page.locator("#filter-provider option[value=team-b]").waitFor({ state: "attached", ...LONG });
  await page.locator("#filter-provider").selectOption("team-b");
  await page.locator("#fleet-count", { hasText: "5 of 5 instances" }).waitFor(LONG);
  await idle("fleet");
  const accounts = await page.locator("#fleet tbody tr td:nth-child(2)").allTextContents();
  assert.deepEqual(accounts, Array(5).fill("team-b"));
  await page.locator("#summary-scope", { hasText: "Account team-b" }).waitFor();
  await until("the costs count team-b's 5 instances", async () => (await page.locator("#total-instances").textContent()) === "5");
  assert.deepEqual(await page.locator("#by-provider tbody tr td:first-child").allTextContents(), ["team-b"]);
  const costs = await call("GET", "/api/v1/costs");
  const teamB = costs.by_provider.find((p) => p.provider === "team-b");
  assert.equal(dollars(await page.locator("#total-monthly").textContent()), Number(teamB.monthly));

  await page.locator("#filter-provider").selectOption("digitalocean");
  await page.locator("#fleet-count", { hasText: `${DROPLETS} of ${DROPLETS} instances` }).waitFor(LONG);
  await idle("fleet");
  const others = await page.locator("#fleet tbody tr td:nth-child(2)").allTextContents();
  assert.ok(others.every((a) => a === "digitalocean"), others.join(","));
  await page.locator("#filter-provider").selectOption("");
  await page.locator("#summary-scope", { hasText: "All accounts" }).waitFor();
  // Both accounts in one fleet, each row with its account.
  await page.locator("#fleet-count", { hasText: `${DROPLETS + 5} of ${DROPLETS + 5} instances` }).waitFor(LONG);
  await idle("fleet");
  const all = await page.locator("#fleet tbody tr td:nth-child(2)").allTextContents();
  assert.equal(all.filter((a) => a === "team-b").length, 5);
  assert.equal(all.filter((a) => a === "digitalocean").length, DROPLETS);
});

test("a file account cannot be removed (the 409's reason shows); a runtime one can, after confirmation", async () => {
  await page.getByRole("button", { name: "Remove digitalocean" }).click();
  await page.locator("#confirm-yes").click();
  await page.locator("#account-result.failed", { hasText: "digitalocean was not removed:" }).waitFor(LONG);
  assert.match(await page.locator("#account-result").textContent(), /file/i);
  assert.equal(await page.locator("#accounts tbody tr[data-name=digitalocean]").count(), 1);

  await page.getByRole("button", { name: "Remove team-b" }).click();
  await page.locator("#confirm-no").click();
  assert.equal(await page.locator("#accounts tbody tr[data-name=team-b]").count(), 1, "cancel removes nothing");
  await page.getByRole("button", { name: "Remove team-b" }).click();
  await page.locator("#confirm-yes").click();
  await page.locator("#account-result.succeeded", { hasText: "Removed team-b" }).waitFor(LONG);
  await page.locator("#accounts tbody tr[data-name=team-b]").waitFor({ state: "detached" });
  assert.equal(await page.locator("#filter-provider option[value=team-b]").count(), 0);
  assert.ok(!(await call("GET", "/api/v1/providers")).providers.some((p) => p.name === "team-b"));
});

test("the waste panel lists what serves nothing, with totals equal to its rows and to the API", async () => {
  await page.locator("#waste-refresh").click();
  const report = await call("GET", "/api/v1/costs/waste");
  assert.ok(report.items.length > 0, "dosim's unattached volumes and IPs are waste");
  await until("the page shows the API's rows", async () =>
    (await page.locator("#waste tbody tr").count()) === report.items.length);
  const cents = (await page.locator("#waste tbody tr td.num").allTextContents()).reduce((s, t) => s + Math.round(dollars(t) * 100), 0);
  const total = dollars(await page.locator("#waste-total").textContent());
  assert.equal(Math.round(total * 100), cents, "the total is the sum of the rows");
  assert.equal(total, Number(report.totals[0].monthly_cost));
  assert.equal(await page.locator("#waste-count").textContent(), String(report.items.length));
  const first = report.items[0];
  const cells = await wasteRow(first.id).locator("td").allTextContents();
  assert.equal(cells[0], first.account);
  assert.equal(cells[1], first.kind.replace("_", " "));
  assert.equal(cells[4], `$${Number(first.monthly_cost).toFixed(2)}`);

  await page.locator("#waste-kind").selectOption("volume");
  const volumes = await call("GET", "/api/v1/costs/waste?kind=volume");
  await until("only volumes", async () => {
    const kinds = await page.locator("#waste tbody tr td:nth-child(3)").allTextContents();
    return kinds.length === volumes.items.length && kinds.every((k) => k === "volume");
  });
  assert.equal(dollars(await page.locator("#waste-total").textContent()), Number(volumes.totals[0].monthly_cost));
  await page.locator("#waste-kind").selectOption("");
  await page.screenshot({ path: join(shots, "waste.png") });
});

test("volumes: create one (in waste at once), attach it, see it in the instance's detail, resize it, delete it", async () => {
  const { instances } = await call("GET", "/api/v1/providers/digitalocean/instances?limit=1");
  const target = instances[0];
  await page.locator("#resource-kind").selectOption("volumes");
  await idle("resources");
  await page.locator("#resource-create-account").selectOption("digitalocean");
  await page.locator("#resource-name").fill("page-vol-1");
  await page.locator("#resource-size_gib").fill("100");
  await page.locator("#resource-region").fill(target.region);
  await page.getByRole("button", { name: "Create volume" }).click();
  await progress("Create volume page-vol-1: succeeded");
  const row = resourceRow("page-vol-1");
  await row.waitFor(LONG);
  assert.equal(await row.locator("td").nth(4).textContent(), "nothing");
  const volumeId = await row.getAttribute("data-id");
  await wasteRow(volumeId).waitFor(LONG);
  assert.equal(await wasteRow(volumeId).locator("td.num").textContent(), "$10.00", "100 GiB at $0.10 a GiB-month");

  await page.getByRole("button", { name: "Attach page-vol-1" }).click();
  await page.locator("#ask").waitFor();
  await page.locator("#ask-instance_id").selectOption(target.id);
  await page.locator("#ask-ok").click();
  await progress("Attach page-vol-1: succeeded");
  await row.locator(`td:text-is("${target.id}")`).waitFor(LONG);
  await wasteRow(volumeId).waitFor({ state: "detached", ...LONG });

  await page.getByLabel("Search").fill(target.name);
  await page.getByRole("button", { name: `Details ${target.name}` }).click();
  await page.locator("#detail-title", { hasText: target.name }).waitFor();
  await page.locator(`#detail-volumes tbody tr[data-id="${volumeId}"]`).waitFor(LONG);
  assert.deepEqual(await page.locator(`#detail-volumes tbody tr[data-id="${volumeId}"] td`).allTextContents(),
    ["page-vol-1", "100 GiB", "in_use"]);
  await page.getByLabel("Search").fill("");

  await page.getByRole("button", { name: "Resize page-vol-1" }).click();
  await page.locator("#ask-size_gib").fill("200");
  await page.locator("#ask-ok").click();
  await page.locator("#confirm-text", { hasText: "from 100 to 200 GiB" }).waitFor();
  await page.locator("#confirm-yes").click();
  await progress("Resize page-vol-1: succeeded");
  await row.locator("td:text-is('200 GiB')").waitFor(LONG);

  await page.getByRole("button", { name: "Detach page-vol-1" }).click();
  await page.locator("#confirm-yes").click();
  await progress("Detach page-vol-1: succeeded");
  await row.locator("td:text-is('nothing')").waitFor(LONG);

  await page.getByRole("button", { name: "Delete page-vol-1" }).click();
  await page.locator("#confirm-no").click();
  assert.equal(await row.count(), 1, "cancel deletes nothing");
  await page.getByRole("button", { name: "Delete page-vol-1" }).click();
  await page.locator("#confirm-text", { hasText: "the volume page-vol-1" }).waitFor();
  await page.locator("#confirm-yes").click();
  await progress("Delete page-vol-1: succeeded");
  await row.waitFor({ state: "detached", ...LONG });
  await page.screenshot({ path: join(shots, "volumes.png") });
});

test("the volumes view pages too", async () => {
  await page.locator("#resource-kind").selectOption("volumes");
  await page.locator("#resource-account").selectOption("digitalocean");
  await page.locator("#resource-page-size").selectOption("25");
  await page.locator("#resource-count", { hasText: "25 volumes on page 1; more on the next page" }).waitFor(LONG);
  const first = await page.locator("#resources tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  await page.locator("#resource-next").click();
  await page.locator("#resource-count", { hasText: "on page 2" }).waitFor(LONG);
  await idle("resources");
  const second = await page.locator("#resources tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  assert.equal(first.length + second.length, 30, "dosim made 30 volumes in the account");
  assert.ok(second.every((id) => !first.includes(id)));
  await page.locator("#resource-page-size").selectOption("500");
  await page.locator("#resource-account").selectOption("");
});

test("SSH keys: import one, then delete it", async () => {
  await page.locator("#resource-kind").selectOption("ssh-keys");
  await page.getByRole("button", { name: "Import SSH key" }).waitFor();
  await page.locator("#resource-create-account").selectOption("digitalocean");
  await page.locator("#resource-name").fill("laptop");
  // A well-formed ed25519 public key: its type and 32 bytes, each length-prefixed.
  const part = (bytes) => Buffer.concat([Buffer.from([0, 0, 0, bytes.length]), bytes]);
  const blob = Buffer.concat([part(Buffer.from("ssh-ed25519")), part(randomBytes(32))]);
  await page.locator("#resource-public_key").fill(`ssh-ed25519 ${blob.toString("base64")} someone@laptop`);
  await page.getByRole("button", { name: "Import SSH key" }).click();
  await progress("Import SSH key laptop: succeeded");
  const row = resourceRow("laptop");
  await row.waitFor(LONG);
  assert.match(await row.locator("td").nth(1).textContent(), /^[0-9a-f]{2}(:[0-9a-f]{2}){15}$/);
  await page.getByRole("button", { name: "Delete laptop" }).click();
  await page.locator("#confirm-yes").click();
  await progress("Delete laptop: succeeded");
  await row.waitFor({ state: "detached", ...LONG });
});

test("reserved IPs: reserve one, assign it (it shows in the instance's detail), unassign, release", async () => {
  // A droplet holds one reserved IP at most: take one dosim gave none.
  const { instances } = await call("GET", "/api/v1/providers/digitalocean/instances");
  const { resources } = await call("GET", "/api/v1/providers/digitalocean/reserved-ips");
  const target = instances.find((i) => !resources.some((ip) => ip.assigned_to === i.id));
  await page.locator("#resource-kind").selectOption("reserved-ips");
  await page.getByRole("button", { name: "Reserve an IP" }).waitFor();
  await idle("resources");
  const before = await page.locator("#resources tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  await page.locator("#resource-create-account").selectOption("digitalocean");
  await page.locator("#resource-region").fill(target.region);
  await page.getByRole("button", { name: "Reserve an IP" }).click();
  await progress("Reserve an IP: succeeded");
  const made = await until("the new IP is listed", async () => {
    const ids = await page.locator("#resources tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
    return ids.find((id) => !before.includes(id));
  });
  const row = page.locator(`#resources tbody tr[data-id="${made}"]`);
  const address = await row.locator("th").textContent();
  await wasteRow(made).waitFor(LONG);

  await page.getByRole("button", { name: `Assign ${address}` }).click();
  await page.locator("#ask-instance_id").selectOption(target.id);
  await page.locator("#ask-ok").click();
  await progress(`Assign ${address}: succeeded`);
  await row.locator(`td:text-is("${target.id}")`).waitFor(LONG);
  await page.getByLabel("Search").fill(target.name);
  await page.getByRole("button", { name: `Details ${target.name}` }).click();
  await page.locator(`#detail-ips tbody tr td:text-is("${address}")`).waitFor(LONG);
  assert.equal(await page.locator("#detail-firewalls tbody tr").count(), 1);
  await page.getByLabel("Search").fill("");

  await page.getByRole("button", { name: `Unassign ${address}` }).click();
  await page.locator("#confirm-text", { hasText: "stays reserved, and billed" }).waitFor();
  await page.locator("#confirm-yes").click();
  await progress(`Unassign ${address}: succeeded`);
  await row.locator("td:text-is('nothing')").waitFor(LONG);
  await page.getByRole("button", { name: `Release ${address}` }).click();
  await page.locator("#confirm-yes").click();
  await progress(`Release ${address}: succeeded`);
  await row.waitFor({ state: "detached", ...LONG });
  await wasteRow(made).waitFor({ state: "detached", ...LONG });
});

test("firewalls: create one, allow SSH in, add an instance (it shows in the detail), delete it", async () => {
  const { instances } = await call("GET", "/api/v1/providers/digitalocean/instances?limit=1");
  const target = instances[0];
  await page.locator("#resource-kind").selectOption("firewalls");
  await page.getByRole("button", { name: "Create firewall" }).waitFor();
  await page.locator("#resource-create-account").selectOption("digitalocean");
  await page.locator("#resource-name").fill("page-fw");
  await page.locator("#resource-ports").fill("443");
  await page.locator("#resource-from").fill("0.0.0.0/0");
  await page.getByRole("button", { name: "Create firewall" }).click();
  await progress("Create firewall page-fw: succeeded");
  const row = resourceRow("page-fw");
  await row.waitFor(LONG);
  await row.locator("td:text-is('tcp 443 0.0.0.0/0')").waitFor(LONG);

  await page.getByRole("button", { name: "Allow inbound page-fw" }).click();
  await page.locator("#ask-protocol").selectOption("tcp");
  await page.locator("#ask-ports").fill("22");
  await page.locator("#ask-from").fill("203.0.113.0/24");
  await page.locator("#ask-ok").click();
  await page.locator("#confirm-text", { hasText: "Allow tcp 22 203.0.113.0/24 into page-fw?" }).waitFor();
  await page.locator("#confirm-yes").click();
  await progress("Allow inbound to page-fw: succeeded");
  await row.locator("td:text-is('tcp 443 0.0.0.0/0; tcp 22 203.0.113.0/24')").waitFor(LONG);

  await page.getByRole("button", { name: "Add instance page-fw" }).click();
  await page.locator("#ask-instance_id").selectOption(target.id);
  await page.locator("#ask-ok").click();
  await progress("Add to page-fw: succeeded");
  await row.locator(`td:text-is("${target.id}")`).waitFor(LONG);
  await page.getByLabel("Search").fill(target.name);
  await page.getByRole("button", { name: `Details ${target.name}` }).click();
  await page.locator("#detail-firewalls tbody tr", { has: page.locator("td:text-is('page-fw')") }).waitFor(LONG);
  await page.getByLabel("Search").fill("");

  await page.getByRole("button", { name: "Delete page-fw" }).click();
  await page.locator("#confirm-yes").click();
  await progress("Delete page-fw: succeeded");
  await row.waitFor({ state: "detached", ...LONG });
  await page.locator("#detail-firewalls tbody tr td:text-is('page-fw')").waitFor({ state: "detached", ...LONG });
});

test("every control has a label, and the page's script raised no error", async () => {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")].filter((el) => el.labels.length === 0).map((el) => el.id));
  assert.deepEqual(unlabelled, []);
  assert.deepEqual(pageErrors, []);
});

test("a viewer sees no Accounts panel, and its account filter lists the accounts it may use", async () => {
  const { key } = await call("POST", "/api/v1/keys", { role: "viewer", description: "fleet viewer" });
  const viewer = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  viewer.on("pageerror", (error) => pageErrors.push(error.message));
  await viewer.addInitScript((k) => sessionStorage.setItem("nephele.api-key", k), key);
  try {
    await viewer.goto(base + "/");
    await viewer.locator("#fleet-count", { hasText: `${DROPLETS} of ${DROPLETS} instances` }).waitFor(LONG);
    await viewer.locator("#waste tbody tr").first().waitFor(LONG);
    assert.equal(await viewer.locator("#accounts-section").isVisible(), false);
    assert.deepEqual(await viewer.locator("#filter-provider option").evaluateAll((o) => o.map((x) => x.value)), ["", "digitalocean"]);
  } finally {
    await viewer.close();
  }
  assert.deepEqual(pageErrors, []);
});

test("deleting an instance offers what hangs on it, and what is chosen goes with it", async () => {
  const { resources: volumes } = await call("GET", "/api/v1/providers/digitalocean/volumes");
  const volume = volumes.find((v) => v.attached_to.length);
  const instance = await call("GET", `/api/v1/providers/digitalocean/instances/${volume.attached_to[0]}`);
  await page.getByLabel("Search").fill(instance.name);
  await page.getByRole("button", { name: `Delete ${instance.name}` }).click();
  await page.locator("#ask-title", { hasText: `Delete ${instance.name}: what goes with it?` }).waitFor();
  await page.getByLabel(`Delete the volume ${volume.name} (${volume.size_gib} GiB) with it`).check();
  await page.locator("#ask-ok").click();
  await page.locator("#confirm-text", { hasText: "and the 1 chosen with it" }).waitFor();
  await page.locator("#confirm-yes").click();
  await progress(`Delete ${instance.name}: succeeded`);
  await fleetRow(instance.name).waitFor({ state: "detached", ...LONG });
  const left = (await call("GET", "/api/v1/providers/digitalocean/volumes?fresh=true")).resources;
  assert.ok(!left.some((v) => v.id === volume.id), "the chosen volume went with the instance");
  await page.getByLabel("Search").fill("");
  assert.deepEqual(pageErrors, []);
});
