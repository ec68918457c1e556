// `{{name}}`: a Sluice connector. `items` yields `count` records in pages of `page_size`;
// replace it with your resources (see the README for HTTP, state and incremental loading).

import * as sluice from "./sluice.js";

const items = sluice.resource({ name: "items", primaryKey: "id" }, function* (greeting, count, pageSize) {
  for (let first = 0; first < count; first += pageSize) {
    const end = Math.min(first + pageSize, count);
    const records = [];
    for (let i = first; i < end; i++) records.push({ id: i, message: `${greeting} #${i}` });
    // one page, with the state committed in the same transaction as its rows
    yield new sluice.Page(records, { emitted: end });
  }
});

export const source = sluice.source(
  {
    name: "{{name}}",
    version: "0.1.0",
    config: {
      greeting: { type: "string", default: "hello" },
      count: { type: "integer", default: 10 },
      page_size: { type: "integer", default: 100 },
    },
  },
  (config) => [items(config.greeting, config.count, Math.max(1, config.page_size))],
);
