// Nephele's dashboard: everything through the public API, with the key kept in this tab.
"use strict";

const KEY = "nephele.api-key";
const $ = (id) => document.getElementById(id);
const state = { instances: [], prices: {}, catalogues: {}, role: null, providers: [], regions: new Set(), costs: null,
  resources: [], detail: null, admin: null };

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

// ---- Paging: every list is read a page at a time (`limit`, then `cursor` = the last `next`) ----

class Pager {
  constructor(prefix, load) {
    this.prefix = prefix;
    this.load = load;
    this.cursors = [null];
    this.next = null;
  }

  get number() { return this.cursors.length; }

  // The query of the page shown: its size and where it starts.
  query() {
    const q = new URLSearchParams({ limit: $(`${this.prefix}-page-size`).value });
    const cursor = this.cursors[this.cursors.length - 1];
    if (cursor) q.set("cursor", cursor);
    return q;
  }

  // Back to the first page (a filter changed).
  reset() { this.cursors = [null]; }

  // A page arrived: `next` is where the one after it starts, if there is one.
  got(next) {
    this.next = next || null;
    $(`${this.prefix}-next`).disabled = !this.next;
    $(`${this.prefix}-prev`).disabled = this.cursors.length === 1;
    $(`${this.prefix}-page`).textContent = `Page ${this.number}`;
  }

  wire() {
    const run = () => this.load().catch((e) => notice(e.message, true));
    $(`${this.prefix}-next`).addEventListener("click", () => {
      if (!this.next) return;
      this.cursors.push(this.next);
      run();
    });
    $(`${this.prefix}-prev`).addEventListener("click", () => {
      if (this.cursors.length > 1) this.cursors.pop();
      run();
    });
    $(`${this.prefix}-page-size`).addEventListener("change", () => { this.reset(); run(); });
  }
}

// A table being read again carries aria-busy until the answer is drawn.
async function busy(table, work) {
  $(table).setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    $(table).setAttribute("aria-busy", "false");
  }
}

const fleetPager = new Pager("fleet", () => loadFleet());

// One page of the fleet: of one account (its own list) or of all, with the status and region
// filters applied by the API; the search narrows the page drawn.
async function loadFleet(fresh = false) {
  return busy("fleet", async () => {
    const headers = fresh ? { "Cache-Control": "no-cache" } : {};
    const account = $("filter-provider").value;
    const q = fleetPager.query();
    for (const [key, id] of [["status", "filter-status"], ["region", "filter-region"]]) {
      if ($(id).value) q.set(key, $(id).value);
    }
    const path = account ? `/api/v1/providers/${encodeURIComponent(account)}/instances?${q}` : `/api/v1/instances?${q}`;
    let list;
    try {
      list = await api("GET", path, undefined, headers);
    } catch (e) {
      // A cursor from before a restart (or of a list gone) starts the list again.
      if (e.status !== 422 || !fleetPager.cursors[1]) throw e;
      fleetPager.reset();
      list = await api("GET", `${path.split("?")[0]}?${fleetPager.query()}`, undefined, headers);
    }
    state.instances = list.instances;
    fleetPager.got(list.next);
    const providers = [...new Set(list.instances.map((i) => i.provider))];
    await Promise.all(providers.map((p) => loadPrices(p).catch(() => {})));
    for (const i of list.instances) state.regions.add(i.region);
    fillRegions();
    renderFleet();
    if (list.errors.length) notice(list.errors.map((e) => `${e.provider}: ${e.message}`).join("; "), true);
  });
}

function fillRegions() {
  fill($("filter-region"), [...state.regions].sort().map((r) => [r, r]), 1);
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

function renderFleet() {
  const body = $("fleet").tBodies[0];
  const shown = state.instances.filter(matches);
  const rows = shown.map((instance) => {
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
      actionButton("Details", instance, () => showDetail(instance).catch((e) => notice(e.message, true))),
      actionButton("Delete", instance, () => remove(instance)),
    );
    actions.lastChild.className = "danger";
    cell(row, "").appendChild(actions);
    return row;
  });
  body.replaceChildren(...rows);
  const paged = fleetPager.number > 1 || fleetPager.next;
  $("fleet-count").textContent = `${shown.length} of ${state.instances.length} instances` +
    (paged ? ` on page ${fleetPager.number}${fleetPager.next ? "; more on the next page" : ""}` : "") +
    ($("search").value.trim() ? " (the search looks in this page)" : "");
}

async function loadCosts() {
  state.costs = await api("GET", "/api/v1/costs");
  for (const r of state.costs.by_region) state.regions.add(r.region);
  fillRegions();
  renderCosts();
}

// The costs of every account, or of the one the fleet's account filter names. (The API splits
// the run-rate by account and by region, not by both: the regions stay every account's.)
function renderCosts() {
  const costs = state.costs;
  if (!costs) return;
  const account = $("filter-provider").value;
  const zero = { instances: 0, hourly: "0", monthly: "0", month_to_date: "0" };
  const total = account ? (costs.by_provider.find((r) => r.provider === account) || zero)
    : { instances: costs.instances, hourly: costs.run_rate.hourly, monthly: costs.run_rate.monthly,
      month_to_date: costs.month_to_date };
  $("summary-scope").textContent = account ? `Account ${account}` : "All accounts";
  $("by-region-caption").textContent = account ? "By region (all accounts)" : "By region";
  $("total-instances").textContent = total.instances;
  $("total-hourly").textContent = money(total.hourly, 4);
  $("total-monthly").textContent = money(total.monthly);
  $("total-mtd").textContent = money(total.month_to_date);
  const byProvider = costs.by_provider.filter((r) => !account || r.provider === account);
  for (const [table, rows, key] of [["by-provider", byProvider, "provider"], ["by-region", costs.by_region, "region"]]) {
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
  // A fresh read refreshed the inventory the rest is read from.
  await loadResources(false);
  await Promise.all([loadCosts(), loadOperations(), loadWaste()]);
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

// An instance's delete: what hangs on it (attached volumes, its snapshots, assigned reserved IPs)
// may go with it in the same operation, each when chosen; what is not chosen stays, and costs.
async function remove(instance) {
  const hangs = await attachments(instance).catch(() => ({}));
  const choices = [
    ...(hangs.volumes || []).map((v) => ["with_volumes", v.id, `Delete the volume ${v.name} (${v.size_gib} GiB) with it`]),
    ...(hangs.snapshots || []).map((v) => ["with_snapshots", v.id, `Delete the snapshot ${v.name} with it`]),
    ...(hangs.ips || []).map((ip) => ["with_reserved_ips", ip.id, `Release the reserved IP ${ip.address} with it`]),
  ].map(([param, id, label], n) => ({ name: `with-${n}`, label, type: "checkbox", optional: true, param, id }));
  const taken = {};
  if (choices.length) {
    const answer = await ask(`Delete ${instance.name}: what goes with it?`, choices);
    if (!answer) return;
    for (const c of choices.filter((c) => answer[c.name])) (taken[c.param] ||= []).push(c.id);
  }
  const count = Object.values(taken).flat().length;
  const left = choices.length - count;
  if (!(await confirmed(`Delete ${instance.name} (${instance.provider})${count ? ` and the ${count} chosen with it` : ""}? ` +
    `This cannot be undone.${left ? ` The ${left} not chosen stay, and keep costing.` : ""}`))) return;
  try {
    const query = new URLSearchParams(Object.entries(taken).map(([param, ids]) => [param, ids.join(",")])).toString();
    const path = `/api/v1/providers/${instance.provider}/instances/${encodeURIComponent(instance.id)}${query ? `?${query}` : ""}`;
    const accepted = await api("DELETE", path, undefined, { "Idempotency-Key": crypto.randomUUID() });
    await follow(`Delete ${instance.name}`, accepted);
    await reload(true);
  } catch (e) {
    notice(`Delete ${instance.name}: ${e.message}`, true);
  }
}

// ---- Asking for values: a small form in a dialog ---------------------------------------------

// `fields`: [{name, label, type ("text", "number", "select", "textarea", "checkbox"), options, value,
// min, optional}];
// resolves to the values by name, or null when cancelled.
function ask(title, fields) {
  const dialog = $("ask");
  $("ask-title").textContent = title;
  $("ask-fields").replaceChildren(...fields.flatMap((f) => field(`ask-${f.name}`, f)));
  return new Promise((resolve) => {
    const done = (answer) => {
      $("ask-form").onsubmit = $("ask-cancel").onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    $("ask-form").onsubmit = (event) => {
      event.preventDefault();
      done(Object.fromEntries(fields.map((f) => [f.name, value(`ask-${f.name}`, f)])));
    };
    $("ask-cancel").onclick = () => done(null);
    dialog.oncancel = () => done(null);
    dialog.showModal();
  });
}

// A labelled control for `f` (see `ask`), with the id `id`.
function field(id, f) {
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = f.label;
  let input;
  if (f.type === "select") {
    input = document.createElement("select");
    for (const [v, l] of f.options) input.add(new Option(l, v));
  } else if (f.type === "textarea") {
    input = document.createElement("textarea");
  } else if (f.type === "checkbox") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = Boolean(f.value);
    input.id = id;
    return [label, input];
  } else {
    input = document.createElement("input");
    input.type = f.type || "text";
    if (f.min !== undefined) input.min = f.min;
  }
  input.id = id;
  input.required = !f.optional;
  if (f.placeholder) input.placeholder = f.placeholder;
  if (f.value !== undefined) input.value = f.value;
  return [label, input];
}

function value(id, f) {
  if (f.type === "checkbox") return $(id).checked;
  const raw = $(id).value.trim();
  if (f.type === "number") return raw === "" ? undefined : Number(raw);
  return raw === "" ? undefined : raw;
}

// ---- Resources: volumes, snapshots, SSH keys, firewalls, reserved IPs, VPCs --------------------

const yesNo = (b) => (b ? "yes" : "no");
const NAME = { name: "name", label: "Name", placeholder: "data-1" };

// Per kind: its columns, the row's name, its actions and its create form.
const KINDS = {
  volumes: {
    one: "volume",
    columns: [["Account", (r) => r.provider], ["Region", (r) => r.region], ["Size", (r) => `${r.size_gib} GiB`],
      ["Status", (r) => r.status], ["Attached to", (r) => (r.attached_to.length ? r.attached_to.join(", ") : "nothing")],
      ["Age", (r) => age(r.created_at)]],
    actions: (r) => [
      r.attached_to.length
        ? ["Detach", () => resourceAction(r, `Detach ${r.name}`, { type: "detach", instance_id: r.attached_to[0] },
          `Detach ${r.name} from instance ${r.attached_to[0]}?`)]
        : ["Attach", () => attachVolume(r)],
      ["Resize", () => resizeVolume(r)],
      ["Snapshot", () => snapshotVolume(r)],
    ],
    create: { button: "Create volume", fields: [NAME,
      { name: "size_gib", label: "Size (GiB)", type: "number", min: 1, value: "100" },
      { name: "region", label: "Region", optional: true, placeholder: "the account's default" }] },
  },
  snapshots: {
    one: "snapshot",
    columns: [["Account", (r) => r.provider], ["Of", (r) => `${r.source_kind} ${r.source_id}`],
      ["Regions", (r) => r.regions.join(", ")], ["Size", (r) => `${r.size_gib} GiB`], ["Status", (r) => r.status],
      ["Age", (r) => age(r.created_at)]],
    actions: () => [],
    create: { button: "Take snapshot", fields: [NAME,
      { name: "source_kind", label: "Of a", type: "select", options: [["volume", "volume"], ["instance", "instance"]] },
      { name: "source_id", label: "Its id" }] },
  },
  "ssh-keys": {
    one: "SSH key",
    columns: [["Account", (r) => r.provider], ["Fingerprint", (r) => r.fingerprint]],
    actions: () => [],
    create: { button: "Import SSH key", fields: [{ ...NAME, placeholder: "laptop" },
      { name: "public_key", label: "Public key", type: "textarea", placeholder: "ssh-ed25519 AAAA… you@host" }] },
  },
  firewalls: {
    one: "firewall",
    columns: [["Account", (r) => r.provider], ["Status", (r) => r.status],
      ["Inbound", (r) => r.inbound.map(ruleText).join("; ") || "none"],
      ["Outbound", (r) => r.outbound.map(ruleText).join("; ") || "none"],
      ["Instances", (r) => r.instance_ids.join(", ") || "none"], ["Tags", (r) => r.tags.join(", ")]],
    actions: (r) => [
      ["Allow inbound", () => allowInbound(r)],
      ...(r.inbound.length ? [["Clear inbound", () => resourceAction(r, `Clear inbound of ${r.name}`,
        { type: "set_rules", inbound: [], outbound: r.outbound }, `Remove every inbound rule of ${r.name}?`)]] : []),
      ["Add instance", () => firewallMembers(r, "add_instances")],
      ...(r.instance_ids.length ? [["Remove instance", () => firewallMembers(r, "remove_instances")]] : []),
    ],
    // DigitalOcean makes no firewall without a rule: the form asks for a first inbound one.
    create: { button: "Create firewall", fields: [{ ...NAME, placeholder: "web" },
      { name: "ports", label: "Allow inbound TCP ports", value: "22", placeholder: "22, 8000-8080 or all" },
      { name: "from", label: "From", value: "0.0.0.0/0, ::/0", placeholder: "addresses or CIDR blocks, by commas" }],
    body: (v) => ({ name: v.name, inbound: [makeRule("tcp", v.ports, v.from)] }) },
  },
  "reserved-ips": {
    one: "reserved IP",
    name: (r) => r.address,
    columns: [["Account", (r) => r.provider], ["Region", (r) => r.region],
      ["Assigned to", (r) => r.assigned_to || "nothing"], ["Locked", (r) => yesNo(r.locked)]],
    actions: (r) => [
      r.assigned_to
        ? ["Unassign", () => resourceAction(r, `Unassign ${r.address}`, { type: "unassign" },
          `Unassign ${r.address} from instance ${r.assigned_to}? It stays reserved, and billed.`)]
        : ["Assign", () => assignIp(r)],
    ],
    deleteLabel: "Release",
    create: { button: "Reserve an IP", fields: [{ name: "region", label: "Region", optional: true,
      placeholder: "the account's default" }] },
  },
  vpcs: {
    one: "VPC",
    columns: [["Account", (r) => r.provider], ["Region", (r) => r.region], ["IP range", (r) => r.ip_range],
      ["Default", (r) => yesNo(r.default)]],
    actions: (r) => [["Members", () => vpcMembers(r)]],
    create: { button: "Create VPC", fields: [{ ...NAME, placeholder: "private-1" },
      { name: "region", label: "Region", optional: true, placeholder: "the account's default" },
      { name: "ip_range", label: "IP range", optional: true, placeholder: "10.10.10.0/24" }] },
  },
};

const resourceName = (r) => (KINDS[$("resource-kind").value].name || ((x) => x.name))(r);
const resourcePager = new Pager("resource", () => loadResources());

async function loadResources(fresh = false) {
  return busy("resources", async () => {
    const kind = $("resource-kind").value;
    const account = $("resource-account").value;
    const q = resourcePager.query();
    if (fresh) q.set("fresh", "true");
    const path = account ? `/api/v1/providers/${encodeURIComponent(account)}/${kind}?${q}` : `/api/v1/${kind}?${q}`;
    let list;
    try {
      list = await api("GET", path);
    } catch (e) {
      if (e.status === 404 || (e.status === 422 && resourcePager.cursors[1])) {
        // An account without the kind (`not_supported`, naming the kinds it has), or a cursor
        // from before a restart.
        resourcePager.reset();
        resourcePager.got(null);
        state.resources = [];
        renderResources(kind);
        $("resource-count").textContent = e.message;
        return;
      }
      throw e;
    }
    if (kind !== $("resource-kind").value) return;
    state.resources = list.resources;
    resourcePager.got(list.next);
    renderResources(kind);
    if (list.errors.length) {
      $("resource-count").textContent += ` (${list.errors.map((e) => `${e.provider}: ${e.message}`).join("; ")})`;
    }
  });
}

function renderResources(kind) {
  const spec = KINDS[kind];
  const head = document.createElement("tr");
  for (const title of [spec.name ? "Address" : "Name", ...spec.columns.map(([t]) => t), "Actions"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    head.appendChild(th);
  }
  $("resources").tHead.replaceChildren(head);
  $("resources").tBodies[0].replaceChildren(...state.resources.map((r) => {
    const row = document.createElement("tr");
    row.dataset.id = r.id;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = resourceName(r);
    row.appendChild(name);
    for (const [, get] of spec.columns) cell(row, String(get(r) ?? "–"));
    const actions = document.createElement("div");
    actions.className = "row";
    const shown = { name: resourceName(r) };
    for (const [label, run] of spec.actions(r)) actions.append(actionButton(label, shown, run));
    const remove = actionButton(spec.deleteLabel || "Delete", shown, () => deleteResource(r));
    remove.className = "danger";
    actions.append(remove);
    cell(row, "").appendChild(actions);
    return row;
  }));
  const paged = resourcePager.number > 1 || resourcePager.next;
  $("resource-count").textContent = `${state.resources.length} ${kind.replace("-", " ")}` +
    (paged ? ` on page ${resourcePager.number}${resourcePager.next ? "; more on the next page" : ""}` : "");
}

function renderResourceForm() {
  const kind = $("resource-kind").value;
  const { create, one } = KINDS[kind];
  $("resource-form-title").textContent = `New ${one}`;
  $("resource-create").textContent = create.button;
  $("resource-fields").replaceChildren(...create.fields.flatMap((f) => field(`resource-${f.name}`, f)));
  $("resource-result").textContent = "";
}

// A change to a resource: 202 and its operation, followed here; then the lists read again.
async function resourceChange(label, method, path, body) {
  const accepted = await api(method, path, body, { "Idempotency-Key": crypto.randomUUID() });
  const outcome = await follow(label, accepted);
  // The fresh read refreshes the account's inventory, which the waste, costs and detail read.
  await loadResources(true);
  await Promise.all([loadWaste(), loadCosts(), state.detail ? showDetail(state.detail) : null]);
  return outcome;
}

const resourcePath = (r) =>
  `/api/v1/providers/${encodeURIComponent(r.provider)}/${$("resource-kind").value}/${encodeURIComponent(r.id)}`;

async function onCreateResource(event) {
  event.preventDefault();
  const kind = $("resource-kind").value;
  const { create, one } = KINDS[kind];
  const account = $("resource-create-account").value;
  let body = {};
  for (const f of create.fields) {
    const v = value(`resource-${f.name}`, f);
    if (v !== undefined) body[f.name] = v;
  }
  const out = $("resource-result");
  const label = `${create.button}${body.name ? ` ${body.name}` : ""}`;
  try {
    if (create.body) body = create.body(body);
    out.textContent = `${label}…`;
    out.className = "";
    const outcome = await resourceChange(label, "POST", `/api/v1/providers/${encodeURIComponent(account)}/${kind}`, body);
    out.textContent = `${label} (${one} in ${account}): ${outcome}`;
    out.className = outcome;
    if (outcome === "succeeded") renderResourceForm();
  } catch (err) {
    out.textContent = problemText(err);
    out.className = "failed";
  }
}

async function resourceAction(r, label, body, question) {
  if (question && !(await confirmed(question))) return;
  try {
    await resourceChange(label, "POST", `${resourcePath(r)}/actions`, body);
  } catch (e) {
    notice(`${label}: ${problemText(e)}`, true);
  }
}

async function deleteResource(r) {
  const { one, deleteLabel } = KINDS[$("resource-kind").value];
  const verb = deleteLabel || "Delete";
  const name = resourceName(r);
  if (!(await confirmed(`${verb} the ${one} ${name} (${r.provider})? This cannot be undone.`))) return;
  try {
    await resourceChange(`${verb} ${name}`, "DELETE", resourcePath(r));
  } catch (e) {
    notice(`${verb} ${name}: ${problemText(e)}`, true);
  }
}

// The instances of `account` (in `region`, when given) as choices, read from the inventory.
async function instanceChoices(account, region) {
  const q = new URLSearchParams({ limit: "1000" });
  if (region) q.set("region", region);
  const { instances } = await api("GET", `/api/v1/providers/${encodeURIComponent(account)}/instances?${q}`);
  return instances.map((i) => [i.id, `${i.name} (${i.id})`]);
}

async function pickInstance(r, title, region) {
  const options = await instanceChoices(r.provider, region);
  if (!options.length) {
    notice(`${title}: ${r.provider} has no instance${region ? ` in ${region}` : ""}.`, true);
    return null;
  }
  const answer = await ask(title, [{ name: "instance_id", label: "Instance", type: "select", options }]);
  return answer && answer.instance_id;
}

async function attachVolume(r) {
  const instance = await pickInstance(r, `Attach ${r.name} to`, r.region).catch((e) => notice(e.message, true));
  if (instance) await resourceAction(r, `Attach ${r.name}`, { type: "attach", instance_id: instance });
}

async function assignIp(r) {
  const instance = await pickInstance(r, `Assign ${r.address} to`, r.region).catch((e) => notice(e.message, true));
  if (instance) await resourceAction(r, `Assign ${r.address}`, { type: "assign", instance_id: instance });
}

async function resizeVolume(r) {
  const answer = await ask(`Resize ${r.name} (now ${r.size_gib} GiB; volumes only grow)`,
    [{ name: "size_gib", label: "New size (GiB)", type: "number", min: r.size_gib + 1, value: String(r.size_gib * 2) }]);
  if (answer) {
    await resourceAction(r, `Resize ${r.name}`, { type: "resize", size_gib: answer.size_gib },
      `Resize ${r.name} from ${r.size_gib} to ${answer.size_gib} GiB? It cannot shrink again.`);
  }
}

async function snapshotVolume(r) {
  const answer = await ask(`Snapshot ${r.name}`, [{ ...NAME, value: `${r.name}-snap` }]);
  if (!answer) return;
  try {
    await resourceChange(`Snapshot ${r.name}`, "POST", `/api/v1/providers/${encodeURIComponent(r.provider)}/snapshots`,
      { name: answer.name, source_kind: "volume", source_id: r.id });
  } catch (e) {
    notice(`Snapshot ${r.name}: ${problemText(e)}`, true);
  }
}

async function firewallMembers(r, type) {
  const adding = type === "add_instances";
  const options = adding ? await instanceChoices(r.provider).catch((e) => notice(e.message, true))
    : r.instance_ids.map((id) => [id, id]);
  if (!options || !options.length) return;
  const answer = await ask(`${adding ? "Add an instance to" : "Remove an instance from"} ${r.name}`,
    [{ name: "instance_id", label: "Instance", type: "select", options }]);
  if (answer) {
    await resourceAction(r, `${adding ? "Add to" : "Remove from"} ${r.name}`,
      { type, instance_ids: [answer.instance_id] });
  }
}

// A firewall rule in a few words: `tcp 22 from 0.0.0.0/0`.
function ruleText(rule) {
  const ports = rule.ports.kind === "all" ? "all ports"
    : rule.ports.from === rule.ports.to ? String(rule.ports.from) : `${rule.ports.from}-${rule.ports.to}`;
  const t = rule.targets;
  const peers = [...t.addresses, ...t.instance_ids.map((i) => `instance ${i}`), ...t.tags.map((g) => `tag ${g}`)];
  return `${rule.protocol} ${ports} ${peers.join(", ")}`.trim();
}

// A rule from what a form holds: `22`, `8000-8080` or `all` ports; addresses by commas.
function makeRule(protocol, portsText, fromText) {
  const text = (portsText || "").trim();
  const range = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (text !== "all" && !range) throw new Error("ports must be a port, a range such as 8000-8080, or all");
  const ports = range && protocol !== "icmp"
    ? { kind: "range", from: Number(range[1]), to: Number(range[2] || range[1]) } : { kind: "all" };
  const addresses = (fromText || "").split(",").map((a) => a.trim()).filter(Boolean);
  return { protocol, ports, targets: { addresses, instance_ids: [], tags: [] } };
}

// One more inbound rule: the firewall's rules are set whole, the others kept as they are.
async function allowInbound(r) {
  const answer = await ask(`Allow inbound traffic to ${r.name}`, [
    { name: "protocol", label: "Protocol", type: "select", options: [["tcp", "TCP"], ["udp", "UDP"], ["icmp", "ICMP"]] },
    { name: "ports", label: "Ports", value: "22", placeholder: "22, 8000-8080 or all" },
    { name: "from", label: "From", value: "0.0.0.0/0, ::/0", placeholder: "addresses or CIDR blocks, by commas" },
  ]);
  if (!answer) return;
  let rule;
  try {
    rule = makeRule(answer.protocol, answer.ports, answer.from);
  } catch (e) {
    notice(`Allow inbound to ${r.name}: ${e.message}`, true);
    return;
  }
  await resourceAction(r, `Allow inbound to ${r.name}`, { type: "set_rules", inbound: [...r.inbound, rule], outbound: r.outbound },
    `Allow ${ruleText(rule)} into ${r.name}?`);
}

async function vpcMembers(r) {
  try {
    const { members } = await api("GET", `${resourcePath(r)}/members`);
    notice(members.length ? `${r.name} holds ${members.map((m) => `${m.kind} ${m.name}`).join(", ")}.`
      : `${r.name} holds nothing.`);
  } catch (e) {
    notice(`Members of ${r.name}: ${problemText(e)}`, true);
  }
}

// ---- Waste: what costs money and serves nothing -------------------------------------------------

async function loadWaste() {
  const q = new URLSearchParams();
  if ($("waste-account").value) q.set("account", $("waste-account").value);
  if ($("waste-kind").value) q.set("kind", $("waste-kind").value);
  const report = await api("GET", `/api/v1/costs/waste?${q}`);
  $("waste-count").textContent = report.items.length;
  $("waste-total").textContent = report.totals.length
    ? report.totals.map((t) => `${money(t.monthly_cost)}${t.currency === "USD" ? "" : ` ${t.currency}`}`).join(" + ")
    : money(0);
  $("waste").tBodies[0].replaceChildren(...report.items.map((item) => {
    const row = document.createElement("tr");
    row.dataset.id = item.id;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = item.name;
    row.appendChild(name);
    cell(row, item.account);
    cell(row, item.kind.replace("_", " "));
    cell(row, item.region || "–");
    cell(row, item.age_days == null ? "–" : `${item.age_days} d`);
    cell(row, money(item.monthly_cost), "num");
    cell(row, item.reason);
    return row;
  }));
  $("waste-notes").textContent = [...report.errors.map((e) => `${e.provider}: ${e.message}`), ...report.assumptions].join(" ");
}

// ---- Instance detail: its volumes, reserved IPs and firewalls -------------------------------------

async function showDetail(instance) {
  state.detail = instance;
  $("detail-section").hidden = false;
  $("detail-title").textContent = `Instance ${instance.name}`;
  const facts = [["Id", instance.id], ["Account", instance.provider], ["Status", instance.status],
    ["Type", instance.type], ["Region", instance.region], ["Address", instance.public_ip || instance.private_ip || "–"]];
  $("detail-facts").replaceChildren(...facts.map(([term, text]) => {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = text;
    div.append(dt, dd);
    return div;
  }));
  const { volumes, ips, firewalls } = await attachments(instance);
  if (state.detail !== instance) return;
  const rows = (table, mine, cells) => {
    const body = $(table).tBodies[0];
    if (mine === null) {
      const row = document.createElement("tr");
      cell(row, `${instance.provider} has none of these`).colSpan = 3;
      body.replaceChildren(row);
      return;
    }
    if (!mine.length) {
      const row = document.createElement("tr");
      cell(row, "none").colSpan = 3;
      body.replaceChildren(row);
      return;
    }
    body.replaceChildren(...mine.map((r) => {
      const row = document.createElement("tr");
      row.dataset.id = r.id;
      for (const text of cells(r)) cell(row, String(text));
      return row;
    }));
  };
  rows("detail-volumes", volumes, (v) => [v.name, `${v.size_gib} GiB`, v.status]);
  rows("detail-ips", ips, (ip) => [ip.address, ip.region, yesNo(ip.locked)]);
  rows("detail-firewalls", firewalls, (f) => [f.name, f.inbound.length, f.outbound.length]);
}

// What hangs on an instance, from its account's inventory: attached volumes, snapshots of it,
// assigned reserved IPs and firewalls holding it; null for a kind the account does not have.
async function attachments(instance) {
  const account = encodeURIComponent(instance.provider);
  const read = (kind, mine) => api("GET", `/api/v1/providers/${account}/${kind}`).then((l) => l.resources.filter(mine),
    (e) => { if (e.status === 404) return null; throw e; });
  const [volumes, snapshots, ips, firewalls] = await Promise.all([
    read("volumes", (v) => v.attached_to.includes(instance.id)),
    read("snapshots", (s) => s.source_kind === "instance" && s.source_id === instance.id),
    read("reserved-ips", (ip) => ip.assigned_to === instance.id),
    read("firewalls", (f) => f.instance_ids.includes(instance.id)),
  ]);
  return { volumes, snapshots, ips, firewalls };
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
  } else if (kind === "budget") {
    // A threshold crossed or recovered: the spend panel (spend.js) reads its budgets again.
    document.dispatchEvent(new CustomEvent("nephele:budget", { detail: { type, data } }));
  } else if (kind === "account") {
    loadProviders().then(() => Promise.all([loadAccounts(), reload(false)])).catch(() => {});
  } else if (kind === "instance" && data && data.id) {
    const at = state.instances.findIndex((i) => i.id === data.id && i.provider === source);
    const account = $("filter-provider").value;
    if (change === "deleted") {
      if (at >= 0) state.instances.splice(at, 1);
    } else if (data.name) {
      // A new one joins the page shown when it is the last page of its list (the next read
      // puts it in its place in the order).
      if (at >= 0) state.instances[at] = data;
      else if (!fleetPager.next && (!account || account === source)) state.instances.push(data);
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

// ---- Accounts (admins): list, add (the credential sent once), remove --------------------------

// The accounts the key may use, in every account picker.
async function loadProviders() {
  const { providers } = await api("GET", "/api/v1/providers");
  state.providers = providers;
  const names = providers.map((p) => [p.name, p.display_name || p.name]);
  for (const id of ["filter-provider", "resource-account", "waste-account"]) fill($(id), names, 1);
  for (const id of ["create-provider", "estimate-provider", "resource-create-account"]) fill($(id), names);
  const types = new Set(["digitalocean", ...providers.map((p) => p.type)]);
  fill($("account-type"), [...types].sort().map((t) => [t, t]));
  return providers;
}

// Whether the key is an admin's: only admins read the audit log (asked once per key).
function isAdmin() {
  state.admin ??= api("GET", "/api/v1/audit?limit=1").then(() => true, () => false);
  return state.admin;
}

async function loadAccounts() {
  if (!(await isAdmin())) {
    $("accounts-section").hidden = true;
    return;
  }
  $("accounts-section").hidden = false;
  $("accounts").tBodies[0].replaceChildren(...state.providers.map((account) => {
    const row = document.createElement("tr");
    row.dataset.name = account.name;
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = account.name;
    row.appendChild(name);
    cell(row, account.type);
    cell(row, account.status, account.status === "ready" ? "succeeded" : account.status === "unchecked" ? "" : "failed");
    cell(row, account.error || "–");
    cell(row, account.defined_in === "api" ? "API" : account.defined_in);
    cell(row, account.fingerprint || "–");
    const remove = actionButton("Remove", account, () => removeAccount(account));
    remove.className = "danger";
    cell(row, "").appendChild(remove);
    return row;
  }));
}

// A problem as one line: each field named with what is wrong with it, else its detail.
function problemText(err) {
  const errors = (err.problem && err.problem.errors) || [];
  return errors.length ? errors.map((e) => `${e.field}: ${e.message}`).join("; ") : err.message;
}

async function onAddAccount(event) {
  event.preventDefault();
  const out = $("account-result");
  const secret = $("account-credential");
  const name = $("account-name").value.trim();
  const settings = {};
  if ($("account-region").value.trim()) settings.region = $("account-region").value.trim();
  if ($("account-endpoint").value.trim()) settings.base_url = $("account-endpoint").value.trim();
  const body = { name, type: $("account-type").value, settings,
    credentials: { [$("account-credential-key").value.trim()]: secret.value } };
  // The credential leaves the page with this request and is kept nowhere: cleared at once.
  secret.value = "";
  out.textContent = `Trying the credentials of ${name}…`;
  out.className = "";
  try {
    const made = await api("POST", "/api/v1/providers", body);
    body.credentials = null;
    out.textContent = `Added ${made.name} (${made.type}, ${made.status}); its credential is kept encrypted, fingerprint ${made.fingerprint || "–"}.`;
    out.className = "succeeded";
    $("account-name").value = $("account-region").value = $("account-endpoint").value = "";
    await loadProviders();
    await Promise.all([loadAccounts(), reload(false)]);
  } catch (err) {
    body.credentials = null;
    out.textContent = `${err.status === 409 ? "Refused" : "Not added"}: ${problemText(err)}`;
    out.className = "failed";
  }
}

async function removeAccount(account) {
  const out = $("account-result");
  if (!(await confirmed(`Remove the account ${account.name}? Its instances leave the fleet; its operations and audit stay.`))) return;
  try {
    await api("DELETE", `/api/v1/providers/${encodeURIComponent(account.name)}`);
    out.textContent = `Removed ${account.name}.`;
    out.className = "succeeded";
    await loadProviders();
    await Promise.all([loadAccounts(), reload(false)]);
  } catch (err) {
    out.textContent = `${account.name} was not removed: ${problemText(err)}`;
    out.className = "failed";
  }
}

// ---- Start -----------------------------------------------------------------------------------

async function start() {
  try {
    state.admin = null;
    await loadProviders();
    notice(sessionStorage.getItem(KEY) ? "Signed in with your API key." : "");
    renderResourceForm();
    await Promise.all([loadFleet(), loadCosts(), loadOperations(), loadAudit(), loadWebhooks(), loadAccounts(),
      loadResources(), loadWaste(), pickers("create", true), pickers("estimate", false)]);
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
  $("search").addEventListener("input", renderFleet);
  // The filters apply to the page drawn at once, then the API reads the first page of the list.
  for (const id of ["filter-provider", "filter-status", "filter-region"]) {
    $(id).addEventListener("input", () => {
      $("fleet").setAttribute("aria-busy", "true");
      renderFleet();
      renderCosts();
      fleetPager.reset();
      loadFleet().catch((e) => notice(e.message, true));
    });
  }
  fleetPager.wire();
  resourcePager.wire();
  renderResourceForm();
  $("resource-kind").addEventListener("change", () => {
    resourcePager.reset();
    renderResourceForm();
    loadResources().catch((e) => notice(e.message, true));
  });
  $("resource-account").addEventListener("change", () => {
    resourcePager.reset();
    loadResources().catch((e) => notice(e.message, true));
  });
  $("resource-filters").addEventListener("submit", (event) => event.preventDefault());
  $("resource-refresh").addEventListener("click", () => loadResources(true).catch((e) => notice(e.message, true)));
  $("resource-form").addEventListener("submit", onCreateResource);
  for (const id of ["waste-account", "waste-kind"]) {
    $(id).addEventListener("change", () => loadWaste().catch((e) => notice(e.message, true)));
  }
  $("waste-filters").addEventListener("submit", (event) => event.preventDefault());
  $("waste-refresh").addEventListener("click", () => loadWaste().catch((e) => notice(e.message, true)));
  $("account-form").addEventListener("submit", onAddAccount);
  $("detail-close").addEventListener("click", () => {
    state.detail = null;
    $("detail-section").hidden = true;
  });
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
