// The dashboard's spend panel in a real browser (Debian's headless Chromium, playwright-core)
// against a real `nephele serve` and a real dosim, both on set clocks, so that the cost history
// has hours Nephele saw and hours it inferred:
//
//   10:00  old-db (s-2vcpu-2gb, nyc1, team:db) is made on dosim directly, before Nephele runs;
//   12:00  Nephele starts (costs.clock 12:00) and makes web-1 (s-1vcpu-2gb, sfo3, team:web) and
//          web-2 (s-1vcpu-1gb, nyc1, team:web); old-db's 10:00-12:00 is estimated;
//   15:30  Nephele restarts with costs.clock 15:30 (the clock only moves in process or by a
//          restart) after dosim's clock is moved there: 12:00-15:30 is recorded as seen.
//
// A second account (do-plugged, an empty dosim account) runs DigitalOcean as a plugin, whose
// protocol has no billing call: its bill is "estimate only", as AWS's is.
//
// Then, with two budgets made through the API (one whose 80%-forecast threshold is in alarm),
// the page's drawn figures are checked against the API's: each budget's bar and figures, the
// cost history chart (by region, by tag, per day), its table and its CSV download, and the bill
// beside Nephele's month-to-date; an admin adds and deletes a budget from the page; a viewer's
// page has no budget form. Screenshots go to target/browser/.
//
// Run by `make browser` (part of `make test`). Environment: NEPHELE_BIN, DOSIM_BIN,
// NEPHELE_PLUGIN_BIN, CHROMIUM.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, openSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { freePort, nepheleBin, root, startDosim, waitUntilUp } from "./support.mjs";

// A second account runs DigitalOcean as a plugin: protocol v1 has no billing call, so its bill is
// "estimate only", as AWS's is.
const pluginBin = process.env.NEPHELE_PLUGIN_BIN || join(root, "target/debug/nephele-provider-digitalocean");
const shots = join(root, "target/browser");
const TOKEN = "browser-spend-token";
const PLUGIN_TOKEN = "browser-spend-plugin-token";
const LONG = { timeout: 60_000 };
const START = "2026-03-10T10:00:00Z";
const SEEN = "2026-03-10T12:00:00Z";
const NOW = "2026-03-10T15:30:00Z";

let sim, simUrl, server, browser, page, base, logPath, configPath, listen, tmp, key;
const pageErrors = [];

function startSim() {
  return startDosim(["--token", TOKEN, "--clock", START,
      "--account", `plugged:${PLUGIN_TOKEN}`,
      "--boot-ms", "200", "--rate-per-minute", "1000000", "--rate-per-hour", "1000000"]);
}

async function setSimClock(now) {
  const response = await fetch(`${simUrl}/_sim/clock`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ now }),
  });
  assert.ok(response.ok, `dosim clock to ${now}: ${response.status} ${await response.text()}`);
}

function writeConfig(clock) {
  writeFileSync(configPath, `
server:
  listen: ${listen}
providers:
  digitalocean:
    api_token: ${TOKEN}
    base_url: ${simUrl}
    region: nyc1
    rate_limit_per_minute: 100000
    rate_limit_per_hour: 1000000
  do-plugged:
    type: digitalocean
    plugin: ${pluginBin}
    api_token: ${PLUGIN_TOKEN}
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
costs:
  clock: ${clock}
`);
}

async function startServer(clock) {
  writeConfig(clock);
  const log = openSync(logPath, "a");
  server = spawn(nepheleBin, ["serve", "--config", configPath], { stdio: ["ignore", log, log] });
  await waitUntilUp(base, logPath);
}

async function stopServer() {
  const exited = new Promise((done) => server.once("exit", done));
  server.kill("SIGTERM");
  await exited;
}

// The API as the test reads it (not the page).
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${key}` };
  if (path.includes("/instances")) headers["Idempotency-Key"] = crypto.randomUUID();
  if (body) headers["Content-Type"] = "application/json";
  const response = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text;
}

// Polls `probe` until it returns something truthy, or fails after `ms`.
async function until(what, probe, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function recorded(at, resources) {
  await until(`history recorded to ${at} with ${resources} resources`, async () => {
    const { recorded: marks } = await call("GET", "/api/v1/costs/history?from=2026-01-01");
    const mark = marks.find((m) => m.account === "digitalocean");
    return mark && mark.until === at && mark.resources === resources;
  });
}

async function create(name, type, region, tag) {
  const { images } = await call("GET", "/api/v1/providers/digitalocean/images");
  const accepted = await call("POST", "/api/v1/providers/digitalocean/instances", {
    name, type, region, image_id: images.find((i) => i.slug).slug, tags: [tag],
  });
  await until(`create ${name}`, async () => {
    const op = await call("GET", `/api/v1/operations/${accepted.operation_id}`);
    assert.notEqual(op.state, "failed", JSON.stringify(op));
    return op.state === "succeeded";
  });
}

// A figure as the page shows it (dollars).
const usd = (amount) => (String(amount).startsWith("-") ? `−$${String(amount).slice(1)}` : `$${amount}`);

before(async () => {
  mkdirSync(shots, { recursive: true });
  if (!existsSync(pluginBin)) {
    // As `make test` builds it (`make plugins`); a standalone run builds it here.
    execFileSync("cargo", ["build", "-p", "nephele-digitalocean", "--features", "plugin", "--bin",
      "nephele-provider-digitalocean"], { cwd: root, stdio: "inherit" });
  }
  tmp = mkdtempSync(join(tmpdir(), "nephele-spend-"));
  [sim, simUrl] = await startSim();
  // Made on the cloud before Nephele runs: its first two hours are inferred.
  const made = await fetch(`${simUrl}/v2/droplets`, {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "old-db", region: "nyc1", size: "s-2vcpu-2gb", image: "ubuntu-24-04-x64",
      tags: ["team:db"] }),
  });
  assert.equal(made.status, 202, await made.text());
  await setSimClock(SEEN);
  listen = `127.0.0.1:${await freePort()}`;
  base = `http://${listen}`;
  configPath = join(tmp, "config.yaml");
  logPath = join(tmp, "nephele.log");
  writeConfig(SEEN);
  const made_key = execFileSync(nepheleBin, ["--output", "json", "keys", "create", "--role", "admin", "--config", configPath]);
  key = JSON.parse(made_key.toString()).key;
  await startServer(SEEN);
  await recorded(SEEN, 1);
  await create("web-1", "s-1vcpu-2gb", "sfo3", "team:web");
  await create("web-2", "s-1vcpu-1gb", "nyc1", "team:web");
  await recorded(SEEN, 3);
  await stopServer();
  await setSimClock(NOW);
  await startServer(NOW);
  await recorded(NOW, 3);

  await call("POST", "/api/v1/budgets", {
    name: "march-fleet", amount: "10.00", period: "month", enforce: "warn",
    thresholds: [{ at: "80%", basis: "forecast" }, { at: "1.00", basis: "actual" }],
  });
  await call("POST", "/api/v1/budgets", {
    name: "team-web", amount: "100.00", period: "quarter", enforce: "block",
    scope: { tags: ["team:web"] }, thresholds: [{ at: "50%", basis: "actual" }],
  });
  await until("march-fleet's forecast threshold in alarm", async () => {
    const { budgets } = await call("GET", "/api/v1/budgets");
    return budgets.find((b) => b.name === "march-fleet")?.thresholds[0].state === "alarm";
  });

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  await page.addInitScript((k) => sessionStorage.setItem("nephele.api-key", k), key);
  await page.goto(base + "/");
  await page.locator("#spend[data-loaded]").waitFor(LONG);
});

after(async () => {
  await browser?.close();
  server?.kill();
  sim?.kill();
});

test("each budget is a bar with its spent, forecast, amount and thresholds, as the API has them", async () => {
  const { budgets } = await call("GET", "/api/v1/budgets");
  assert.equal(budgets.length, 2);
  await page.locator("#budgets li.budget").nth(1).waitFor();
  for (const budget of budgets) {
    const item = page.locator(`#budgets li.budget[data-id="${budget.id}"]`);
    const f = budget.figures;
    assert.equal(await item.locator("h4").textContent(), budget.name);
    // The figures beside the bar, as text.
    assert.equal(await item.locator("dd.spent").textContent(), usd(f.spent));
    assert.equal(await item.locator("dd.forecast").textContent(), usd(f.forecast));
    assert.equal(await item.locator("dd.amount").textContent(), usd(budget.amount));
    assert.equal(await item.locator("dd.hourly").textContent(), usd(f.hourly));
    const line = await item.locator("p.hint").first().textContent();
    assert.ok(line.includes(`Period ${f.period} (${budget.period}`) && line.includes(`enforce ${budget.enforce}`), line);
    assert.deepEqual(await item.locator("ul.thresholds li").allTextContents(),
      budget.thresholds.map((t) => `${t.at} of ${t.basis} (${usd(t.level)}): ${t.state}`));
    // The bar, drawn to scale: every shape's position is its figure over the bar's maximum.
    const bar = item.locator("svg.budget-bar");
    const label = await bar.getAttribute("aria-label");
    for (const figure of [f.spent, f.forecast, budget.amount]) assert.ok(label.includes(usd(figure)), label);
    const max = Number(await bar.getAttribute("data-max"));
    const at = async (selector, attribute) => Number(await bar.locator(selector).getAttribute(attribute)) / 600 * max;
    const near = (drawn, figure, what) => assert.ok(Math.abs(drawn - Number(figure)) < 1e-6 * max + 1e-9,
      `${budget.name} ${what}: drawn at ${drawn}, the API says ${figure}`);
    near(await at("rect.spent", "width"), f.spent, "spent");
    near(await at("rect.forecast", "width"), f.forecast, "forecast");
    near(await at("line.amount", "x1"), budget.amount, "amount");
    const marks = bar.locator("g.threshold");
    assert.equal(await marks.count(), budget.thresholds.length);
    for (const [i, t] of budget.thresholds.entries()) {
      const mark = marks.nth(i);
      assert.equal(await mark.getAttribute("data-state"), t.state);
      assert.match(await mark.getAttribute("class"), new RegExp(`\\b${t.state}\\b`));
      near(Number(await mark.locator("line").getAttribute("x1")) / 600 * max, t.level, `threshold ${t.at}`);
    }
  }
  // What the scenario makes: the whole fleet's forecast passes 80% of $10, the team's does not
  // reach its half.
  const fleet = budgets.find((b) => b.name === "march-fleet");
  assert.deepEqual(fleet.thresholds.map((t) => t.state), ["alarm", "ok"]);
  assert.ok(Number(fleet.figures.forecast) > Number(fleet.amount), JSON.stringify(fleet.figures));
  const item = page.locator(`#budgets li.budget[data-id="${fleet.id}"]`);
  assert.equal(await item.locator("rect.forecast.over").count(), 1, "an overrun forecast is drawn as such");
  assert.equal(await item.locator("li.threshold-alarm").count(), 1);
  await item.screenshot({ path: join(shots, "spend-budget.png") });
});

async function showHistory({ step, from, to, group, tag }) {
  await page.locator("#history-step").selectOption(step);
  await page.locator("#history-from").fill(from);
  await page.locator("#history-to").fill(to);
  await page.locator("#history-group").selectOption(group);
  if (tag !== undefined) await page.locator("#history-tag").fill(tag);
  const answered = page.waitForResponse((r) => r.url().includes("/api/v1/costs/history?"));
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await answered;
  const groupBy = group === "tag" ? `tag:${tag}` : group;
  const query = `step=${step}&group_by=${encodeURIComponent(groupBy)}&from=${from}&to=${to}`;
  return [query, await call("GET", `/api/v1/costs/history?${query}`)];
}

// The chart's pieces against the API's rows: the same figures, heights to scale, stacked per
// period, estimated ones hatched; and the table beside it with the same rows.
async function checkChart(history) {
  const chart = page.locator("#history-chart svg.history");
  await chart.first().waitFor();
  assert.equal(await chart.count(), 1, "one currency, one chart");
  const top = Number(await chart.getAttribute("data-top"));
  const plotH = 260 - 12 - 34;
  const pieces = await chart.locator("g.piece").evaluateAll((gs) => gs.map((g) => ({
    start: g.dataset.start, group: g.dataset.group, amount: g.dataset.amount, exact: g.dataset.exact,
    estimated: g.classList.contains("estimated"), estimatedAmount: g.dataset.estimated,
    height: Number(g.querySelector("rect").getAttribute("height")),
    y: Number(g.querySelector("rect").getAttribute("y")),
    hatched: g.querySelectorAll("rect.estimated-part").length,
    hatch: g.querySelector("rect.estimated-part")?.getAttribute("fill") ?? null,
  })));
  assert.equal(pieces.length, history.rows.length);
  const key = (start, group) => `${Date.parse(start)} ${group}`;
  const drawn = new Map(pieces.map((p) => [key(p.start, p.group), p]));
  const totals = new Map();
  for (const row of history.rows) {
    const piece = drawn.get(key(row.start, row.group));
    assert.ok(piece, `no piece for ${row.start} ${row.group}`);
    assert.equal(piece.amount, row.amount);
    assert.equal(piece.exact, row.amount_exact);
    assert.equal(piece.estimated, row.estimated, `${row.start} ${row.group} estimated`);
    assert.equal(piece.hatched, row.estimated ? 1 : 0);
    if (row.estimated) {
      assert.equal(piece.estimatedAmount, row.estimated_amount);
      assert.match(piece.hatch, /^url\(#hatch-0\)$/);
    }
    assert.ok(Math.abs(piece.height / plotH * top - Number(row.amount_exact)) < 1e-9 + top * 1e-9,
      `${row.start} ${row.group}: drawn ${piece.height / plotH * top}, the API says ${row.amount_exact}`);
    const sum = (totals.get(Date.parse(row.start)) || 0) + Number(row.amount_exact);
    totals.set(Date.parse(row.start), sum);
  }
  // Stacked: each period's top piece reaches its total.
  for (const [start, total] of totals) {
    const highest = Math.min(...pieces.filter((p) => Date.parse(p.start) === start).map((p) => p.y));
    assert.ok(Math.abs((12 + plotH - highest) / plotH * top - total) < 1e-6, `period ${start}`);
  }
  const cells = await page.locator("#history-table tbody tr").evaluateAll((trs) =>
    trs.map((tr) => [...tr.children].map((c) => c.textContent)));
  assert.deepEqual(cells.map((c) => [c[1], c[2], c[3]]), history.rows.map((r) =>
    [r.group, usd(r.amount), r.estimated ? usd(r.estimated_amount) : "–"]));
  const groups = [...new Set(history.rows.map((r) => r.group))].sort();
  assert.deepEqual(await page.locator("#history-legend li[data-group]").evaluateAll((lis) =>
    lis.map((li) => li.dataset.group)), groups);
  return pieces;
}

test("the cost history chart by region, hour by hour, draws the API's rows, estimated hours hatched", async () => {
  const [query, history] = await showHistory({ step: "hour", from: "2026-03-10", to: "2026-03-11", group: "region" });
  await checkChart(history);
  // Hand-checked against the scenario: old-db's 10:00 and 11:00 are inferred (2 x $0.02679 an
  // hour), nyc1 from 12:00 and sfo3 from 12:00 were seen; nothing after 15:30 is recorded.
  const nyc = history.rows.filter((r) => r.group === "nyc1");
  assert.deepEqual(nyc.slice(0, 2).map((r) => [r.start, r.amount_exact, r.estimated]),
    [["2026-03-10T10:00:00Z", "0.02679", true], ["2026-03-10T11:00:00Z", "0.02679", true]]);
  assert.ok(nyc.slice(2).every((r) => !r.estimated), JSON.stringify(nyc));
  assert.deepEqual(history.rows.filter((r) => r.group === "sfo3").map((r) => r.start),
    ["2026-03-10T12:00:00Z", "2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z", "2026-03-10T15:00:00Z"]);
  assert.equal(await page.locator("#history-legend li.estimated").count(), 1, "the hatch is explained");
  assert.equal(await page.locator("#history-csv").getAttribute("href"), `/api/v1/costs/history.csv?${query}`);
  const label = await page.locator("#history-chart svg.history").getAttribute("aria-label");
  assert.match(label, /^Cost per hour by region in USD, .* partly estimated \(hatched\)/);
  await page.locator("#spend").screenshot({ path: join(shots, "spend.png") });
});

test("grouped by a tag and per day, the chart follows; the CSV it links to is the API's", async () => {
  const [, byTeam] = await showHistory({ step: "day", from: "2026-03-01", to: "2026-03-12", group: "tag", tag: "team" });
  await checkChart(byTeam);
  assert.deepEqual(byTeam.rows.map((r) => r.group).sort(), ["db", "web"]);
  assert.equal(await page.locator("#history-chart svg.history text.tick", { hasText: "2026-03-01" }).count(), 1);

  const [query] = await showHistory({ step: "hour", from: "2026-03-10", to: "2026-03-11", group: "type" });
  const download = page.waitForEvent("download");
  await page.getByRole("link", { name: "Download CSV" }).click();
  const file = await (await download).path();
  const expected = await call("GET", `/api/v1/costs/history.csv?${query}`);
  assert.equal(readFileSync(file, "utf8"), expected);
  assert.match(expected, /^start,end,group,currency,amount,amount_exact,estimated,estimated_amount\n/);
  assert.ok(!page.url().includes(key), "the key is never in a URL");
});

test("a bad history query names its field on the page", async () => {
  await page.locator("#history-group").selectOption("tag");
  await page.locator("#history-tag").fill("");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.locator("#spend-status.failed", { hasText: "group_by" }).waitFor();
  assert.equal(await page.locator("#history-tag").getAttribute("aria-invalid"), "true");
  await page.locator("#history-group").selectOption("account");
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.locator("#spend-status:not(.failed)", { hasText: "Cost history:" }).waitFor();
  assert.equal(await page.locator("#history-tag").getAttribute("aria-invalid"), null);
});

test("the bill beside the estimate: dosim's month_to_date_usage, Nephele's month to date, the difference", async () => {
  const { bills } = await call("GET", "/api/v1/costs");
  assert.deepEqual(bills.map((b) => [b.account, b.status]),
    [["digitalocean", "reconciled"], ["do-plugged", "estimate_only"]], JSON.stringify(bills));
  const bill = bills[0];
  const row = page.locator(`#bills tbody tr[data-account="${bill.account}"]`);
  await row.waitFor();
  const text = async (cls) => row.locator(`td.${cls}`).textContent();
  assert.equal(await row.locator("td.bill-status").textContent(), "reconciled");
  assert.equal(await text("cloud"), usd(bill.cloud.month_to_date_usage));
  assert.equal(await text("nephele"), usd(bill.nephele_month_to_date));
  assert.equal(await text("difference"), usd(bill.difference));
  assert.equal(await text("preview"), `${usd(bill.cloud.invoice_preview)} (${bill.cloud.invoice_period})`);
  // The scenario by hand: the same lifetimes on both sides agree to the cent.
  assert.equal(bill.difference, "0.00", JSON.stringify(bill));
  // The account whose cloud gives no bill says so, visibly, beside Nephele's own figure.
  const plugged = bills[1];
  const estimateOnly = page.locator(`#bills tbody tr[data-account="${plugged.account}"]`);
  assert.equal(await estimateOnly.locator("td.bill-status").textContent(), "estimate only");
  assert.equal(await estimateOnly.locator("td.cloud").textContent(), "estimate only");
  assert.equal(await estimateOnly.locator("td.nephele").textContent(), usd(plugged.nephele_month_to_date));
  assert.equal(await estimateOnly.locator("td.difference").textContent(), "–");
  assert.equal(await estimateOnly.locator("td:last-child").textContent(), plugged.note ?? "");
  await page.locator("#bills").screenshot({ path: join(shots, "spend-bills.png") });
});

test("an admin adds a budget from the page and deletes it; a bad amount is named", async () => {
  await page.locator("#budget-admin summary", { hasText: "Add a budget" }).click();
  await page.locator("#budget-form").waitFor();
  await page.locator("#budget-name").fill("page-made");
  await page.locator("#budget-amount").fill("ten");
  await page.getByRole("button", { name: "Add budget" }).click();
  await page.locator("#budget-result.failed", { hasText: "amount" }).waitFor();
  assert.equal(await page.locator("#budget-amount").getAttribute("aria-invalid"), "true");
  await page.locator("#budget-amount").fill("25.00");
  await page.locator("#budget-threshold").fill("50%, 90%");
  await page.locator("#budget-tags").fill("team:web");
  await page.locator("#budget-enforce").selectOption("block");
  await page.getByRole("button", { name: "Add budget" }).click();
  await page.locator("#budget-result.succeeded", { hasText: "page-made" }).waitFor();
  const made = (await call("GET", "/api/v1/budgets")).budgets.find((b) => b.name === "page-made");
  assert.ok(made, "the API has it");
  assert.deepEqual([made.amount, made.enforce, made.scope.tags, made.thresholds.map((t) => [t.at, t.basis])],
    ["25.00", "block", ["team:web"], [["50%", "forecast"], ["90%", "forecast"]]]);
  const item = page.locator(`#budgets li.budget[data-id="${made.id}"]`);
  await item.waitFor();
  await page.getByRole("button", { name: "Delete budget page-made" }).click();
  await page.locator("#confirm-yes").click();
  await item.waitFor({ state: "detached", timeout: 10_000 });
  assert.ok(!(await call("GET", "/api/v1/budgets")).budgets.some((b) => b.name === "page-made"));
});

test("a viewer sees the spend panel without the budget form, and it fits a phone", async () => {
  const { key: viewerKey } = await call("POST", "/api/v1/keys", { role: "viewer", description: "spend viewer" });
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  phone.on("pageerror", (error) => pageErrors.push(error.message));
  await phone.addInitScript((k) => sessionStorage.setItem("nephele.api-key", k), viewerKey);
  try {
    await phone.goto(base + "/");
    await phone.locator("#spend[data-loaded]").waitFor(LONG);
    assert.equal(await phone.locator("#budgets li.budget").count(), 2);
    assert.equal(await phone.locator("#budget-admin").isVisible(), false, "no budget form for a viewer");
    assert.equal(await phone.locator("#budgets button").count(), 0, "no delete for a viewer");
    await phone.locator("#history-chart svg.history").waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
    // Nothing in the panel spills past its own edge either (wide tables scroll in their boxes).
    const spills = await phone.evaluate(() => [...document.querySelectorAll("#spend > *, #budgets li")]
      .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "auto")
      .map((e) => `${e.tagName}#${e.id}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`));
    assert.deepEqual(spills, []);
    await phone.locator("#spend").screenshot({ path: join(shots, "spend-phone.png") });
  } finally {
    await phone.close();
  }
});

test("a create made by another client moves the budgets' figures in the open page, without a reload", async () => {
  const before = (await call("GET", "/api/v1/budgets")).budgets.find((b) => b.name === "team-web");
  await page.evaluate(() => { window.sameDocument = true; });
  await create("web-3", "s-1vcpu-2gb", "lon1", "team:web");
  const after = await until("team-web's forecast moved", async () => {
    const found = (await call("GET", "/api/v1/budgets")).budgets.find((b) => b.name === "team-web");
    return found.figures.forecast !== before.figures.forecast && found;
  });
  // Sooner than the panel's own 30 s poll: it follows the dashboard's live cost summary.
  const item = page.locator(`#budgets li.budget[data-id="${after.id}"]`);
  const began = Date.now();
  await item.locator("dd.forecast", { hasText: usd(after.figures.forecast) }).waitFor({ timeout: 15_000 });
  console.log(`the page showed the new forecast ${Date.now() - began} ms after the API had it`);
  assert.equal(await item.locator("dd.hourly").textContent(), usd(after.figures.hourly));
  assert.equal(await page.evaluate(() => window.sameDocument), true, "the page was not reloaded");
});

test("the spend panel's script raised no error", () => {
  assert.deepEqual(pageErrors, []);
});
