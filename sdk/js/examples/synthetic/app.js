// `synthetic` in JavaScript: the same deterministic GitHub-events-like records as the Rust
// connector (`connectors/synthetic`), record for record, so the same pipelines give identical
// tables in every language.
//
// Config: `rows` (default 10000), `seed` (default 42), `page_size` (default 1000). `seq` is
// the record's position, a natural incremental cursor: given a window (the pipeline file
// declares the cursor), the resource starts at its `startValue`. `commit_stats` (not selected
// by default) depends on `events` and yields one record per event.

import * as sluice from "../../sluice.js";

const MASK = (1n << 64n) - 1n;
const TYPES = ["PushEvent", "IssuesEvent", "WatchEvent", "ForkEvent", "PullRequestEvent"];
const LABELS = ["bug", "docs", "good first issue", "perf", "security", "wontfix"];

/** splitmix64, as the Rust connector computes it (wrapping u64 arithmetic). */
function mix(z) {
  z = (z + 0x9e3779b97f4a7c15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

const hex16 = (v) => v.toString(16).padStart(16, "0");
const two = (n) => String(n).padStart(2, "0");
/** `(r >> shift) % m` as a JS number */
const bits = (r, shift, m) => Number((r >> BigInt(shift)) % BigInt(m));

function record(seed, i) {
  const r = mix(BigInt(seed) ^ mix(BigInt(i)));
  const kind = TYPES[Number(r % 5n)];
  const ts = 1_700_000_000 + i * 37 + Number(r % 30n);
  const day = Math.floor(ts / 86_400);
  const secs = ts % 86_400;
  const created = `2023-11-${two(14 + Math.min(day - 19_675, 15))}T${two(Math.floor(secs / 3600))}:${two(
    Math.floor(secs / 60) % 60,
  )}:${two(secs % 60)}Z`;
  const user = bits(r, 16, 100);
  const commits = [];
  for (let c = 0; c < bits(r, 8, 4); c++) {
    const cb = BigInt(c);
    commits.push({
      sha: hex16(mix(r ^ cb)) + hex16(mix((r + cb) & MASK)),
      author: { name: `dev${user}`, email: `dev${user}@example.com` },
      message: `change ${c} of event ${i}`,
      distinct: c % 2 === 0,
    });
  }
  const labels = [];
  for (let n = 0; n < bits(r, 12, 3); n++) labels.push(LABELS[bits(r, 20 + n, 6)]);
  const actor = bits(r, 24, 100_000);
  return {
    id: String(30_000_000_000 + i),
    seq: i,
    type: kind,
    actor: { id: actor, login: `user${actor}`, avatar_url: null },
    repo: { id: bits(r, 32, 50_000), name: `org${bits(r, 40, 100)}/repo${bits(r, 32, 500)}` },
    payload: {
      action: kind === "IssuesEvent" ? "opened" : null,
      size: commits.length,
      commits,
      labels,
    },
    public: r % 10n !== 0n,
    // a float in every record, `57.0` included (JavaScript numbers do not keep the `.0`)
    score: sluice.float(Number(r % 10_000n) / 100.0),
    created_at: created,
  };
}

const events = sluice.resource(
  { name: "events", primaryKey: "id" },
  function* (rows, seed, pageSize) {
    // resume at the window's start: rows before it are already loaded
    const w = sluice.window();
    const start = w && w.startValue != null ? Math.max(0, Math.floor(Number(w.startValue))) : 0;
    for (let first = start; first < rows; first += pageSize) {
      const end = Math.min(first + pageSize, rows);
      const page = [];
      for (let i = first; i < end; i++) page.push(record(seed, i));
      yield new sluice.Page(page, { emitted: end });
    }
  },
);

sluice.transformer(events, { name: "commit_stats", selected: false }, function* (parents) {
  yield parents.map((e) => ({ event_id: e.id, commits: e.payload.commits.length }));
});

export const source = sluice.source(
  {
    name: "synthetic",
    version: "0.1.0",
    description: "deterministic GitHub-events-like records",
    config: {
      rows: { type: "integer", default: 10_000 },
      seed: { type: "integer", default: 42 },
      page_size: { type: "integer", default: 1000 },
    },
  },
  (config) => [events(config.rows, config.seed, Math.max(1, config.page_size))],
);
