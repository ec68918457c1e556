// Hello world in JavaScript: one resource, one page of greetings (the Rust `hello` connector).

import * as sluice from "../../sluice.js";

const greetings = sluice.resource({ name: "greetings", primaryKey: "id" }, function* (name) {
  yield { id: 1, greeting: `hello, ${name}` };
  yield { id: 2, greeting: `goodbye, ${name}` };
});

export const source = sluice.source(
  {
    name: "hello",
    version: "0.1.0",
    description: "Greets `name`.",
    config: { name: { type: "string", default: "world" } },
  },
  (config) => [greetings(config.name)],
);
