// The JavaScript SDK for Sluice connectors, in the style dlt users know.
//
// A source is a function of its configuration (declared with a JSON-Schema-like `config`
// map, checked before the function runs) that returns resources. A resource is a generator
// function, sync or async, that yields records (objects) or pages (arrays of objects); a
// transformer is a resource fed by another resource's pages:
//
//     import * as sluice from "./sluice.js";
//
//     const users = sluice.resource({ primaryKey: "id" }, async function* (base) {
//       const r = await fetch(`${base}/users`);      // through the host's HTTP policy
//       yield await r.json();
//     });
//
//     export const source = sluice.source(
//       { name: "demo", config: { base: { type: "string" } } },
//       (config) => [users(config.base)],
//     );
//
// The module's `source` export is the component's `sluice:connector/source` interface.
// Build with componentize-js 0.23 (`sluice init connector --lang js` writes a project that
// does this). Records leave the component one page at a time as one JSON buffer, never one
// call per record: the host parses, normalizes and loads them. `sluice.state()` is the
// resource's state (committed with the rows of each page), `sluice.incremental(...)` declares
// a host-side cursor whose window the resource reads with `sluice.window()`, `fetch` and
// `sluice.http` both go through the host's HTTP mediation (allow-list, secrets injected by
// the host), and `sluice.log` writes to the run's log.

import { fetch as hostFetch } from "sluice:connector/http@0.2.2";
import { log as hostLog } from "sluice:connector/log@0.2.2";

// ---- errors --------------------------------------------------------------------------------

const KINDS = ["config", "auth", "external", "data", "internal"];

/** An error the host reports with its kind (`config`, `auth`, `external`, `data`,
 * `internal`); `retryable` says whether the same call may succeed later. */
export class ConnectorError extends Error {
  constructor(message, { kind = "internal", retryable = false } = {}) {
    super(message);
    this.name = "ConnectorError";
    this.kind = KINDS.includes(kind) ? kind : "internal";
    this.retryable = Boolean(retryable);
  }
}

/** What crosses the boundary as `connector-error`: a ConnectorError as it is, anything else
 * as an internal error naming its type, message and where it was thrown. */
function asWitError(e) {
  if (e instanceof ConnectorError) {
    return { kind: e.kind, message: e.message, retryable: e.retryable };
  }
  if (e instanceof Error) {
    const where = thrownAt(e);
    return {
      kind: "internal",
      message: `${e.name}: ${e.message}${where ? ` at ${where}` : ""}`,
      retryable: false,
    };
  }
  return { kind: "internal", message: `thrown: ${describe(e)}`, retryable: false };
}

/** `file:line` of the first stack frame outside this SDK. */
function thrownAt(e) {
  for (const line of String(e.stack || "").split("\n")) {
    const m = /([^/@\s(]+\.m?js):(\d+)/.exec(line);
    if (m && m[1] !== "sluice.js") return `${m[1]}:${m[2]}`;
  }
  return "";
}

function describe(v) {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

// ---- logging -------------------------------------------------------------------------------

/** The run's log: `sluice.log.info("…")`. The host caps, rate-limits and redacts. */
export const log = {
  debug: (m) => hostLog("debug", String(m)),
  info: (m) => hostLog("info", String(m)),
  warn: (m) => hostLog("warn", String(m)),
  error: (m) => hostLog("error", String(m)),
};

// ---- HTTP ----------------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A buffered response: `status`, `ok`, `headers` (lower-case names), `body` (bytes),
 * `text()`, `json()`, `raiseForStatus()`. */
export class Response {
  constructor(url, r) {
    this.url = url;
    this.status = r.status;
    this.headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
    this.body = r.body;
  }

  get ok() {
    return this.status < 400;
  }

  text() {
    return decoder.decode(this.body);
  }

  json() {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw new ConnectorError(`${this.url}: the response is not JSON: ${e.message}`, {
        kind: "external",
      });
    }
  }

  raiseForStatus() {
    if (this.status >= 400) {
      const kind = this.status === 401 || this.status === 403 ? "auth" : "external";
      const retryable = this.status === 429 || this.status >= 500;
      const err = new ConnectorError(
        `${this.url}: HTTP ${this.status}: ${this.text().slice(0, 300)}`,
        { kind, retryable },
      );
      err.response = this;
      throw err;
    }
    return this;
  }
}

function withParams(url, params) {
  if (!params) return url;
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  return q ? url + (url.includes("?") ? "&" : "?") + q : url;
}

function httpError(url, e) {
  switch (e && e.tag) {
    case "denied":
      return new ConnectorError(`${url}: refused by the pipeline's policy: ${e.val}`, {
        kind: "config",
      });
    case "timeout":
      return new ConnectorError(`${url}: timed out`, { kind: "external", retryable: true });
    case "too-large":
      return new ConnectorError(`${url}: response over the size cap of ${e.val} bytes`, {
        kind: "external",
      });
    case "rate-limited":
      return new ConnectorError(`${url}: still rate-limited after retries`, {
        kind: "external",
        retryable: true,
      });
    default:
      return new ConnectorError(`${url}: ${e && e.val !== undefined ? e.val : describe(e)}`, {
        kind: "external",
        retryable: true,
      });
  }
}

/** HTTP through the host's `sluice:connector/http`: one call per request, secrets injected
 * by name (`secrets: ["token"]`; the connector never sees a value), retries of 429/5xx with
 * `Retry-After` and pacing done by the host. `fetch` works too (through `wasi:http`, under
 * the same policy), without the host's retries. */
export const http = {
  request(method, url, { params, headers, json, body, secrets = [], timeout } = {}) {
    const full = withParams(url, params);
    const hdrs = Object.entries(headers || {}).map(([k, v]) => [String(k), String(v)]);
    let payload;
    if (json !== undefined) {
      payload = encoder.encode(JSON.stringify(json));
      if (!hdrs.some(([k]) => k.toLowerCase() === "content-type")) {
        hdrs.push(["content-type", "application/json"]);
      }
    } else if (body !== undefined) {
      payload = typeof body === "string" ? encoder.encode(body) : new Uint8Array(body);
    }
    let r;
    try {
      r = hostFetch({
        method: method.toUpperCase(),
        url: full,
        headers: hdrs,
        body: payload,
        timeoutMs: timeout === undefined ? undefined : Math.round(timeout * 1000),
        secrets: [...secrets],
      });
    } catch (e) {
      throw httpError(full, e && e.payload !== undefined ? e.payload : e);
    }
    return new Response(full, r);
  },
  get: (url, opts) => http.request("GET", url, opts),
  post: (url, opts) => http.request("POST", url, opts),
  put: (url, opts) => http.request("PUT", url, opts),
  delete: (url, opts) => http.request("DELETE", url, opts),
};

// ---- JSON ----------------------------------------------------------------------------------

/** Records as JSON text, as `JSON.stringify` writes them (`Date` as ISO text through its
 * `toJSON`), plus `BigInt`, which `JSON.stringify` refuses: a number when a double holds it
 * exactly, text otherwise. The replacer only runs when a page holds a BigInt: it costs a
 * call per value. */
function jsonText(v) {
  try {
    return JSON.stringify(v);
  } catch (e) {
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
    return JSON.stringify(v, bigints);
  }
}

function bigints(_key, v) {
  if (typeof v === "bigint") {
    return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  }
  return v;
}

/** A number written as a JSON float (`57` as `57.0`), so a float column is inferred as
 * `double` even when a value happens to be whole: JavaScript numbers do not remember the
 * difference. Not finite: `null`, as `JSON.stringify` writes it. (A `dataType: "double"`
 * column hint does the same for a whole column, and puts it first in the table.) */
export function float(x) {
  const n = Number(x);
  if (!Number.isFinite(n)) return null;
  const text = String(n);
  return JSON.rawJSON(/[.eE]/.test(text) ? text : `${text}.0`);
}

// ---- pages, state and incremental ----------------------------------------------------------

/** Yield a `Page` to set the page boundary and its checkpoint yourself; plain records and
 * arrays are cut into pages by the SDK (`pageSize` records per page). */
export class Page {
  constructor(records, checkpoint) {
    this.records = records;
    this.checkpoint = checkpoint;
  }
}

const LAST_VALUE_FUNCS = ["max", "min"];
const ON_CURSOR_MISSING = ["raise", "keep", "drop"];

/** A host-side incremental cursor (dlt's `dlt.sources.incremental`). Declared in a
 * resource's options; while the resource runs, `sluice.window()` is a copy filled with the
 * window the host computed: `startValue`, `endValue`, `lastValue`. The host keeps the cursor
 * state, filters records outside the window and deduplicates the boundary. */
export class Incremental {
  constructor(
    cursorPath,
    {
      initialValue,
      endValue,
      lastValueFunc = "max",
      lag,
      onCursorMissing = "raise",
    } = {},
  ) {
    if (!LAST_VALUE_FUNCS.includes(lastValueFunc)) {
      throw new ConnectorError(`lastValueFunc must be \`max\` or \`min\`, not \`${lastValueFunc}\``, {
        kind: "config",
      });
    }
    if (!ON_CURSOR_MISSING.includes(onCursorMissing)) {
      throw new ConnectorError(
        `onCursorMissing must be \`raise\`, \`keep\` or \`drop\`, not \`${onCursorMissing}\``,
        { kind: "config" },
      );
    }
    this.cursorPath = cursorPath;
    this.initialValue = initialValue;
    this.endValue = endValue;
    this.lastValueFunc = lastValueFunc;
    this.lag = lag;
    this.onCursorMissing = onCursorMissing;
    this.startValue = initialValue;
    this.lastValue = undefined;
  }

  spec() {
    const opt = (v) => (v === undefined || v === null ? undefined : jsonText(v));
    return {
      cursorPath: this.cursorPath,
      initialValue: opt(this.initialValue),
      endValue: opt(this.endValue),
      lastValueFunc: this.lastValueFunc,
      lag: this.lag,
      onCursorMissing: this.onCursorMissing,
    };
  }

  withWindow(w) {
    const inc = new Incremental(this.cursorPath, this);
    if (w) {
      const load = (v) => (v === undefined ? undefined : JSON.parse(v));
      inc.startValue = load(w.startValue);
      inc.endValue = load(w.endValue);
      inc.lastValue = load(w.lastValue);
    }
    return inc;
  }
}

/** Declare an incremental cursor: `sluice.resource({ incremental: sluice.incremental("updated_at") }, …)`. */
export function incremental(cursorPath, opts) {
  return new Incremental(cursorPath, opts);
}

let currentState;
let currentWindow;

/** What `state()` and `window()` return while a resource's code runs. */
function enter(st, win) {
  currentState = st;
  currentWindow = win;
}

function leave() {
  currentState = undefined;
  currentWindow = undefined;
}

/** The state of the resource being extracted (dlt's `resource_state()`): an object loaded
 * from the last committed run; what you put in it is committed with the rows of each
 * following page, in the same transaction. */
export function state() {
  if (currentState === undefined) {
    throw new ConnectorError("sluice.state() is only available while a resource runs");
  }
  return currentState;
}

/** The incremental window of the resource being extracted (declared by the resource or by
 * the pipeline file's `[resources.NAME.incremental]`), or `undefined`. */
export function window() {
  return currentWindow;
}

// ---- resources and sources -----------------------------------------------------------------

const WRITE = ["append", "replace", "merge", "skip"];
const MERGE = ["delete-insert", "upsert", "scd2", "insert-only"];
const HINTS = [
  "dataType",
  "nullable",
  "primaryKey",
  "mergeKey",
  "unique",
  "dedupSort",
  "hardDelete",
  "precision",
  "scale",
  "timezone",
];

const keys = (k) => (k === undefined || k === null ? [] : typeof k === "string" ? [k] : [...k]);

function columnHint(name, h) {
  const unknown = Object.keys(h).filter((k) => !HINTS.includes(k));
  if (unknown.length) {
    throw new ConnectorError(`column \`${name}\`: unknown hint(s) ${unknown.join(", ")}`, {
      kind: "config",
    });
  }
  return {
    name,
    dataType: h.dataType,
    nullable: h.nullable,
    primaryKey: Boolean(h.primaryKey),
    mergeKey: Boolean(h.mergeKey),
    unique: Boolean(h.unique),
    dedupSort: h.dedupSort,
    hardDelete: Boolean(h.hardDelete),
    precision: h.precision,
    scale: h.scale,
    timezone: h.timezone,
  };
}

const RESOURCE_OPTIONS = [
  "name",
  "tableName",
  "description",
  "writeDisposition",
  "mergeStrategy",
  "primaryKey",
  "mergeKey",
  "columns",
  "incremental",
  "maxTableNesting",
  "selected",
  "pageSize",
];

class Resource {
  constructor(opts, fn, parent) {
    if (typeof fn !== "function") {
      throw new ConnectorError("a resource needs a (generator) function");
    }
    const unknown = Object.keys(opts).filter((k) => !RESOURCE_OPTIONS.includes(k));
    this.name = opts.name || fn.name;
    if (!this.name) {
      throw new ConnectorError("a resource needs a name: give `name` or a named function");
    }
    if (unknown.length) {
      throw new ConnectorError(`resource \`${this.name}\`: unknown option(s) ${unknown.join(", ")}`);
    }
    const wd = opts.writeDisposition || "append";
    if (!WRITE.includes(wd)) {
      throw new ConnectorError(`resource \`${this.name}\`: writeDisposition must be one of ${WRITE.join(", ")}`);
    }
    if (opts.mergeStrategy !== undefined && !MERGE.includes(opts.mergeStrategy)) {
      throw new ConnectorError(`resource \`${this.name}\`: mergeStrategy must be one of ${MERGE.join(", ")}`);
    }
    this.fn = fn;
    this.opts = opts;
    this.parent = parent;
    this.pageSize = Math.max(1, Math.floor(opts.pageSize || 1000));
  }

  spec() {
    const o = this.opts;
    return {
      name: this.name,
      tableName: o.tableName,
      description: o.description,
      writeDisposition: o.writeDisposition || "append",
      mergeStrategy: o.mergeStrategy,
      primaryKey: keys(o.primaryKey),
      mergeKey: keys(o.mergeKey),
      columns: Object.entries(o.columns || {}).map(([n, h]) => columnHint(n, h)),
      incremental: o.incremental ? o.incremental.spec() : undefined,
      maxNesting: o.maxTableNesting,
      parent: this.parent ? this.parent.name : undefined,
      selected: o.selected === undefined ? true : Boolean(o.selected),
    };
  }
}

/** A resource with its arguments, as a source returns it. */
class Bound {
  constructor(resource, args) {
    this.resource = resource;
    this.args = args;
  }
}

/** Declare a resource (dlt's `@dlt.resource`): `fn` is a generator function (sync or
 * async) yielding records, arrays of records or `sluice.Page`s, or a function returning an
 * array (or a promise of one). Options: `name` (the function's name by default),
 * `tableName`, `description`, `writeDisposition`, `mergeStrategy`, `primaryKey`, `mergeKey`,
 * `columns` (`{ id: { dataType: "bigint" } }`), `incremental`, `maxTableNesting`,
 * `selected`, `pageSize` (default 1000). Calling the result binds arguments without
 * running anything. */
export function resource(opts, fn) {
  if (typeof opts === "function") [opts, fn] = [{}, opts];
  const r = new Resource(opts || {}, fn, undefined);
  const bind = (...args) => new Bound(r, args);
  bind.resource = r;
  return bind;
}

const transformers = [];

/** Declare a dependent resource (dlt's `@dlt.transformer`): `fn` receives each page of
 * `parent`'s records (an array of objects) as its first argument. */
export function transformer(parent, opts, fn) {
  if (typeof opts === "function") [opts, fn] = [{}, opts];
  const p = parent && parent.resource;
  if (!(p instanceof Resource)) {
    throw new ConnectorError("transformer: the parent must be a resource");
  }
  const r = new Resource(opts || {}, fn, p);
  transformers.push(r);
  const bind = (...args) => new Bound(r, args);
  bind.resource = r;
  return bind;
}

const TYPES = {
  string: (v) => typeof v === "string",
  integer: (v) => Number.isInteger(v),
  number: (v) => typeof v === "number",
  boolean: (v) => typeof v === "boolean",
  array: (v) => Array.isArray(v),
  object: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
};

class SourceDef {
  constructor(opts, fn) {
    this.name = opts.name || fn.name;
    if (!this.name) throw new ConnectorError("a source needs a name");
    this.version = opts.version || "0.1.0";
    this.description = opts.description;
    this.config = opts.config || {};
    for (const [k, p] of Object.entries(this.config)) {
      if (p.type !== undefined && !(p.type in TYPES)) {
        throw new ConnectorError(`config key \`${k}\`: unknown type \`${p.type}\``);
      }
    }
    this.fn = fn;
  }

  configSchema() {
    const properties = {};
    const required = [];
    for (const [k, p] of Object.entries(this.config)) {
      const prop = {};
      if (p.type) prop.type = p.type;
      if (p.description) prop.description = p.description;
      if (p.default !== undefined) prop.default = p.default;
      properties[k] = prop;
      if (p.default === undefined && !p.optional) required.push(k);
    }
    const schema = { type: "object", properties, additionalProperties: false };
    if (required.length) schema.required = required;
    return JSON.stringify(schema);
  }

  /** The configuration checked against the declaration, defaults filled in. */
  configOf(text) {
    let config;
    try {
      config = text ? JSON.parse(text) : {};
    } catch (e) {
      throw new ConnectorError(`config is not JSON: ${e.message}`, { kind: "config" });
    }
    if (!TYPES.object(config)) {
      throw new ConnectorError("config must be a JSON object", { kind: "config" });
    }
    const declared = Object.keys(this.config);
    const unknown = Object.keys(config).filter((k) => !declared.includes(k)).sort();
    if (unknown.length) {
      const takes = declared.map((k) => `\`${k}\``).join(", ") || "none";
      throw new ConnectorError(
        `unknown config key(s) ${unknown.map((k) => `\`${k}\``).join(", ")}; \`${this.name}\` takes ${takes}`,
        { kind: "config" },
      );
    }
    const out = {};
    for (const [k, p] of Object.entries(this.config)) {
      const v = config[k];
      if (v === undefined || v === null) {
        if (p.default === undefined && !p.optional) {
          throw new ConnectorError(`config key \`${k}\` is required`, { kind: "config" });
        }
        out[k] = p.default;
      } else if (p.type && !TYPES[p.type](v)) {
        throw new ConnectorError(`config key \`${k}\` must be ${p.type}, got ${JSON.stringify(v)}`, {
          kind: "config",
        });
      } else {
        out[k] = v;
      }
    }
    return out;
  }

  /** The bound resources for a configuration. */
  resources(text) {
    let out = this.fn(this.configOf(text));
    if (!Array.isArray(out)) out = [out];
    return out.map((r) => {
      if (r instanceof Bound) return r;
      if (typeof r === "function" && r.resource instanceof Resource) return r();
      throw new ConnectorError(`source \`${this.name}\` returned ${describe(r)}, not a resource`);
    });
  }
}

/** Runs one resource: drives its iterator and cuts pages. */
class Extraction {
  constructor(it, pageSize, st, win) {
    this.it = it;
    this.pageSize = pageSize;
    this.state = st;
    this.window = win;
    this.buffer = [];
    this.pending = undefined;
    this.done = false;
    // a page carries the state only when it changed (emptying it is a change too)
    this.lastState = stableJson(st);
  }

  page(records, checkpoint) {
    let cp;
    if (checkpoint !== undefined && checkpoint !== null) {
      cp = jsonText(checkpoint);
    } else {
      const text = stableJson(this.state);
      if (text !== this.lastState) cp = text;
    }
    if (cp !== undefined) this.lastState = cp;
    let body;
    try {
      body = encoder.encode(jsonText(records));
    } catch (e) {
      throw new ConnectorError(`a record is not JSON: ${e.message}`, { kind: "data" });
    }
    return { records: body, format: "json-array", checkpoint: cp };
  }

  /** The next page, or undefined when the resource is done; async when the resource is. */
  next() {
    enter(this.state, this.window);
    let out;
    try {
      out = this.step();
    } catch (e) {
      leave();
      throw asWitError(e);
    }
    if (out instanceof Promise) {
      return out.then(
        (p) => {
          leave();
          return p;
        },
        (e) => {
          leave();
          throw asWitError(e);
        },
      );
    }
    leave();
    return out;
  }

  /** One page from the iterator; switches to promises as soon as the iterator gives one. */
  step() {
    if (this.pending) {
      const p = this.pending;
      this.pending = undefined;
      return this.page([...p.records], p.checkpoint);
    }
    while (!this.done) {
      const r = this.it.next();
      if (r instanceof Promise) return r.then((r) => this.take(r) ?? this.stepAsync());
      const page = this.take(r);
      if (page) return page;
    }
    return this.flush();
  }

  /** The rest of `step` once the iterator is async. `next` keeps the state and window set
   * until the promise settles: componentize-js runs the event loop to completion inside each
   * call, so no other extraction runs in between. */
  async stepAsync() {
    while (!this.done) {
      const page = this.take(await this.it.next());
      if (page) return page;
    }
    return this.flush();
  }

  /** Takes one iterator result; a page when one is complete. */
  take({ value, done }) {
    if (done) {
      this.done = true;
      return this.flush();
    }
    if (value instanceof Page) {
      if (this.buffer.length) {
        // keep the order: what was buffered goes first
        const out = this.buffer;
        this.buffer = [];
        this.pending = value;
        return this.page(out);
      }
      return this.page([...value.records], value.checkpoint);
    }
    if (Array.isArray(value)) {
      for (const v of value) this.buffer.push(v);
    } else if (value !== null && typeof value === "object") {
      this.buffer.push(value);
    } else if (value !== undefined && value !== null) {
      throw new ConnectorError(
        `a resource yields objects, arrays of objects or sluice.Page, not ${typeof value}`,
        { kind: "data" },
      );
    }
    if (this.buffer.length >= this.pageSize) {
      const out = this.buffer;
      this.buffer = [];
      return this.page(out);
    }
    return undefined;
  }

  flush() {
    if (!this.buffer.length) return undefined;
    const out = this.buffer;
    this.buffer = [];
    return this.page(out);
  }
}

function stableJson(v) {
  return jsonText(sorted(v));
}

function sorted(v) {
  if (Array.isArray(v)) return v.map(sorted);
  if (v && typeof v === "object" && v.constructor === Object) {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted(v[k])]),
    );
  }
  return v;
}

/** An iterator over whatever a resource function returned. */
function iterate(out) {
  if (out && typeof out[Symbol.iterator] === "function" && !Array.isArray(out)) {
    return out[Symbol.iterator]();
  }
  if (out && typeof out[Symbol.asyncIterator] === "function") {
    return out[Symbol.asyncIterator]();
  }
  if (out instanceof Promise) {
    let done = false;
    return {
      next: () =>
        done
          ? Promise.resolve({ done: true })
          : out.then((v) => {
              done = true;
              return { value: v ?? [], done: false };
            }),
    };
  }
  return [out ?? []][Symbol.iterator]();
}

/** Declare the component's source (dlt's `@dlt.source`) and return the
 * `sluice:connector/source` export: `export const source = sluice.source({...}, fn)`.
 * `config` maps each key to `{ type, default, optional, description }` (`type` one of
 * string, integer, number, boolean, array, object); unknown keys, missing required keys and
 * wrong types are configuration errors naming the key, before `fn(config)` runs. */
export function source(opts, fn) {
  if (typeof opts === "function") [opts, fn] = [{}, opts];
  const def = new SourceDef(opts || {}, fn);
  return {
    spec(config) {
      try {
        const seen = new Map();
        for (const b of def.resources(config)) seen.set(b.resource.name, b.resource);
        for (const t of transformers) {
          if (seen.has(t.parent.name) && !seen.has(t.name)) seen.set(t.name, t);
        }
        return {
          name: def.name,
          version: def.version,
          description: def.description,
          configSchema: def.configSchema(),
          resources: [...seen.values()].map((r) => r.spec()),
        };
      } catch (e) {
        throw asWitError(e);
      }
    },

    open(resourceName, config, stateText, win, parentRecords) {
      try {
        const bound = def.resources(config).find((b) => b.resource.name === resourceName);
        let res;
        let args;
        if (bound) {
          res = bound.resource;
          args = [...bound.args];
        } else {
          res = transformers.find((t) => t.name === resourceName);
          if (!res) {
            throw new ConnectorError(`unknown resource \`${resourceName}\``, { kind: "config" });
          }
          args = [];
        }
        let st = stateText ? JSON.parse(stateText) : {};
        if (!TYPES.object(st)) st = { value: st };
        let inc;
        if (res.opts.incremental) inc = res.opts.incremental.withWindow(win);
        else if (win) inc = new Incremental("").withWindow(win);
        if (res.parent) {
          const parents = parentRecords ? JSON.parse(decoder.decode(parentRecords)) : [];
          args.unshift(parents);
        }
        enter(st, inc);
        let out;
        try {
          out = res.fn(...args);
        } finally {
          leave();
        }
        return new Extraction(iterate(out), res.pageSize, st, inc);
      } catch (e) {
        throw asWitError(e);
      }
    },

    Extraction,
  };
}
