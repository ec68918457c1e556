// A JavaScript connector using the SDK's whole surface, for the tests: `fetch` (standard
// wasi:http) and `sluice.http` (the host's interface, with a named secret) under the same
// policy, an incremental cursor declared by the resource, resource state, logging, and errors
// thrown from inside a resource.
//
// Config: `base_url` (required), `use_fetch` (read with `fetch` instead of `sluice.http`),
// `fail` (throw mid-resource). `items` reads `{base_url}/items?page=N&since=V` until a page
// comes back empty.

import * as sluice from "../../sluice.js";

async function getPage(base, page, since, useFetch) {
  if (useFetch) {
    // the host injects the secret granted for this host; the connector never holds it
    const r = await fetch(`${base}/items?page=${page}&since=${since}`);
    if (!r.ok) {
      throw new sluice.ConnectorError(`HTTP ${r.status}: ${await r.text()}`, { kind: "external" });
    }
    return r.json();
  }
  return sluice.http
    .get(`${base}/items`, { params: { page, since }, secrets: ["token"] })
    .raiseForStatus()
    .json();
}

const items = sluice.resource(
  {
    name: "items",
    primaryKey: "id",
    writeDisposition: "merge",
    incremental: sluice.incremental("updated", { initialValue: 0 }),
  },
  async function* (base, useFetch) {
    const st = sluice.state();
    st.runs = (st.runs || 0) + 1;
    const since = sluice.window().startValue;
    let page = 1;
    for (;;) {
      const body = await getPage(base, page, since, useFetch);
      if (!body.items.length) break;
      yield body.items;
      page += 1;
    }
    sluice.log.info(`run ${st.runs} read ${page - 1} pages since ${since} with ${useFetch ? "fetch" : "sluice.http"}`);
  },
);

const broken = sluice.resource({ name: "items" }, function* () {
  yield { id: 1 };
  throw new TypeError("the probe fails on purpose");
});

export const source = sluice.source(
  {
    name: "js_probe",
    version: "0.2.0",
    config: {
      base_url: { type: "string" },
      use_fetch: { type: "boolean", default: false },
      fail: { type: "boolean", default: false },
    },
  },
  (config) => [config.fail ? broken() : items(config.base_url, config.use_fetch)],
);
