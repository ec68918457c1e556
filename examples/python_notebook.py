# %% [markdown]
# # Sluice from Python
#
# A notebook in the percent format (Jupyter, VS Code and PyCharm open it as cells; `python
# examples/python_notebook.py` runs it whole). It needs the `sluice` wheel (`just wheel
# release`, then `pip install $CARGO_TARGET_DIR/wheels/sluice-*.whl`), pandas and pyarrow.
# Everything it writes goes to a temporary directory.

# %%
import datetime
import tempfile

import pandas as pd

import sluice

work = tempfile.mkdtemp(prefix="sluice-notebook-")
p = sluice.pipeline(
    "shop",
    destination=f"duckdb:{work}/shop.duckdb",
    dataset_name="raw",
    pipelines_dir=f"{work}/pipelines",
)

# %% [markdown]
# Nested records become a root table and child tables, as dlt makes them.

# %%
orders = [
    {
        "id": 1,
        "placed_at": datetime.datetime(2024, 5, 1, 9, 30, tzinfo=datetime.timezone.utc),
        "customer": {"name": "Ann", "country": "NL"},
        "items": [{"sku": "tea", "qty": 2}, {"sku": "mug", "qty": 1}],
    },
    {
        "id": 2,
        "placed_at": datetime.datetime(2024, 5, 2, 14, 0, tzinfo=datetime.timezone.utc),
        "customer": {"name": "Bo", "country": "SE"},
        "items": [{"sku": "tea", "qty": 5}],
    },
]
info = p.run(orders, table_name="orders", write_disposition="merge", primary_key="id")
print(info)

# %% [markdown]
# Run it again with a changed order: `merge` updates it in place, child rows included.

# %%
orders[1]["items"] = [{"sku": "tea", "qty": 6}]
print(p.run(orders[1:], table_name="orders", write_disposition="merge", primary_key="id"))

# %% [markdown]
# A DataFrame goes in through Arrow, no row at a time.

# %%
prices = pd.DataFrame({"sku": ["tea", "mug"], "price": [4.5, 12.0]})
print(p.run(prices, table_name="prices", write_disposition="replace"))

# %% [markdown]
# Read it back: tables with dlt's types, any table as Arrow or pandas, read-only SQL.

# %%
ds = p.dataset()
print(ds.table_names)
print(ds["orders__items"].df())
revenue = ds.query(
    """
    SELECT o.customer__name AS customer, sum(i.qty * pr.price) AS revenue
    FROM orders o
    JOIN orders__items i ON i._dlt_parent_id = o._dlt_id
    JOIN prices pr ON pr.sku = i.sku
    GROUP BY 1 ORDER BY 1
    """
).df()
print(revenue)
assert revenue["revenue"].tolist() == [21.0, 27.0]

# %% [markdown]
# A broken contract is an exception with the same message as the command line's.

# %%
try:
    p.run([{"id": 3, "coupon": "FREE"}], table_name="orders", schema_contract={"columns": "freeze"})
except sluice.ContractViolation as e:
    print("refused:", e)
    p.drop_pending_packages()
