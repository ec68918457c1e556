"""A Python connector using the SDK's whole surface, for the tests: HTTP through the host with
a named secret, an incremental cursor declared by the resource, resource state, logging, and
errors raised from inside a resource.

Config: `base_url` (required), `wasi` (read through `sluice.wasi_http`, standard wasi:http,
instead of `sluice.http`; the tests build this probe for world `connector-http`), `fail`
(raise mid-resource). `items` reads `{base_url}/items?page=N&since=V` until a page comes back
empty.
"""

import sluice
from sluice import Source  # noqa: F401  the component's export


@sluice.resource(name="items", primary_key="id", write_disposition="merge")
def items(base_url: str, wasi: bool, updated=sluice.incremental("updated", initial_value=0)):
    st = sluice.state()
    st["runs"] = st.get("runs", 0) + 1
    page = 1
    while True:
        params = {"page": page, "since": updated.start_value}
        if wasi:
            # the host adds the secret it grants for this host
            r = sluice.wasi_http.get(f"{base_url}/items", params=params)
        else:
            r = sluice.http.get(f"{base_url}/items", params=params, secrets=["token"])
        r.raise_for_status()
        body = r.json()
        if not body["items"]:
            break
        yield body["items"]
        page += 1
    via = "sluice.wasi_http" if wasi else "sluice.http"
    sluice.log.info(f"run {st['runs']} read {page - 1} pages since {updated.start_value} with {via}")


@sluice.resource(name="items")
def broken():
    yield {"id": 1}
    raise ValueError("the probe fails on purpose")


@sluice.source(name="py_probe", version="0.2.0")
def probe(base_url: str, wasi: bool = False, fail: bool = False):
    return broken() if fail else items(base_url, wasi)
