"""`{{name}}`: a Sluice connector. `items` yields `count` records in pages of `page_size`;
replace it with your resources (see the README for HTTP, state and incremental loading)."""

import sluice
from sluice import Source  # noqa: F401  the component's export


@sluice.resource(name="items", primary_key="id")
def items(greeting: str, count: int, page_size: int):
    for first in range(0, count, page_size):
        end = min(first + page_size, count)
        # one page, with the state committed in the same transaction as its rows
        yield sluice.Page(
            [{"id": i, "message": f"{greeting} #{i}"} for i in range(first, end)],
            checkpoint={"emitted": end},
        )


@sluice.source(name="{{name}}", version="0.1.0")
def source(greeting: str = "hello", count: int = 10, page_size: int = 100):
    """{{name}}"""
    return items(greeting, count, max(1, page_size))
