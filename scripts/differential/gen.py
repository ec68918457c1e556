"""Seeded generator of nested JSON cases for the differential harness: each case is a short
list of records whose keys repeat across records with changing types, so type changes,
variants, nested tables and naming all come up. Deterministic for a seed."""
import random

KEYS = [
    "id", "name", "value", "count", "createdAt", "updated_at", "user name", "Ünïcode", "a-b",
    "__double", "trailing_", "x.y", "camelCaseKey", "HTTPServer", "123start", "emoji😀",
    "with space", "MiXeD", "_dlt_like", "a__b", "naïve", "Δelta", "tab\tkey", "", "  padded  ",
    "kebab-case-key", "snake_case_key", "ALLCAPS", "dots.in.key", "percent%", "plus+minus",
]
NESTED_KEYS = ["items", "tags", "meta", "child", "list", "payload", "rows", "node"]


def scalar(rng):
    kind = rng.choice([
        "int", "neg", "big", "float", "bool", "str", "iso_ts", "iso_ts_z", "date", "num_str",
        "float_str", "bool_str", "null", "empty_str", "unicode", "time",
    ])
    return {
        "int": lambda: rng.randint(0, 1000),
        "neg": lambda: -rng.randint(1, 10**6),
        "big": lambda: rng.choice([2**53 + 1, 2**63 - 1, 10**18]),
        "float": lambda: round(rng.uniform(-1000, 1000), rng.randint(0, 6)),
        "bool": lambda: rng.random() < 0.5,
        "str": lambda: rng.choice(["alpha", "beta", "x y z", "O'Reilly", "quote\"d", "1e5x"]),
        "iso_ts": lambda: f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T1{rng.randint(0, 9)}:3{rng.randint(0, 9)}:00+00:00",
        "iso_ts_z": lambda: f"2023-1{rng.randint(0, 2)}-0{rng.randint(1, 9)}T0{rng.randint(0, 9)}:00:00Z",
        "date": lambda: f"2022-0{rng.randint(1, 9)}-2{rng.randint(0, 8)}",
        "num_str": lambda: str(rng.randint(0, 99999)),
        "float_str": lambda: f"{rng.uniform(0, 100):.3f}",
        "bool_str": lambda: rng.choice(["true", "false", "True", "FALSE"]),
        "null": lambda: None,
        "empty_str": lambda: "",
        "unicode": lambda: rng.choice(["日本語", "emoji 🎉", "naïve café", "Ωmega"]),
        "time": lambda: f"1{rng.randint(0, 9)}:2{rng.randint(0, 9)}:00",
    }[kind]()


def value(rng, depth):
    if depth >= 4 or rng.random() < 0.6:
        return scalar(rng)
    kind = rng.choice(["dict", "list_scalar", "list_dict", "list_list", "empty_dict", "empty_list"])
    if kind == "dict":
        return record(rng, depth + 1, rng.randint(1, 3))
    if kind == "list_scalar":
        return [scalar(rng) for _ in range(rng.randint(1, 3))]
    if kind == "list_dict":
        return [record(rng, depth + 1, rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]
    if kind == "list_list":
        return [[scalar(rng) for _ in range(rng.randint(0, 2))] for _ in range(rng.randint(1, 2))]
    return {} if kind == "empty_dict" else []


def record(rng, depth, width):
    keys = rng.sample(KEYS if depth == 0 else KEYS + NESTED_KEYS, width)
    return {k: value(rng, depth) for k in keys}


def case(rng):
    """A list of records sharing a key pool, so a key's type changes across records."""
    pool = rng.sample(KEYS + NESTED_KEYS, rng.randint(2, 6))
    out = []
    for _ in range(rng.randint(1, 6)):
        keys = rng.sample(pool, rng.randint(1, len(pool)))
        out.append({k: value(rng, 0 if rng.random() < 0.7 else 1) for k in keys})
    return out


def cases(seed, n, keep=lambda c: True):
    """`n` cases from `seed`; with `keep`, cases it rejects are drawn again."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        c = case(rng)
        if keep(c):
            out.append(c)
    return out
