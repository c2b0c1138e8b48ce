// The dashboard in a real browser: Debian's headless Chromium, driven by playwright-core.
//
// Starts dosim with 100 droplets and `nephele serve` with API keys required, makes an admin key
// with `nephele keys create`, then does what a user does: enter the key, see the fleet, filter
// it, create an instance (estimate first) and watch it reach running, power it off, delete it,
// see a create and a delete made by another client arrive from the event stream (and, after a
// restart cuts it, the stream resumed with Last-Event-ID), manage a webhook, estimate a cost,
// open the API reference. Screenshots go to target/browser/.
//
// Run by `make browser` (part of `make test`). Environment: NEPHELE_BIN, DOSIM_BIN, CHROMIUM.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, openSync, writeFileSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, nepheleBin, root, startDosim, waitUntilUp } from "./support.mjs";

const shots = join(root, "target/browser");
const TOKEN = "browser-test-token";
const LONG = { timeout: 60_000 };

let sim, server, browser, page, base, logPath, configPath;
const pageErrors = [];

function startSim() {
  return startDosim(["--token", TOKEN, "--droplets", "100",
      "--boot-ms", "300", "--rate-per-minute", "1000000", "--rate-per-hour", "1000000"]);
}

async function startServer() {
  const log = openSync(logPath, "a");
  server = spawn(nepheleBin, ["serve", "--config", configPath], { stdio: ["ignore", log, log] });
  await waitUntilUp(base, logPath);
}

async function stopServer() {
  const exited = new Promise((done) => server.once("exit", done));
  server.kill("SIGTERM");
  await exited;
}

const row = (name) => page.locator("#fleet tbody tr", { has: page.locator(`th:text-is("${name}")`) });

async function progress(text) {
  await page.locator("#progress li", { hasText: text }).first().waitFor(LONG);
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "nephele-browser-"));
  let simUrl;
  [sim, simUrl] = await startSim();
  const listen = `127.0.0.1:${await freePort()}`;
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
  master_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
webhooks:
  allow_http: true
  allow_private_networks: true
`);
  const made = execFileSync(nepheleBin, ["--output", "json", "keys", "create", "--role", "admin", "--config", config]);
  process.env.NEPHELE_TEST_KEY = JSON.parse(made.toString()).key;
  logPath = join(tmp, "nephele.log");
  configPath = config;
  base = `http://${listen}`;
  await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (error) => pageErrors.push(error.message));
});

after(async () => {
  await browser?.close();
  server?.kill();
  sim?.kill();
});

test("the page asks for a key, keeps it in the tab, and shows the fleet of 100", async () => {
  await page.goto(base + "/");
  await page.locator("#notice", { hasText: "Enter an API key" }).waitFor();
  await page.getByLabel("API key").fill(process.env.NEPHELE_TEST_KEY);
  await page.getByRole("button", { name: "Use key" }).click();
  await page.locator("#fleet-count", { hasText: "100 of 100 instances" }).waitFor(LONG);
  assert.equal(await page.locator("#fleet tbody tr").count(), 100);
  assert.ok(!page.url().includes(process.env.NEPHELE_TEST_KEY), "the key is never in the URL");
  const kept = await page.evaluate(() => sessionStorage.getItem("nephele.api-key"));
  assert.equal(kept, process.env.NEPHELE_TEST_KEY);
  await page.locator("#total-instances", { hasText: "100" }).waitFor();
  assert.match(await page.locator("#total-monthly").textContent(), /^\$\d+\.\d\d$/);
  assert.ok(await page.locator("#by-provider tbody tr").count() >= 1);
  await page.screenshot({ path: join(shots, "dashboard.png"), fullPage: false });
});

test("every control has a label, and the fleet filters and searches", async () => {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select")].filter((el) => el.labels.length === 0).map((el) => el.id));
  assert.deepEqual(unlabelled, []);
  const first = await page.locator("#fleet tbody tr th").first().textContent();
  await page.getByLabel("Search").fill(first);
  const shown = await page.locator("#fleet tbody tr th").allTextContents();
  assert.ok(shown.length >= 1 && shown.length < 100, `${shown.length} rows`);
  assert.ok(shown.every((name) => name.includes(first)), shown.join(", "));
  await page.getByLabel("Search").fill("");
  const region = await page.locator("#fleet tbody tr td:nth-child(5)").first().textContent();
  await page.locator("#filter-region").selectOption(region);
  const regions = await page.locator("#fleet tbody tr td:nth-child(5)").allTextContents();
  assert.ok(regions.length >= 1 && regions.every((r) => r === region));
  await page.locator("#filter-region").selectOption("");
  await page.locator("#filter-status").selectOption("stopped");
  const statuses = await page.locator("#fleet tbody tr td:nth-child(3)").allTextContents();
  assert.ok(statuses.every((s) => s === "stopped"), statuses.join(", "));
  await page.locator("#filter-status").selectOption("");
  await page.locator("#fleet-count", { hasText: "100 of 100" }).waitFor();
});

test("create shows the estimate first, then the operation until the instance runs", async () => {
  await page.locator("#create-type").selectOption("s-1vcpu-1gb");
  await page.locator("#create-region").selectOption("nyc1");
  await page.locator("#create-name").fill("browser-made-1");
  assert.equal(await page.locator("#create-confirm").isDisabled(), true, "no create before an estimate");
  await page.locator("#create-estimate").click();
  await page.locator("#create-quote", { hasText: "per month" }).waitFor();
  assert.match(await page.locator("#create-quote").textContent(), /\$\d+\.\d\d per day/);
  await page.locator("#create-confirm").click();
  await progress("Create browser-made-1: succeeded");
  await page.getByLabel("Search").fill("browser-made-1");
  await row("browser-made-1").locator("td.status-running").waitFor(LONG);
  await page.screenshot({ path: join(shots, "created.png") });
});

test("power off asks for confirmation, then follows the operation", async () => {
  await page.getByRole("button", { name: "Power off browser-made-1" }).click();
  await page.locator("#confirm").waitFor();
  assert.match(await page.locator("#confirm-text").textContent(), /browser-made-1/);
  await page.locator("#confirm-yes").click();
  await progress("Power off browser-made-1: succeeded");
  await row("browser-made-1").locator("td.status-stopped").waitFor(LONG);
});

test("delete asks for confirmation, and the instance leaves the fleet", async () => {
  await page.getByRole("button", { name: "Delete browser-made-1" }).click();
  await page.locator("#confirm-no").click();
  assert.equal(await row("browser-made-1").count(), 1, "cancel deletes nothing");
  await page.getByRole("button", { name: "Delete browser-made-1" }).click();
  await page.locator("#confirm-yes").click();
  await progress("Delete browser-made-1: succeeded");
  await page.locator("#fleet-count", { hasText: "0 of 100 instances" }).waitFor(LONG);
  await page.getByLabel("Search").fill("");
  assert.ok(await page.locator("#operations tbody tr").count() >= 3, "the operations table shows them");
  assert.equal(await page.locator("#audit-section").isVisible(), true, "an admin sees the audit log");
});

// The API as another client: the test itself, not the page.
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${process.env.NEPHELE_TEST_KEY}` };
  // Keys and webhooks refuse one: their answers hold a secret that is never kept for a replay.
  if (path.includes("/instances")) headers["Idempotency-Key"] = crypto.randomUUID();
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

test("a create and a delete made by another client show in the open page without a reload", async () => {
  await page.locator("#live", { hasText: "Live" }).waitFor(LONG);
  await page.evaluate(() => { window.sameDocument = true; });
  const { images } = await call("GET", "/api/v1/providers/digitalocean/images");
  await call("POST", "/api/v1/providers/digitalocean/instances", {
    name: "made-elsewhere-1", type: "s-1vcpu-1gb", region: "nyc1", image_id: images.find((i) => i.slug).slug,
  });
  const began = Date.now();
  // Under the fallback's polling period (10 s): the stream brought it.
  await row("made-elsewhere-1").waitFor({ timeout: 5_000 });
  const appeared = Date.now() - began;
  await page.locator("#fleet-count", { hasText: "101 of 101 instances" }).waitFor({ timeout: 20_000 });
  // The create's end (and the instance's new status) arrives too; delete only after it.
  await row("made-elsewhere-1").locator("td.status-running").waitFor({ timeout: 20_000 });
  const instance = await row("made-elsewhere-1").getAttribute("data-id");
  await call("DELETE", `/api/v1/providers/digitalocean/instances/${encodeURIComponent(instance)}`);
  await row("made-elsewhere-1").waitFor({ state: "detached", timeout: 20_000 });
  await page.locator("#fleet-count", { hasText: "100 of 100 instances" }).waitFor({ timeout: 20_000 });
  assert.equal(await page.evaluate(() => window.sameDocument), true, "the page was not reloaded");
  console.log(`a create made elsewhere appeared in the page ${appeared} ms after it was accepted`);
});

test("after a cut the page resumes the stream with Last-Event-ID and misses nothing", async () => {
  const resumes = [];
  const watch = (request) => {
    if (request.url().endsWith("/api/v1/events/stream")) resumes.push(request.headers()["last-event-id"]);
  };
  page.on("request", watch);
  try {
    await page.locator("#live", { hasText: "Live" }).waitFor(LONG);
    // A restart ends the stream, and the page, offline, cannot come back until it is online.
    await page.context().setOffline(true);
    await stopServer();
    await page.locator("#live", { hasText: "Updating every" }).waitFor({ timeout: 10_000 });
    await startServer();
    const { images } = await call("GET", "/api/v1/providers/digitalocean/images");
    const accepted = await call("POST", "/api/v1/providers/digitalocean/instances", {
      name: "made-while-cut-1", type: "s-1vcpu-1gb", region: "nyc1", image_id: images.find((i) => i.slug).slug,
    });
    const deadline = Date.now() + 20_000;
    while ((await call("GET", `/api/v1/operations/${accepted.operation_id}`)).state !== "succeeded") {
      assert.ok(Date.now() < deadline, "the create did not succeed within 20 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.context().setOffline(false);
    // Back within the fallback's polling period (10 s): the resumed stream brought it.
    await row("made-while-cut-1").waitFor({ timeout: 5_000 });
    await page.locator("#live", { hasText: "Live" }).waitFor({ timeout: 10_000 });
    assert.ok(resumes.some((id) => id), `a request resumed with Last-Event-ID: ${JSON.stringify(resumes)}`);
    const instance = await row("made-while-cut-1").getAttribute("data-id");
    await call("DELETE", `/api/v1/providers/digitalocean/instances/${encodeURIComponent(instance)}`);
    await row("made-while-cut-1").waitFor({ state: "detached", timeout: 20_000 });
  } finally {
    page.off("request", watch);
    await page.context().setOffline(false);
  }
});

test("an admin adds a webhook, sees its secret once, sends a test and reads the delivery log", async () => {
  const received = [];
  const receiver = createHttpServer((request, response) => {
    request.resume();
    request.on("end", () => {
      received.push(request.headers["webhook-id"]);
      response.writeHead(204).end();
    });
  });
  await new Promise((done) => receiver.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
  try {
    await page.locator("#webhooks-section").waitFor(LONG);
    await page.getByLabel("Endpoint URL").fill(url);
    await page.getByLabel("Event types").fill("nephele.webhook.test, nephele.instance.deleted");
    await page.getByRole("button", { name: "Add webhook" }).click();
    assert.match(await page.locator("#webhook-secret").textContent({ timeout: 10_000 }), /^whsec_[A-Za-z0-9+/=]+$/);
    const hook = page.locator("#webhooks tbody tr", { has: page.locator(`th:text-is("${url}")`) });
    await hook.waitFor();
    assert.equal(await hook.locator("td").first().textContent(), "nephele.webhook.test, nephele.instance.deleted");
    const listed = await call("GET", "/api/v1/webhooks");
    assert.ok(listed.webhooks.some((w) => w.url === url && !("secret" in w)), "listed, without its secret");

    await page.getByRole("button", { name: `Send test ${url}` }).click();
    await page.locator("#deliveries-title", { hasText: url }).waitFor();
    const delivered = page.locator("#deliveries tbody tr", { has: page.locator("td.delivered") });
    const deadline = Date.now() + 20_000;
    while (!(await delivered.count())) {
      assert.ok(Date.now() < deadline, "the test event was not delivered within 20 s");
      await page.locator("#deliveries-refresh").click();
      await page.waitForTimeout(250);
    }
    const cells = await delivered.first().locator("td").allTextContents();
    assert.equal(cells[1], "nephele.webhook.test");
    assert.equal(cells[4], "204");
    assert.equal(received.length, 1, "the receiver got the test event once");
    await page.screenshot({ path: join(shots, "webhooks.png") });

    await page.getByRole("button", { name: `Remove ${url}` }).click();
    await page.locator("#confirm-yes").click();
    await hook.waitFor({ state: "detached", timeout: 10_000 });
    assert.ok(!(await call("GET", "/api/v1/webhooks")).webhooks.some((w) => w.url === url));
  } finally {
    receiver.close();
  }
});

test("a viewer's page follows the stream too, without the admins' panels", async () => {
  const { key } = await call("POST", "/api/v1/keys", { role: "viewer", description: "browser viewer" });
  const viewer = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  viewer.on("pageerror", (error) => pageErrors.push(error.message));
  await viewer.addInitScript((k) => sessionStorage.setItem("nephele.api-key", k), key);
  try {
    await viewer.goto(base + "/");
    await viewer.locator("#fleet-count", { hasText: "100 of 100 instances" }).waitFor(LONG);
    await viewer.locator("#live", { hasText: "Live" }).waitFor(LONG);
    assert.equal(await viewer.locator("#webhooks-section").isVisible(), false);
    assert.equal(await viewer.locator("#audit-section").isVisible(), false);
  } finally {
    await viewer.close();
  }
});

test("the cost estimator answers in dollars", async () => {
  await page.locator("#estimate-type").selectOption("s-1vcpu-1gb");
  await page.locator("#estimate-region").selectOption("nyc1");
  await page.locator("#estimate-duration").fill("1mo");
  await page.locator("#estimate-count").fill("3");
  await page.locator("#estimate-form button[type=submit]").click();
  await page.locator("#estimate-result", { hasText: "USD" }).waitFor();
  assert.match(await page.locator("#estimate-result").textContent(), /^3 × s-1vcpu-1gb in nyc1 for 1mo: \$\d+\.\d\d USD/);
  await page.locator("#estimate-duration").fill("1m");
  await page.locator("#estimate-form button[type=submit]").click();
  await page.locator("#estimate-result.failed", { hasText: "ambiguous" }).waitFor();
});

test("the page fits a phone", async () => {
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  // A new tab has no key yet: give it the one the user entered.
  await phone.addInitScript((key) => sessionStorage.setItem("nephele.api-key", key), process.env.NEPHELE_TEST_KEY);
  await phone.goto(base + "/");
  await phone.locator("#fleet-count", { hasText: "of 100 instances" }).waitFor(LONG);
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await phone.screenshot({ path: join(shots, "dashboard-phone.png") });
  await phone.close();
});

test("the API reference renders at /docs", async () => {
  const docs = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await docs.goto(base + "/docs/");
  await docs.locator(".swagger-ui .title", { hasText: "Nephele" }).waitFor(LONG);
  await docs.locator(".opblock-tag", { hasText: "instances" }).first().waitFor();
  await docs.screenshot({ path: join(shots, "docs.png") });
  await docs.close();
});

test("the page's script raised no error", () => {
  assert.deepEqual(pageErrors, []);
});
