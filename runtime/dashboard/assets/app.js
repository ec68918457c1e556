// The Sluice dashboard: hash routes over the read-only API. Every value from the API is
// put into the page as text (never as markup): table and column names come from connectors.
"use strict";

const TOKEN_KEY = "sluice-dashboard-token";
(function keepToken() {
  const params = new URLSearchParams(location.search);
  const t = params.get("token");
  if (t) {
    sessionStorage.setItem(TOKEN_KEY, t);
    // the token leaves the address bar and the history
    history.replaceState(null, "", location.pathname + location.hash);
  }
})();

async function api(path, options = {}) {
  const headers = { "X-Sluice-Token": sessionStorage.getItem(TOKEN_KEY) || "" };
  if (options.body) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch("/api/" + path, { ...options, headers });
  } catch (e) {
    throw new Error("the dashboard is not reachable (is `sluice dashboard` still running?)");
  }
  const body = await res.json().catch(() => ({ error: "the answer was not JSON" }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function table(columns, rows, opts = {}) {
  const t = el("table", { class: "data" + (opts.cls ? " " + opts.cls : "") });
  t.append(el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { text: c.label || c })))));
  const tb = el("tbody");
  for (const r of rows) {
    tb.append(el("tr", {}, ...columns.map((c) => {
      const key = c.key || c;
      const cell = c.render ? c.render(r) : fmt(r[key]);
      const td = el("td", { class: c.num ? "num" : c.wrap ? "wrap" : "" });
      if (cell instanceof Node) td.append(cell); else td.textContent = cell;
      if (!(cell instanceof Node)) td.title = td.textContent;
      return td;
    })));
  }
  t.append(tb);
  return t;
}

function errorBox(e) {
  return el("div", { class: "error", role: "alert", text: e.message || String(e) });
}

function statusCell(s) {
  return el("span", { class: "status-" + s, text: s || "" });
}

const content = () => document.getElementById("content");

function show(...nodes) {
  const c = content();
  c.replaceChildren(...nodes);
}

const TABS = [
  ["loads", "Loads"], ["schema", "Schema"], ["state", "State"], ["tables", "Tables"],
  ["query", "SQL"], ["packages", "Packages"], ["trace", "Last run"], ["connector", "Connector"],
];

function tabs(name, active) {
  const nav = document.getElementById("tabs");
  nav.replaceChildren(...(name ? TABS.map(([k, label]) =>
    el("a", { href: `#/p/${encodeURIComponent(name)}/${k}`, class: k === active ? "active" : "", text: label })) : []));
  document.getElementById("where").textContent = name ? `pipeline ${name}` : "";
}

async function route() {
  const parts = location.hash.split("?")[0].replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "p" && parts[1]) {
      const [, name, tab = "loads", ...rest] = parts;
      tabs(name, tab);
      const view = VIEWS[tab];
      if (!view) return show(errorBox(new Error(`no page ${tab}`)));
      show(el("p", { class: "muted", text: "Loading…" }));
      await view(name, rest);
    } else {
      tabs(null);
      await pipelinesView();
    }
  } catch (e) {
    show(errorBox(e));
  }
}

async function pipelinesView() {
  const { pipelines, pipelines_dir } = await api("pipelines");
  const rows = pipelines.map((p) => ({ ...p, last: p.last_run || {} }));
  show(
    el("h2", { text: "Pipelines" }),
    el("p", { class: "muted", text: `in ${pipelines_dir}` }),
    pipelines.length ? table([
      { label: "pipeline", render: (r) => el("a", { href: `#/p/${encodeURIComponent(r.name)}/loads`, text: r.name }) },
      { label: "destination", key: "destination" },
      { label: "dataset", key: "dataset" },
      { label: "last run", render: (r) => statusCell(r.last.status) },
      { label: "started", render: (r) => fmt(r.last.started_at) },
      { label: "duration ms", num: true, render: (r) => fmt(r.last.duration_ms) },
      { label: "rows", num: true, render: (r) => fmt(r.last.rows) },
      { label: "runs", key: "runs", num: true },
      { label: "pending", key: "pending", num: true },
      { label: "aborted", key: "aborted", num: true },
    ], rows, { cls: "pipelines" }) : el("p", { text: "No pipeline has run here yet." }),
  );
}

function chart(runs) {
  const W = 760, H = 220, pad = 40;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("id", "runs-chart");
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "rows and duration per run");
  const maxRows = Math.max(1, ...runs.map((r) => r.rows || 0));
  const maxDur = Math.max(1, ...runs.map((r) => r.duration_ms || 0));
  const n = Math.max(runs.length, 1);
  const bw = (W - 2 * pad) / n;
  const mk = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  const points = [];
  runs.forEach((r, i) => {
    // a failed run shows as a short red bar even when it loaded nothing
    const h = Math.max(((r.rows || 0) / maxRows) * (H - 2 * pad), r.status === "failed" ? 6 : 0);
    const x = pad + i * bw;
    const bar = mk("rect", { x: x + bw * 0.15, y: H - pad - h, width: Math.max(bw * 0.7, 1), height: Math.max(h, 0.5), class: "bar" + (r.status === "failed" ? " failed" : "") });
    const title = document.createElementNS(ns, "title");
    title.textContent = `${r.started_at}: ${r.rows || 0} rows, ${r.duration_ms ?? "-"} ms, ${r.status}`;
    bar.append(title);
    svg.append(bar);
    points.push(`${x + bw / 2},${H - pad - ((r.duration_ms || 0) / maxDur) * (H - 2 * pad)}`);
  });
  if (points.length > 1) svg.append(mk("polyline", { points: points.join(" "), class: "line" }));
  const label = (x, y, t, anchor = "start") => { const e = mk("text", { x, y, "text-anchor": anchor }); e.textContent = t; svg.append(e); };
  label(4, pad - 8, `${maxRows} rows`);
  label(W - 4, pad - 8, `${maxDur} ms`, "end");
  label(pad, H - pad + 16, "oldest");
  label(W - pad, H - pad + 16, "newest", "end");
  svg.append(mk("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, stroke: "#ccc" }));
  return svg;
}

const VIEWS = {
  async loads(name) {
    const [{ runs }, loads] = await Promise.all([
      api(`pipelines/${encodeURIComponent(name)}/runs`),
      api(`pipelines/${encodeURIComponent(name)}/loads`).catch((e) => ({ error: e })),
    ]);
    show(
      el("h2", { text: "Load history" }),
      el("div", { class: "legend" }, el("span", { class: "rows", text: "rows per run" }), el("span", { class: "dur", text: "duration" })),
      chart(runs),
      el("h3", { text: `Runs (${runs.length})` }),
      table([
        { label: "started", key: "started_at" },
        { label: "status", render: (r) => statusCell(r.status) },
        { label: "rows", key: "rows", num: true },
        { label: "duration ms", key: "duration_ms", num: true },
        { label: "loads", render: (r) => fmt((r.load_ids || []).join(", ")) },
        { label: "error", key: "error", wrap: true },
      ], runs.slice().reverse(), { cls: "runs" }),
      el("h3", { text: "Committed loads (_dlt_loads)" }),
      loads.error ? errorBox(loads.error) : table(["load_id", "status", "inserted_at", "schema_version_hash", "component"], loads.loads.slice().reverse(), { cls: "loads" }),
    );
  },

  async schema(name) {
    const { versions, tables } = await api(`pipelines/${encodeURIComponent(name)}/schema`);
    const changes = (v) => el("div", {}, ...v.changes.map((c) => el("div", { class: "change", text:
      c.dropped ? `− ${c.table} dropped` : c.new_table ? `+ table ${c.table} (${c.columns.join(", ")})` : `+ ${c.table}: ${c.columns.join(", ")}` })));
    show(
      el("h2", { text: "Schema" }),
      el("h3", { text: "Tables and columns" }),
      ...tables.map((t) => el("div", {},
        el("h3", { text: `${t.name}${t.parent ? `  (nested in ${t.parent})` : ""} · ${t.rows_estimated ? "≈ " : ""}${t.rows} rows` }),
        table([
          { label: "column", key: "name" }, { label: "data type", key: "data_type" },
          { label: "nullable", key: "nullable" }, { label: "primary key", key: "primary_key" }, { label: "merge key", key: "merge_key" },
        ], t.columns, { cls: "columns" }))),
      el("h3", { text: `Version history (${versions.length})` }),
      table([
        { label: "schema", key: "schema_name" }, { label: "version", key: "version", num: true },
        { label: "hash", key: "version_hash" }, { label: "stored", key: "inserted_at" },
        { label: "first load", render: (v) => fmt(v.loads[0]) }, { label: "what it changed", render: changes },
      ], versions.slice().reverse(), { cls: "versions" }),
    );
  },

  async state(name) {
    const { state } = await api(`pipelines/${encodeURIComponent(name)}/state`);
    if (!state) return show(el("h2", { text: "State" }), el("p", { text: "No state committed yet." }));
    const rows = [];
    for (const [source, s] of Object.entries(state.sources || {}))
      for (const [resource, r] of Object.entries(s.resources || {}))
        rows.push({ source, resource, cursor: r.incremental ? JSON.stringify(r.incremental) : "", state: JSON.stringify(r) });
    show(
      el("h2", { text: `State (version ${state._state_version})` }),
      table(["source", "resource", { label: "incremental", key: "cursor" }, "state"], rows, { cls: "state" }),
      el("h3", { text: "Whole state" }),
      el("pre", { text: JSON.stringify(state, null, 2) }),
    );
  },

  async tables(name, rest) {
    if (rest[0]) return tablePage(name, rest[0]);
    const { tables } = await api(`pipelines/${encodeURIComponent(name)}/tables`);
    show(
      el("h2", { text: `Tables (${tables.length})` }),
      table([
        { label: "table", render: (t) => el("a", { href: `#/p/${encodeURIComponent(name)}/tables/${encodeURIComponent(t.name)}`, text: t.name }) },
        { label: "rows", num: true, render: (t) => (t.rows_estimated ? "≈ " : "") + t.rows },
        { label: "columns", render: (t) => fmt(t.columns.length) },
        { label: "parent", key: "parent" }, { label: "resource", key: "resource" },
        { label: "write disposition", key: "write_disposition" },
      ], tables, { cls: "tables" }),
    );
  },

  async query(name) {
    const sql = el("textarea", { id: "sql", spellcheck: "false" });
    sql.value = sessionStorage.getItem("sql:" + name) || "SELECT * FROM _dlt_loads ORDER BY load_id DESC LIMIT 10";
    const out = el("div", { id: "query-result" });
    const run = el("button", { id: "run-query", text: "Run (read-only)" });
    const go = async () => {
      run.disabled = true;
      sessionStorage.setItem("sql:" + name, sql.value);
      out.replaceChildren(el("p", { class: "muted", text: "Running…" }));
      try {
        const r = await api(`pipelines/${encodeURIComponent(name)}/query`, { method: "POST", body: JSON.stringify({ sql: sql.value }) });
        out.replaceChildren(
          el("p", { class: "muted", text: `${r.rows.length} row(s)${r.more ? " shown; more not shown" : ""}` }),
          table(r.columns.map((c) => ({ label: c.name, key: c.name })), r.rows, { cls: "result" }));
      } catch (e) {
        out.replaceChildren(errorBox(e));
      } finally {
        run.disabled = false;
      }
    };
    run.addEventListener("click", go);
    sql.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) go(); });
    show(el("h2", { text: "SQL" }), el("p", { class: "muted", text: "One read-only statement; unqualified names are the dataset's tables. Ctrl+Enter runs it." }), sql, el("div", { class: "pager" }, run), out);
  },

  async packages(name) {
    const { pending, aborted } = await api(`pipelines/${encodeURIComponent(name)}/packages`);
    const list = (title, ps, cls) => [
      el("h3", { text: `${title} (${ps.length})` }),
      ps.length ? table([
        { label: "load id", key: "load_id" }, { label: "resources", render: (p) => p.resources.join(", ") },
        { label: "files", render: (p) => fmt(p.files.length), num: true }, { label: "bytes", key: "bytes", num: true },
        { label: "error", wrap: true, render: (p) => p.error ? el("span", { class: "error-text", text: p.error }) : "" },
      ], ps, { cls }) : el("p", { class: "muted", text: "none" }),
    ];
    show(el("h2", { text: "Packages" }), ...list("Pending", pending, "pending"), ...list("Aborted", aborted, "aborted"));
  },

  async trace(name) {
    const { trace } = await api(`pipelines/${encodeURIComponent(name)}/trace`);
    if (!trace) return show(el("h2", { text: "Last run" }), el("p", { text: "No run recorded yet." }));
    const s = trace.summary || {};
    const kv = (pairs) => table(["what", "value"], pairs.map(([what, value]) => ({ what, value: fmt(value) })), { cls: "kv" });
    show(
      el("h2", { text: "Last run" }),
      trace.error ? errorBox(new Error(trace.error)) : null,
      kv([["status", trace.status], ["started", trace.started_at], ["finished", trace.finished_at],
        ["duration ms", s.duration_ms], ["stages (ms)", s.stage_ms], ["loads", (s.load_ids || []).join(", ")],
        ["HTTP requests", s.http_requests], ["schema version", s.schema_version], ["pending packages loaded", s.pending_packages_loaded]]),
      el("h3", { text: "Rows per table" }),
      table(["table", { label: "rows", key: "rows", num: true }], Object.entries(s.tables || {}).map(([table, rows]) => ({ table, rows })), { cls: "trace-tables" }),
      el("h3", { text: "HTTP per resource" }),
      table(["resource", { label: "requests", key: "requests", num: true }, { label: "retries", key: "retries", num: true }, { label: "denied", key: "denied", num: true }, { label: "bytes", key: "bytes", num: true }],
        Object.entries(s.http || {}).map(([resource, h]) => ({ resource, ...h }))),
      el("h3", { text: "Schema changes" }),
      table(["table", "columns added"], Object.entries((s.schema_update || {}).tables || {}).map(([table, cols]) => ({ table, "columns added": cols.join(", ") }))),
    );
  },

  async connector(name) {
    const { run: trace } = await api(`pipelines/${encodeURIComponent(name)}/connector`);
    if (!trace) return show(el("h2", { text: "Connector" }), el("p", { text: "No run recorded yet." }));
    const p = trace.plan || {};
    show(
      el("h2", { text: `Connector ${p.connector || ""}` }),
      el("p", { class: "muted", text: `as planned by the run of ${trace.started_at}` }),
      table(["what", "value"], [
        ["source", p.source], ["version", p.version], ["sha256", p.component_digest],
        ["destination", p.destination], ["dataset", p.dataset],
        ["memory limit MB", p.memory_mb], ["call timeout s", p.call_timeout_secs],
      ].map(([what, value]) => ({ what, value: fmt(value) })), { cls: "connector" }),
      el("h3", { text: "Imports (capabilities it can ask for)" }),
      table(["import"], (trace.imports || []).map((i) => ({ import: i })), { cls: "imports" }),
      el("h3", { text: "Grants" }),
      table(["kind", "grant"], [
        ...(p.allow_hosts || []).map((g) => ({ kind: "host", grant: g })),
        ...(p.read || []).map((g) => ({ kind: "read", grant: g })),
        ...(p.databases || []).map((g) => ({ kind: "database", grant: g })),
        ...(p.buckets || []).map((g) => ({ kind: "bucket", grant: g })),
        ...(p.secrets || []).map((g) => ({ kind: "secret", grant: `${g.name} → ${g.host} (${g.scheme}), from ${g.from}` })),
      ], { cls: "grants" }),
    );
  },
};

async function tablePage(name, tableName) {
  const limit = 50;
  const offset = Number(new URLSearchParams(location.hash.split("?")[1] || "").get("offset") || 0);
  const r = await api(`pipelines/${encodeURIComponent(name)}/tables/${encodeURIComponent(tableName)}?offset=${offset}&limit=${limit}`);
  const base = `#/p/${encodeURIComponent(name)}/tables/${encodeURIComponent(tableName)}`;
  const pager = el("div", { class: "pager" },
    el("button", { id: "prev-page", ...(offset === 0 ? { disabled: "" } : {}), onclick: () => { location.hash = `${base}?offset=${Math.max(0, offset - limit)}`; } , text: "← previous" }),
    el("span", { class: "muted", text: `rows ${offset + 1}–${offset + r.rows.length}` }),
    el("button", { id: "next-page", ...(r.more ? {} : { disabled: "" }), onclick: () => { location.hash = `${base}?offset=${offset + limit}`; }, text: "next →" }));
  show(el("h2", { text: `Table ${tableName}` }), pager,
    table(r.columns.map((c) => ({ label: c.name, key: c.name })), r.rows, { cls: "preview" }));
}

window.addEventListener("hashchange", route);
route();
