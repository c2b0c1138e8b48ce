// Nephele's dashboard, the spend panel: each budget as a bar (spent, forecast, amount, a mark per
// threshold), the cost history drawn as inline SVG by group (no charting library, no service),
// and each account's bill beside Nephele's month-to-date. Everything through the public API with
// the helper dashboard.js exposes as `window.nephele`; figures are shown as the API gives them
// (decimal strings to the cent), and only the drawing turns them into numbers.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  // Distinct at a glance and against white (each darker than 3:1 contrast).
  const PALETTE = ["#0a4fa6", "#c2410c", "#0b6b2e", "#7e22ce", "#a4001d", "#0e7490", "#854d0e",
    "#be185d", "#3f6212", "#475569"];
  const POLL_MS = 30_000;
  const MAX_TABLE_ROWS = 2000;
  const spend = { admin: false, adminFor: undefined, poll: null, soon: null, loading: null, shown: {} };

  const api = (...args) => window.nephele.api(...args);

  // Whether `data` is what part `name` of the panel shows already: then it is not drawn again
  // (a reader's focus, a hovered bar, stay where they are).
  function unchanged(name, data) {
    const text = JSON.stringify(data);
    if (spend.shown[name] === text) return true;
    spend.shown[name] = text;
    return false;
  }

  // ---- Small helpers -----------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }

  function svg(tag, attrs = {}, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function titled(node, text) {
    svg("title", {}, node).textContent = text;
    return node;
  }

  // A decimal string from the API with its currency: `$12.34` for dollars, `12.34 EUR` otherwise.
  function cash(amount, currency = "USD") {
    if (amount === null || amount === undefined) return "–";
    const text = String(amount);
    const negative = text.startsWith("-");
    const bare = negative ? text.slice(1) : text;
    const shown = currency === "USD" ? `$${bare}` : `${bare} ${currency}`;
    return negative ? `−${shown}` : shown;
  }

  function status(text, isError = false) {
    const out = $("spend-status");
    out.textContent = text;
    out.className = isError ? "hint failed" : "hint";
  }

  const utc = (iso) => new Date(iso).toISOString();

  // A period's start as a reader wants it for the step.
  function periodLabel(iso, step) {
    const t = utc(iso);
    if (step === "hour") return `${t.slice(0, 10)} ${t.slice(11, 16)}`;
    if (step === "month") return t.slice(0, 7);
    return t.slice(0, 10);
  }

  function nextPeriod(ms, step) {
    if (step === "hour") return ms + 3_600_000;
    if (step === "day") return ms + 86_400_000;
    const d = new Date(ms);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }

  // A round top for an axis: 1, 2 or 5 times a power of ten, at least `value`.
  function niceCeiling(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const m of [1, 2, 5, 10]) if (m * power >= value * (1 - 1e-9)) return m * power;
    return 10 * power;
  }

  const axisMoney = (value, currency) => cash(value >= 100 ? value.toFixed(0) : value.toFixed(2), currency);

  // ---- Budgets ---------------------------------------------------------------------------

  // The bar: the forecast behind what was spent, a line at the amount, a mark at each threshold.
  // Every shape carries its figure (data-value) and a title; the svg's label says it all in words.
  function budgetBar(budget) {
    const f = budget.figures;
    const values = [budget.amount, f.spent, f.forecast, ...budget.thresholds.map((t) => t.level)].map(Number);
    const max = Math.max(...values, 0.01) * 1.1;
    const W = 600, H = 44, top = 14, height = 18;
    const x = (v) => (Number(v) / max) * W;
    const c = budget.currency;
    const label = `${budget.name}: spent ${cash(f.spent, c)}, forecast ${cash(f.forecast, c)} of ${cash(budget.amount, c)} ` +
      `for ${f.period}` + (budget.thresholds.length ? `; thresholds: ${budget.thresholds
        .map((t) => `${t.at} of ${t.basis} at ${cash(t.level, c)}, ${t.state}`).join("; ")}` : "");
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "budget-bar", role: "img", "aria-label": label,
      "data-max": max, preserveAspectRatio: "none" });
    svg("rect", { x: 0, y: top, width: W, height, class: "track" }, chart);
    const over = Number(f.forecast) > Number(budget.amount);
    titled(svg("rect", { x: 0, y: top, width: x(f.forecast), height, class: over ? "forecast over" : "forecast",
      "data-value": f.forecast }, chart), `Forecast ${cash(f.forecast, c)}`);
    titled(svg("rect", { x: 0, y: top, width: x(f.spent), height, class: "spent", "data-value": f.spent }, chart),
      `Spent ${cash(f.spent, c)}`);
    titled(svg("line", { x1: x(budget.amount), x2: x(budget.amount), y1: top - 6, y2: top + height + 6,
      class: "amount", "data-value": budget.amount }, chart), `Amount ${cash(budget.amount, c)}`);
    for (const t of budget.thresholds) {
      const at = x(t.level);
      const mark = svg("g", { class: `threshold ${t.state}`, "data-value": t.level, "data-state": t.state }, chart);
      svg("line", { x1: at, x2: at, y1: top, y2: top + height }, mark);
      svg("path", { d: `M${at - 5} 2 L${at + 5} 2 L${at} ${top - 1} Z` }, mark);
      titled(mark, `${t.at} of ${t.basis} at ${cash(t.level, c)}: ${t.state}`);
    }
    return chart;
  }

  function budgetItem(budget) {
    const f = budget.figures;
    const c = budget.currency;
    const item = el("li", { class: "budget", "data-id": budget.id });
    item.append(el("h4", { text: budget.name }));
    const scope = Object.entries(budget.scope).filter(([, list]) => list.length)
      .map(([k, list]) => `${k} ${list.join(", ")}`).join("; ");
    item.append(el("p", { class: "hint", text: `Period ${f.period} (${budget.period}, ${utc(f.start).slice(0, 10)} to ` +
      `${utc(f.end).slice(0, 10)}), enforce ${budget.enforce}; scope: ${scope || "the whole fleet"}` }));
    const figures = el("dl", { class: "figures" });
    for (const [name, value, cls] of [["Spent", cash(f.spent, c), "spent"], ["Forecast", cash(f.forecast, c), "forecast"],
      ["Amount", cash(budget.amount, c), "amount"], ["Run-rate per hour", cash(f.hourly, c), "hourly"]]) {
      figures.append(el("div", {}, el("dt", { text: name }), el("dd", { class: cls, text: value })));
    }
    item.append(el("div", { class: "budget-row" }, budgetBar(budget), figures));
    const thresholds = el("ul", { class: "thresholds", "aria-label": `Thresholds of ${budget.name}` });
    for (const t of budget.thresholds) {
      thresholds.append(el("li", { class: `threshold-${t.state}`, "data-state": t.state,
        text: `${t.at} of ${t.basis} (${cash(t.level, c)}): ${t.state}` }));
    }
    if (!budget.thresholds.length) thresholds.append(el("li", { text: "No thresholds: the amount alone." }));
    item.append(thresholds);
    item.append(el("p", { class: "hint", text: f.forecast_method }));
    if (spend.admin) {
      const remove = el("button", { type: "button", class: "danger", "aria-label": `Delete budget ${budget.name}`,
        text: "Delete" });
      remove.onclick = () => deleteBudget(budget);
      item.append(remove);
    }
    return item;
  }

  async function loadBudgets() {
    const { budgets } = await api("GET", "/api/v1/budgets");
    if (unchanged("budgets", [spend.admin, budgets])) return;
    $("budgets").replaceChildren(...budgets.map(budgetItem));
    $("budgets-empty").hidden = budgets.length > 0;
  }

  async function deleteBudget(budget) {
    if (!(await window.nephele.confirmed(`Delete the budget ${budget.name}? Its alerts stay on record.`))) return;
    try {
      await api("DELETE", `/api/v1/budgets/${encodeURIComponent(budget.id)}`);
      await loadBudgets();
    } catch (e) {
      status(`Delete budget ${budget.name}: ${e.message}`, true);
    }
  }

  const list = (id) => $(id).value.split(",").map((v) => v.trim()).filter(Boolean);

  // The form's field for a field the API names.
  const FIELDS = { name: "budget-name", amount: "budget-amount", currency: "budget-currency", period: "budget-period",
    thresholds: "budget-threshold", "scope.tags": "budget-tags", "scope.accounts": "budget-accounts",
    enforce: "budget-enforce" };

  async function onAddBudget(event) {
    event.preventDefault();
    const out = $("budget-result");
    for (const id of Object.values(FIELDS)) $(id).removeAttribute("aria-invalid");
    const basis = $("budget-basis").value;
    const body = {
      name: $("budget-name").value.trim(),
      amount: $("budget-amount").value.trim(),
      currency: $("budget-currency").value.trim() || "USD",
      period: $("budget-period").value,
      thresholds: list("budget-threshold").map((at) => ({ at, basis })),
      scope: { tags: list("budget-tags"), accounts: list("budget-accounts") },
      enforce: $("budget-enforce").value,
    };
    try {
      const made = await api("POST", "/api/v1/budgets", body);
      out.textContent = `Added ${made.name}: ${cash(made.amount, made.currency)} a ${made.period}.`;
      out.className = "succeeded";
      $("budget-form").reset();
      await loadBudgets();
    } catch (e) {
      const errors = (e.problem && e.problem.errors) || [];
      out.textContent = errors.length ? errors.map((f) => `${f.field}: ${f.message}`).join("; ") : e.message;
      out.className = "failed";
      for (const f of errors) {
        const id = FIELDS[f.field] || FIELDS[f.field.replace(/\[\d+\].*$/, "")];
        if (id) $(id).setAttribute("aria-invalid", "true");
      }
    }
  }

  // ---- Cost history ------------------------------------------------------------------------

  function historyQuery() {
    const query = new URLSearchParams();
    query.set("step", $("history-step").value);
    const group = $("history-group").value;
    query.set("group_by", group === "tag" ? `tag:${$("history-tag").value.trim()}` : group);
    if ($("history-from").value) query.set("from", $("history-from").value);
    if ($("history-to").value) query.set("to", $("history-to").value);
    return query.toString();
  }

  function groupName(group, groupBy) {
    if (group !== null && group !== undefined) return group;
    return groupBy.startsWith("tag:") ? `(no ${groupBy.slice(4)} tag)` : "(none)";
  }

  // One chart per currency: bars per period, stacked by group (in the legend's order), the
  // estimated part of each piece hatched. Every piece carries its row's figures.
  function drawChart(history, currency, rows, colours, index) {
    const W = 760, H = 260, L = 64, R = 8, T = 12, B = 34;
    const periods = [];
    for (let t = Date.parse(history.from), end = Date.parse(history.to); t < end; t = nextPeriod(t, history.step)) {
      periods.push(t);
    }
    const at = new Map(periods.map((t, i) => [t, i]));
    // Rows start on the periods the answer spans (its `from` is cut down to the step).
    rows = rows.filter((r) => at.has(Date.parse(r.start)));
    const totals = new Array(periods.length).fill(0);
    for (const r of rows) totals[at.get(Date.parse(r.start))] += Number(r.amount_exact);
    const top = niceCeiling(Math.max(...totals, 0));
    const plotW = W - L - R, plotH = H - T - B;
    const band = plotW / Math.max(periods.length, 1);
    const barW = Math.max(band * 0.8, 0.5);
    const y = (v) => T + plotH - (v / top) * plotH;
    const total = rows.reduce((s, r) => s + Number(r.amount_exact), 0);
    const estimated = rows.filter((r) => r.estimated);
    const words = `Cost per ${history.step} by ${history.group_by} in ${currency}, ${periodLabel(history.from, history.step)} ` +
      `to ${periodLabel(history.to, history.step)} (excluded): ${cash(total.toFixed(2), currency)} in ${rows.length} ` +
      `figures over ${periods.length} periods` + (estimated.length ? `; ${estimated.length} of them partly estimated ` +
      "(hatched)" : "") + ". The figures are in the table below.";
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": words, class: "history",
      "data-currency": currency, "data-top": top });
    const hatch = `hatch-${index}`;
    const pattern = svg("pattern", { id: hatch, patternUnits: "userSpaceOnUse", width: 6, height: 6,
      patternTransform: "rotate(45)" }, svg("defs", {}, chart));
    svg("rect", { width: 6, height: 6, fill: "#fff", "fill-opacity": 0.35 }, pattern);
    svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#000", "stroke-width": 3, "stroke-opacity": 0.55 }, pattern);
    // Axes: three levels, and up to seven period labels.
    for (const v of [0, top / 2, top]) {
      svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: v === 0 ? "axis" : "gridline" }, chart);
      svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, chart).textContent =
        axisMoney(v, currency);
    }
    const every = Math.max(1, Math.ceil(periods.length / 7));
    periods.forEach((t, i) => {
      if (i % every) return;
      svg("text", { x: L + band * i + band / 2, y: H - B + 16, "text-anchor": "middle", class: "tick" }, chart)
        .textContent = periodLabel(new Date(t).toISOString(), history.step);
    });
    const base = new Array(periods.length).fill(0);
    const order = [...colours.keys()];
    const sorted = [...rows].sort((a, b) => order.indexOf(groupName(a.group, history.group_by)) -
      order.indexOf(groupName(b.group, history.group_by)));
    for (const r of sorted) {
      const i = at.get(Date.parse(r.start));
      const name = groupName(r.group, history.group_by);
      const value = Number(r.amount_exact);
      const x = L + band * i + (band - barW) / 2;
      const piece = svg("g", { class: r.estimated ? "piece estimated" : "piece", "data-start": r.start,
        "data-group": name, "data-amount": r.amount, "data-exact": r.amount_exact,
        "data-estimated": r.estimated_amount }, chart);
      svg("rect", { x, y: y(base[i] + value), width: barW, height: Math.max((value / top) * plotH, 0),
        fill: colours.get(name) }, piece);
      if (r.estimated) {
        // The estimated part, at the bottom of the piece (it is to the cent; the piece is exact).
        const part = Math.min(Number(r.estimated_amount), value);
        svg("rect", { x, y: y(base[i] + part), width: barW, height: (part / top) * plotH, fill: `url(#${hatch})`,
          class: "estimated-part" }, piece);
      }
      titled(piece, `${periodLabel(r.start, history.step)}, ${name}: ${cash(r.amount, currency)}` +
        (r.estimated ? ` (estimated ${cash(r.estimated_amount, currency)})` : ""));
      base[i] += value;
    }
    return chart;
  }

  function swatch(fill, hatched) {
    const box = svg("svg", { viewBox: "0 0 14 14", width: 14, height: 14, "aria-hidden": "true" });
    if (hatched) {
      const pattern = svg("pattern", { id: "hatch-legend", patternUnits: "userSpaceOnUse", width: 6, height: 6,
        patternTransform: "rotate(45)" }, svg("defs", {}, box));
      svg("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#000", "stroke-width": 3, "stroke-opacity": 0.55 }, pattern);
      svg("rect", { width: 14, height: 14, fill: "#ccc" }, box);
      svg("rect", { width: 14, height: 14, fill: "url(#hatch-legend)" }, box);
    } else {
      svg("rect", { width: 14, height: 14, fill }, box);
    }
    return box;
  }

  function renderHistory(history) {
    const groups = [...new Set(history.rows.map((r) => groupName(r.group, history.group_by)))].sort();
    const colours = new Map(groups.map((g, i) => [g, PALETTE[i % PALETTE.length]]));
    const currencies = [...new Set(history.rows.map((r) => r.currency))].sort();
    const container = $("history-chart");
    if (!history.rows.length) {
      container.replaceChildren(el("p", { class: "hint", text: `No cost recorded from ${history.from} to ${history.to}.` }));
    } else {
      container.replaceChildren(...currencies.map((c, i) =>
        drawChart(history, c, history.rows.filter((r) => r.currency === c), colours, i)));
    }
    const legend = groups.map((g) => el("li", { "data-group": g }, swatch(colours.get(g)), ` ${g}`));
    if (history.rows.some((r) => r.estimated)) {
      legend.push(el("li", { class: "estimated" }, swatch(null, true),
        " estimated: inferred from a resource's creation, before Nephele saw it"));
    }
    $("history-legend").replaceChildren(...legend);
    const shown = history.rows.slice(0, MAX_TABLE_ROWS);
    $("history-table").tBodies[0].replaceChildren(...shown.map((r) => {
      const row = el("tr", { "data-start": r.start, class: r.estimated ? "estimated" : "" });
      row.append(el("th", { scope: "row", text: periodLabel(r.start, history.step) }),
        el("td", { text: groupName(r.group, history.group_by) }),
        el("td", { class: "num", text: cash(r.amount, r.currency) }),
        el("td", { class: "num", text: r.estimated ? cash(r.estimated_amount, r.currency) : "–" }));
      return row;
    }));
    $("history-table").caption.textContent = `Cost per ${history.step} by ${history.group_by}, ` +
      `${history.from} to ${history.to}` + (history.rows.length > MAX_TABLE_ROWS
        ? ` (the first ${MAX_TABLE_ROWS} of ${history.rows.length} figures; the CSV has them all)` : "");
  }

  async function loadHistory() {
    const query = historyQuery();
    $("history-csv").href = `/api/v1/costs/history.csv?${query}`;
    const history = await api("GET", `/api/v1/costs/history?${query}`);
    if (!unchanged("history", history)) renderHistory(history);
    return history;
  }

  async function onShowHistory(event) {
    event.preventDefault();
    for (const id of ["history-from", "history-to", "history-tag", "history-step", "history-group"]) {
      $(id).removeAttribute("aria-invalid");
    }
    try {
      const history = await loadHistory();
      status(`Cost history: ${history.rows.length} figures per ${history.step} by ${history.group_by}.`);
    } catch (e) {
      const errors = (e.problem && e.problem.errors) || [];
      status(`Cost history: ${errors.length ? errors.map((f) => `${f.field}: ${f.message}`).join("; ") : e.message}`, true);
      const ids = { from: "history-from", to: "history-to", step: "history-step", group_by: "history-group" };
      for (const f of errors) {
        const id = f.field === "group_by" && $("history-group").value === "tag" ? "history-tag" : ids[f.field];
        if (id) $(id).setAttribute("aria-invalid", "true");
      }
    }
  }

  // The CSV link works as is where the API needs no key; with a key (never put in a URL) the
  // file is read with it and handed to the browser as a download.
  async function onCsv(event) {
    const key = sessionStorage.getItem(window.nephele.KEY);
    if (!key) return;
    event.preventDefault();
    const link = event.currentTarget;
    try {
      const response = await fetch(link.getAttribute("href"), { headers: { Authorization: `Bearer ${key}` } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const url = URL.createObjectURL(await response.blob());
      const save = el("a", { href: url, download: link.getAttribute("download") });
      document.body.appendChild(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      status(`Cost history CSV: ${e.message}`, true);
    }
  }

  // ---- The bill beside the estimate ----------------------------------------------------------

  const STATUS_TEXT = { reconciled: "reconciled", estimate_only: "estimate only", unavailable: "bill unavailable" };

  async function loadBills() {
    const { bills = [] } = await api("GET", "/api/v1/costs");
    if (unchanged("bills", bills)) return;
    $("bills").tBodies[0].replaceChildren(...bills.map((b) => {
      const row = el("tr", { "data-account": b.account, "data-status": b.status, class: `bill-${b.status}` });
      const c = b.currency;
      row.append(el("th", { scope: "row", text: b.account }),
        el("td", { class: "bill-status", text: STATUS_TEXT[b.status] || b.status }),
        el("td", { class: "num cloud", text: b.cloud ? cash(b.cloud.month_to_date_usage, c) : "estimate only" }),
        el("td", { class: "num nephele", text: cash(b.nephele_month_to_date, c) }),
        el("td", { class: "num difference", text: b.difference === null || b.difference === undefined
          ? "–" : cash(b.difference, c) }),
        el("td", { class: "num preview", text: b.cloud && b.cloud.invoice_preview !== null
          ? `${cash(b.cloud.invoice_preview, c)}${b.cloud.invoice_period ? ` (${b.cloud.invoice_period})` : ""}` : "–" }),
        el("td", { text: b.read_at || "–" }),
        el("td", { text: b.note || "" }));
      return row;
    }));
  }

  // ---- Loading -----------------------------------------------------------------------------

  // Whether the key is an admin's (only admins read the audit log): the budget form shows then.
  // Asked once per key.
  async function probeAdmin() {
    const key = sessionStorage.getItem(window.nephele.KEY);
    if (spend.adminFor !== key) {
      try {
        await api("GET", "/api/v1/audit?limit=1");
        spend.admin = true;
      } catch (e) {
        spend.admin = false;
        if (!(e.status === 401 || e.status === 403)) throw e;
      }
      spend.adminFor = key;
    }
    $("budget-admin").hidden = !spend.admin;
  }

  async function loadSpend() {
    if (!window.nephele) return;
    if (spend.loading) return spend.loading;
    spend.loading = (async () => {
      const results = await Promise.allSettled([probeAdmin().then(loadBudgets), loadHistory(), loadBills()]);
      const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
      if (failed.some((e) => e.status === 401 || e.status === 403)) status("Enter an API key to see spend.");
      else if (failed.length) status(`Spend: ${failed.map((e) => e.message).join("; ")}`, true);
      else status(`Updated ${new Date().toISOString().slice(0, 19)}Z`);
      $("spend").dataset.loaded = String(Date.now());
    })().finally(() => { spend.loading = null; });
    return spend.loading;
  }

  function loadSoon() {
    clearTimeout(spend.soon);
    spend.soon = setTimeout(() => loadSpend().catch(() => {}), 500);
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!window.nephele) {
      status("The dashboard's script did not load.", true);
      return;
    }
    $("history-form").addEventListener("submit", onShowHistory);
    $("history-group").addEventListener("change", () => {
      const tag = $("history-group").value === "tag";
      $("history-tag").disabled = !tag;
      if (tag) $("history-tag").focus();
    });
    $("history-csv").addEventListener("click", onCsv);
    $("budget-form").addEventListener("submit", onAddBudget);
    // dashboard.js stores a key before this listener runs (its own was added first).
    $("key-form").addEventListener("submit", () => loadSpend());
    // The dashboard reads its cost summary again after every change of the fleet it hears of
    // (event stream or polling): spend follows it, and reads itself at least every 30 s.
    new MutationObserver(loadSoon).observe($("total-mtd"), { childList: true, characterData: true, subtree: true });
    // A budget's threshold crossed or recovered, heard on the event stream by dashboard.js.
    document.addEventListener("nephele:budget", loadSoon);
    spend.poll = setInterval(() => loadSpend().catch(() => {}), POLL_MS);
    loadSpend();
  });
})();
