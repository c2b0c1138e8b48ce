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
  for (let polls = 0; polls < 1200; polls++) {
    const op = await api("GET", `/api/v1/operations/${encodeURIComponent(id)}`);
    item.textContent = `${label}: ${op.state}`;
    item.className = op.state;
    if (op.state === "succeeded" || op.state === "failed") {
      if (op.error) item.textContent += ` (${op.error.message || op.error.code})`;
      loadOperations();
      return op.state;
    }
    await new Promise((r) => setTimeout(r, 500));
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

// ---- Changes ---------------------------------------------------------------------------------

async function refreshAfterChange() {
  await loadFleet(true);
  await Promise.all([loadCosts(), loadOperations()]);
}

async function powerAction(instance, type, label) {
  if (!(await confirmed(`${label} ${instance.name} (${instance.provider})?`))) return;
  try {
    const path = `/api/v1/providers/${instance.provider}/instances/${encodeURIComponent(instance.id)}/actions`;
    const accepted = await api("POST", path, { type });
    await follow(`${label} ${instance.name}`, accepted);
    await refreshAfterChange();
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
    await refreshAfterChange();
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
    await refreshAfterChange();
  } catch (err) {
    $("create-quote").textContent = err.message;
    $("create-quote").className = "failed";
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
    await Promise.all([loadFleet(), loadCosts(), loadOperations(), loadAudit(),
      pickers("create", true), pickers("estimate", false)]);
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
  $("refresh").addEventListener("click", () => refreshAfterChange().catch((e) => notice(e.message, true)));
  $("create-provider").addEventListener("change", () => pickers("create", true));
  $("estimate-provider").addEventListener("change", () => pickers("estimate", false));
  for (const id of ["create-type", "create-region"]) {
    $(id).addEventListener("change", () => { $("create-confirm").disabled = true; });
  }
  $("create-form").addEventListener("submit", onCreateEstimate);
  $("create-confirm").addEventListener("click", onCreate);
  $("estimate-form").addEventListener("submit", onEstimate);
  start();
});
