"""Hello world in Python: one resource, one page of greetings (the Rust `hello` connector)."""

import sluice
from sluice import Source  # noqa: F401  the component's export


@sluice.resource(name="greetings", primary_key="id")
def greetings(name: str):
    yield {"id": 1, "greeting": f"hello, {name}"}
    yield {"id": 2, "greeting": f"goodbye, {name}"}


@sluice.source(name="hello", version="0.1.0")
def hello(name: str = "world"):
    """Greets `name`."""
    return greetings(name)
