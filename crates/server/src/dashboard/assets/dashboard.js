// Nephele's dashboard: everything through the public API, with the key kept in this tab.
"use strict";

const KEY = "nephele.api-key";
const $ = (id) => document.getElementById(id);
const state = { instances: [], prices: {}, catalogues: {}, role: null };

// ---- The API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body, headers = {}) {
  const key = sessionStorage.getItem(KEY);
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

// ---- Small helpers -------------------------------------------------------------------------

function notice(text, isError = false) {
  const el = $("notice");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(select, values, keep = 0) {
  const chosen = select.value;
  while (select.options.length > keep) select.remove(keep);
  for (const [value, label] of values) select.add(new Option(label, value));
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

function money(amount, digits = 2) {
  const n = Number(amount);
  return Number.isFinite(n) ? `$${n.toFixed(digits)}` : "–";
}

function age(createdAt) {
  const seconds = Math.max(0, (Date.now() - Date.parse(createdAt)) / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

function confirmed(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-yes").onclick = $("confirm-no").onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
  });
}

// ---- Operations: started here, followed until done -----------------------------------------

async function follow(label, accepted) {
  const item = document.createElement("li");
  $("progress").prepend(item);
  const id = accepted && accepted.operation_id;
  if (!id) {
    item.textContent = `${label}: succeeded`;
    item.className = "succeeded";
    return "succeeded";
  }
  // Operations end by their own deadline; the page stops watching after ten minutes anyway.
  // While the event stream runs, an event about the operation wakes this loop at once.
  const until = Date.now() + 600_000;
  while (Date.now() < until) {
    const op = await api("GET", `/api/v1/operations/${encodeURIComponent(id)}`);
    item.textContent = `${label}: ${op.state}`;
    item.className = op.state;
    if (op.state === "succeeded" || op.state === "failed") {
      if (op.error) item.textContent += ` (${op.error.message || op.error.code})`;
      loadOperations();
      return op.state;
    }
    await operationEvent(id, live.connected ? 5000 : 500);
  }
  item.textContent = `${label}: still under way; see the operations table`;
  return "running";
}

// ---- Fleet and costs -----------------------------------------------------------------------

async function loadPrices(provider) {
  if (state.prices[provider]) return;
  const { instance_types } = await api("GET", `/api/v1/providers/${provider}/instance-types`);
  state.prices[provider] = Object.fromEntries(instance_types.map((t) => [t.id, t]));
  state.catalogues[provider] = { types: instance_types };
}

async function loadFleet(fresh = false) {
  const headers = fresh ? { "Cache-Control": "no-cache" } : {};
  const list = await api("GET", "/api/v1/instances", undefined, headers);
  state.instances = list.instances;
  const providers = [...new Set(list.instances.map((i) => i.provider))];
  await Promise.all(providers.map((p) => loadPrices(p).catch(() => {})));
  fill($("filter-region"), [...new Set(list.instances.map((i) => i.region))].sort().map((r) => [r, r]), 1);
  renderFleet();
  if (list.errors.length) notice(list.errors.map((e) => `${e.provider}: ${e.message}`).join("; "), true);
}

function matches(instance) {
  const text = $("search").value.trim().toLowerCase();
  const provider = $("filter-provider").value;
  const status = $("filter-status").value;
  const region = $("filter-region").value;
  if (provider && instance.provider !== provider) return false;
  if (status && instance.status !== status) return false;
  if (region && instance.region !== region) return false;
  if (!text) return true;
  return [instance.name, instance.id, instance.public_ip, instance.private_ip]
    .some((v) => v && v.toLowerCase().includes(text));
}

// An instance's hourly list price: its region's, where prices differ by region.
function hourly(instance) {
  const type = (state.prices[instance.provider] || {})[instance.type];
  if (!type) return null;
  if (type.regional_prices) return (type.regional_prices[instance.region] || {}).hourly || null;
  return type.price_hourly;
}

function actionButton(label, instance, run) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-label", `${label} ${instance.name}`);
  button.onclick = run;
  return button;
}

// Rows drawn at most; the count says how many match, and the filters narrow them.
const MAX_ROWS = 500;

function renderFleet() {
  const body = $("fleet").tBodies[0];
  const shown = state.instances.filter(matches);
  const rows = shown.slice(0, MAX_ROWS).map((instance) => {
    const row = document.createElement("tr");
    row.dataset.id = instance.id;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = instance.name;
    row.appendChild(name);
    cell(row, instance.provider);
    cell(row, instance.status, `status-${instance.status}`);
    cell(row, instance.type);
    cell(row, instance.region);
    cell(row, instance.public_ip || instance.private_ip || "–");
    cell(row, age(instance.created_at));
    cell(row, hourly(instance) ? money(hourly(instance), 4) : "–", "num");
    const actions = document.createElement("div");
    actions.className = "row";
    const power = instance.status === "stopped" ? ["Power on", "power_on"] : ["Power off", "power_off"];
    actions.append(
      actionButton(power[0], instance, () => powerAction(instance, power[1], power[0])),
      actionButton("Reboot", instance, () => powerAction(instance, "reboot", "Reboot")),
      actionButton("Delete", instance, () => remove(instance)),
    );
    actions.lastChild.className = "danger";
    cell(row, "").appendChild(actions);
    return row;
  });
  body.replaceChildren(...rows);
  $("fleet-count").textContent = `${shown.length} of ${state.instances.length} instances` +
    (shown.length > MAX_ROWS ? ` (the first ${MAX_ROWS} shown; search or filter for the rest)` : "");
}

async function loadCosts() {
  const costs = await api("GET", "/api/v1/costs");
  $("total-instances").textContent = costs.instances;
  $("total-hourly").textContent = money(costs.run_rate.hourly, 4);
  $("total-monthly").textContent = money(costs.run_rate.monthly);
  $("total-mtd").textContent = money(costs.month_to_date);
  for (const [table, rows, key] of [["by-provider", costs.by_provider, "provider"], ["by-region", costs.by_region, "region"]]) {
    $(table).tBodies[0].replaceChildren(...rows.map((r) => {
      const row = document.createElement("tr");
      cell(row, r[key]);
      cell(row, r.instances, "num");
      cell(row, money(r.hourly, 4), "num");
      cell(row, money(r.monthly), "num");
      return row;
    }));
  }
}

async function loadOperations() {
  const { operations } = await api("GET", "/api/v1/operations?limit=20");
  $("operations").tBodies[0].replaceChildren(...operations.map((op) => {
    const row = document.createElement("tr");
    cell(row, op.created_at);
    cell(row, op.provider);
    cell(row, op.kind);
    cell(row, op.state, op.state);
    cell(row, op.attempts, "num");
    return row;
  }));
}

async function loadAudit() {
  try {
    const { entries } = await api("GET", "/api/v1/audit?limit=20");
    $("audit").tBodies[0].replaceChildren(...entries.map((e) => {
      const row = document.createElement("tr");
      cell(row, e.at);
      cell(row, e.principal);
      cell(row, `${e.method} ${e.path}`);
      cell(row, e.status, "num");
      cell(row, e.outcome);
      return row;
    }));
    $("audit-section").hidden = false;
  } catch (e) {
    // Only admins read the audit log; for other keys the section stays hidden.
    $("audit-section").hidden = true;
  }
}

// ---- Webhooks (admins): list, add, test, remove, and one webhook's delivery log --------------

async function loadWebhooks() {
  let webhooks;
  try {
    ({ webhooks } = await api("GET", "/api/v1/webhooks"));
  } catch (e) {
    // Only admins manage webhooks; for other keys the section stays hidden.
    $("webhooks-section").hidden = true;
    return;
  }
  $("webhooks-section").hidden = false;
  $("webhooks").tBodies[0].replaceChildren(...webhooks.map((hook) => {
    const row = document.createElement("tr");
    row.dataset.id = hook.id;
    const url = document.createElement("th");
    url.scope = "row";
    url.textContent = hook.url;
    row.appendChild(url);
    cell(row, hook.event_types ? hook.event_types.join(", ") : "every type");
    cell(row, hook.enabled ? "yes" : `no${hook.disabled_reason ? ` (${hook.disabled_reason})` : ""}`);
    cell(row, hook.created_at);
    const actions = document.createElement("div");
    actions.className = "row";
    const named = (label, run) => actionButton(label, { name: hook.url }, run);
    actions.append(
      named("Deliveries", () => showDeliveries(hook).catch((e) => notice(e.message, true))),
      named("Send test", () => testWebhook(hook)),
      named("Remove", () => removeWebhook(hook)),
    );
    actions.lastChild.className = "danger";
    cell(row, "").appendChild(actions);
    return row;
  }));
  if (live.deliveriesOf && !webhooks.some((h) => h.id === live.deliveriesOf.id)) {
    live.deliveriesOf = null;
    $("deliveries-section").hidden = true;
  }
}

async function onAddWebhook(event) {
  event.preventDefault();
  const out = $("webhook-result");
  const types = $("webhook-types").value.split(",").map((t) => t.trim()).filter(Boolean);
  const body = { url: $("webhook-url").value.trim() };
  if (types.length) body.event_types = types;
  try {
    const made = await api("POST", "/api/v1/webhooks", body);
    // The secret is shown this once; the page keeps it nowhere else.
    const secret = document.createElement("code");
    secret.id = "webhook-secret";
    secret.textContent = made.secret;
    out.replaceChildren(`Added ${made.url}. Its signing secret, shown only now: `, secret);
    out.className = "succeeded";
    $("webhook-url").value = $("webhook-types").value = "";
    await loadWebhooks();
  } catch (err) {
    out.textContent = err.message;
    out.className = "failed";
  }
}

async function testWebhook(hook) {
  try {
    await api("POST", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/test`);
    notice(`A test event is on its way to ${hook.url}.`);
    await showDeliveries(hook);
  } catch (e) {
    notice(`Test ${hook.url}: ${e.message}`, true);
  }
}

async function removeWebhook(hook) {
  if (!(await confirmed(`Remove the webhook to ${hook.url}? It receives nothing more.`))) return;
  try {
    await api("DELETE", `/api/v1/webhooks/${encodeURIComponent(hook.id)}`);
    await loadWebhooks();
  } catch (e) {
    notice(`Remove ${hook.url}: ${e.message}`, true);
  }
}

async function showDeliveries(hook) {
  live.deliveriesOf = hook;
  const { deliveries } = await api("GET", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/deliveries?limit=50`);
  $("deliveries-title").textContent = `Deliveries to ${hook.url}`;
  $("deliveries").tBodies[0].replaceChildren(...deliveries.map((d) => {
    const row = document.createElement("tr");
    cell(row, d.last_attempt_at || d.created_at);
    cell(row, d.event_type);
    cell(row, d.state, d.state);
    cell(row, d.attempts, "num");
    cell(row, d.last_status ?? "–", "num");
    cell(row, d.last_error || d.last_outcome || "");
    return row;
  }));
  $("deliveries-section").hidden = false;
}

// ---- Changes ---------------------------------------------------------------------------------

// The fleet read again (`fresh`: from the providers, not the inventory's copy), then costs and
// operations.
async function reload(fresh) {
  await loadFleet(fresh);
  await Promise.all([loadCosts(), loadOperations()]);
}

async function powerAction(instance, type, label) {
  if (!(await confirmed(`${label} ${instance.name} (${instance.provider})?`))) return;
  try {
    const path = `/api/v1/providers/${instance.provider}/instances/${encodeURIComponent(instance.id)}/actions`;
    const accepted = await api("POST", path, { type });
    await follow(`${label} ${instance.name}`, accepted);
    await reload(true);
  } catch (e) {
    notice(`${label} ${instance.name}: ${e.message}`, true);
  }
}

async function remove(instance) {
  if (!(await confirmed(`Delete ${instance.name} (${instance.provider})? This cannot be undone.`))) return;
  try {
    const path = `/api/v1/providers/${instance.provider}/instances/${encodeURIComponent(instance.id)}`;
    const accepted = await api("DELETE", path);
    await follow(`Delete ${instance.name}`, accepted);
    await reload(true);
  } catch (e) {
    notice(`Delete ${instance.name}: ${e.message}`, true);
  }
}

// ---- Forms: catalogue pickers, estimates, create -------------------------------------------

async function catalogue(provider) {
  await loadPrices(provider);
  const entry = state.catalogues[provider];
  if (!entry.regions) {
    const [{ regions }, { images }] = await Promise.all([
      api("GET", `/api/v1/providers/${provider}/regions`),
      api("GET", `/api/v1/providers/${provider}/images`),
    ]);
    entry.regions = regions.filter((r) => r.available);
    entry.images = images.filter((i) => i.slug);
  }
  return entry;
}

async function pickers(prefix, withImages) {
  const provider = $(`${prefix}-provider`).value;
  if (!provider) return;
  const { types, regions, images } = await catalogue(provider);
  fill($(`${prefix}-type`), types.filter((t) => t.available)
    .map((t) => [t.id, `${t.id} (${t.vcpus} vCPU, ${t.memory_mib} MiB, ${money(t.price_monthly)}/mo)`]));
  fill($(`${prefix}-region`), regions.map((r) => [r.id, `${r.id} (${r.display_name})`]));
  if (withImages) fill($(`${prefix}-image`), images.map((i) => [i.slug, i.name]));
}

async function estimate(provider, body) {
  return api("POST", `/api/v1/providers/${provider}/cost-estimate`, body);
}

async function onEstimate(event) {
  event.preventDefault();
  const out = $("estimate-result");
  try {
    const e = await estimate($("estimate-provider").value, {
      instance_type: $("estimate-type").value,
      region: $("estimate-region").value,
      duration: $("estimate-duration").value.trim(),
      count: Number($("estimate-count").value),
    });
    out.textContent = `${e.count} × ${e.instance_type} in ${e.region} for ${e.duration}: ${money(e.total)} ${e.currency} (${e.billing_policy})`;
    out.className = "succeeded";
  } catch (err) {
    out.textContent = err.message;
    out.className = "failed";
  }
}

async function onCreateEstimate(event) {
  event.preventDefault();
  const quote = $("create-quote");
  $("create-confirm").disabled = true;
  try {
    const provider = $("create-provider").value;
    const body = { instance_type: $("create-type").value, region: $("create-region").value };
    const [day, month] = await Promise.all([
      estimate(provider, { ...body, duration: "1d" }),
      estimate(provider, { ...body, duration: "1mo" }),
    ]);
    quote.textContent = `${body.instance_type} in ${body.region}: ${money(day.price_hourly, 5)} per hour, ${money(day.total)} per day, ${money(month.total)} per month. Create it?`;
    quote.className = "";
    $("create-confirm").disabled = false;
    $("create-confirm").focus();
  } catch (err) {
    quote.textContent = err.message;
    quote.className = "failed";
  }
}

async function onCreate() {
  const provider = $("create-provider").value;
  const name = $("create-name").value.trim();
  $("create-confirm").disabled = true;
  try {
    const accepted = await api("POST", `/api/v1/providers/${provider}/instances`, {
      name,
      type: $("create-type").value,
      region: $("create-region").value,
      image_id: $("create-image").value,
    }, { "Idempotency-Key": crypto.randomUUID() });
    $("create-quote").textContent = `Creating ${name}…`;
    const outcome = await follow(`Create ${name}`, accepted);
    $("create-quote").textContent = `Create ${name}: ${outcome}`;
    await reload(true);
  } catch (err) {
    $("create-quote").textContent = err.message;
    $("create-quote").className = "failed";
  }
}

// ---- Live updates: the event stream, read with fetch() so the key stays in a header ----------
// (EventSource cannot send one.) A cut stream resumes with Last-Event-ID; while there is none,
// the page polls instead.

const POLL_MS = 10_000;
const live = { lastId: null, connected: false, abort: null, poll: null, waiters: new Map(), soon: null, costs: null,
  deliveriesOf: null };

// Resolves when an event about operation `id` arrives, or after `ms`.
function operationEvent(id, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { live.waiters.delete(id); resolve(); }, ms);
    live.waiters.set(id, () => { clearTimeout(timer); live.waiters.delete(id); resolve(); });
  });
}

// Read again, once for a burst of events: `fresh` asks the providers (after an operation ends)
// rather than the inventory's copy.
function refreshSoon(fresh) {
  clearTimeout(live.soon);
  live.soon = setTimeout(() => reload(fresh).catch((e) => notice(e.message, true)), 300);
}

// An event's `data` is the operation or instance as the API shows it (a deleted instance's may be
// its id alone); `source` is its account.
function onEvent(type, source, data) {
  const [, kind, change] = /^nephele\.([a-z_]+)\.([a-z_]+)$/.exec(type) || [];
  if (kind === "operation") {
    const wake = data && live.waiters.get(data.id);
    if (wake) wake();
    if (change === "succeeded" || change === "failed") refreshSoon(true);
    else loadOperations().catch(() => {});
  } else if (kind === "webhook") {
    loadWebhooks().then(() => live.deliveriesOf && showDeliveries(live.deliveriesOf)).catch(() => {});
  } else if (kind === "instance" && data && data.id) {
    const at = state.instances.findIndex((i) => i.id === data.id && i.provider === source);
    if (change === "deleted") {
      if (at >= 0) state.instances.splice(at, 1);
    } else if (data.name) {
      if (at >= 0) state.instances[at] = data;
      else state.instances.push(data);
    }
    renderFleet();
    clearTimeout(live.costs);
    live.costs = setTimeout(() => loadCosts().catch(() => {}), 300);
  }
}

// One frame of text/event-stream: `id:`, `event:` and `data:` lines; `:` starts a comment.
function onFrame(frame) {
  let id = null, type = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === 0) continue;
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (id !== null) live.lastId = id;
  if (!data.length) return;
  if (type === "error") throw new Error(`event stream: ${data.join("\n")}`);
  let parsed = null;
  try { parsed = JSON.parse(data.join("\n")); } catch { return; }
  onEvent(type, parsed.source, parsed.data ?? null);
}

function polling(on) {
  if (on !== (live.poll !== null)) {
    clearInterval(live.poll);
    live.poll = on ? setInterval(() => reload(false).catch(() => {}), POLL_MS) : null;
  }
  $("live").textContent = on ? `Updating every ${POLL_MS / 1000} s` : "Live: updates as they happen";
}

// At most this many characters wait for the end of a frame (an event is far smaller).
const MAX_FRAME = 1 << 20;

async function readStream(signal) {
  const headers = { Accept: "text/event-stream" };
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = `Bearer ${key}`;
  if (live.lastId) headers["Last-Event-ID"] = live.lastId;
  const response = await fetch("/api/v1/events/stream", { headers, signal, cache: "no-store" });
  if (response.status === 410) {
    // Events after our cursor are gone: start afresh and read everything again.
    live.lastId = null;
    throw new Error("event cursor expired");
  }
  if (!response.ok || !response.body) throw new ApiError(response.status, {});
  const fresh = !live.connected && !live.lastId;
  live.connected = true;
  polling(false);
  // The stream's start is fixed once its headers arrive: what happened before, a read shows.
  if (fresh) refreshSoon(false);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // CR LF and CR end lines too (a CR last in a chunk waits: an LF may follow).
    buffer = (buffer + value).replace(/\r\n/g, "\n").replace(/\r(?!$)/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      onFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
    if (buffer.length > MAX_FRAME) throw new Error("event stream: a frame too long");
  }
}

// Follows the stream until the page goes or the key is refused; a cut is retried after a pause
// growing from 1 s to 30 s (reset by a stream that was read), polling meanwhile.
async function followEvents() {
  live.abort?.abort();
  const abort = new AbortController();
  live.abort = abort;
  let pause = 1000;
  while (!abort.signal.aborted) {
    try {
      await readStream(abort.signal);
    } catch (e) {
      if (abort.signal.aborted) return;
      if (e.status === 401 || e.status === 403 || e.status === 404) {
        live.connected = false;
        polling(true);
        return;
      }
    }
    pause = live.connected ? 1000 : Math.min(pause * 2, 30_000);
    live.connected = false;
    polling(true);
    await new Promise((r) => setTimeout(r, pause));
  }
}

// ---- Start -----------------------------------------------------------------------------------

async function start() {
  try {
    const { providers } = await api("GET", "/api/v1/providers");
    const names = providers.map((p) => [p.name, p.display_name || p.name]);
    fill($("filter-provider"), names, 1);
    for (const id of ["create-provider", "estimate-provider"]) fill($(id), names);
    notice(sessionStorage.getItem(KEY) ? "Signed in with your API key." : "");
    await Promise.all([loadFleet(), loadCosts(), loadOperations(), loadAudit(), loadWebhooks(),
      pickers("create", true), pickers("estimate", false)]);
    followEvents();
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      notice("Enter an API key to see the fleet.", true);
      $("api-key").focus();
    } else {
      notice(`Cannot load the fleet: ${e.message}`, true);
    }
    $("fleet-count").textContent = "";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  fill($("filter-status"), ["provisioning", "running", "stopped", "archived", "unknown"].map((s) => [s, s]), 1);
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY, key);
    $("api-key").value = "";
    start();
  });
  $("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.reload();
  });
  for (const id of ["search", "filter-provider", "filter-status", "filter-region"]) {
    $(id).addEventListener("input", renderFleet);
  }
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("refresh").addEventListener("click", () => reload(true).catch((e) => notice(e.message, true)));
  $("create-provider").addEventListener("change", () => pickers("create", true));
  $("estimate-provider").addEventListener("change", () => pickers("estimate", false));
  for (const id of ["create-type", "create-region"]) {
    $(id).addEventListener("change", () => { $("create-confirm").disabled = true; });
  }
  $("create-form").addEventListener("submit", onCreateEstimate);
  $("create-confirm").addEventListener("click", onCreate);
  $("estimate-form").addEventListener("submit", onEstimate);
  $("webhook-form").addEventListener("submit", onAddWebhook);
  $("deliveries-refresh").addEventListener("click", () =>
    live.deliveriesOf && showDeliveries(live.deliveriesOf).catch((e) => notice(e.message, true)));
  start();
});

// ---- For the other scripts of this page (spend.js): the API helper and the key's name --------
window.nephele = Object.freeze({ api, ApiError, KEY, notice, confirmed });
