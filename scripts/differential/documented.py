"""The deliberate differences from dlt (README, "Where Sluice differs from dlt, on purpose"),
recognised in a generated case so the harness can tell them from unexplained ones.

Each rule looks at the records (or at Sluice's refusal) and names the README entry it
explains. A case a rule matches is reported as documented, not silently dropped; with
`--avoid-documented` the generator skips such cases, so every remaining difference counts.
"""
import re

ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
NUMERIC = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")

BLANK_KEY_LIST = "a blank key holds a list (Sluice: a `___empty` child table; dlt: rows in the parent)"
NUMERIC_STRING_INTO_TIMESTAMP = "a numeric string after an ISO timestamp (Sluice: kept as text, never a 1970 timestamp)"
NUMBER_BEYOND_TIMESTAMPS = "a number beyond year 9999 as Unix seconds after an ISO timestamp (Sluice: a variant column; dlt: the load fails)"
TWO_PATHS = "two paths to one nested table name (Sluice: refused, naming both)"


def _leaves(value, path, out):
    """(path, scalar) for every scalar, lists marked `[]` in the path, in document order."""
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, path + (k,), out)
    elif isinstance(value, list):
        for item in value:
            _leaves(item, path + ("[]",), out)
    else:
        out.append((path, value))


def _blank_key_list(value):
    if isinstance(value, dict):
        return any((k.strip() == "" and isinstance(v, list)) or _blank_key_list(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_blank_key_list(v) for v in value)
    return False


MAX_UNIX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z


def _after_timestamp(records, matches):
    """Whether a scalar `matches` after an ISO timestamp string at the same path."""
    leaves = []
    for r in records:
        _leaves(r, (), leaves)
    seen_timestamp = set()
    for path, v in leaves:
        if isinstance(v, str) and ISO_TIMESTAMP.match(v):
            seen_timestamp.add(path)
        elif path in seen_timestamp and matches(v):
            return True
    return False


def _numeric_string(v):
    return isinstance(v, str) and bool(NUMERIC.match(v))


def _beyond_timestamps(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > MAX_UNIX_SECONDS


def reasons(records, sluice_error=None):
    """The documented differences this case can show."""
    out = []
    if _blank_key_list(records):
        out.append(BLANK_KEY_LIST)
    if _after_timestamp(records, _numeric_string):
        out.append(NUMERIC_STRING_INTO_TIMESTAMP)
    if _after_timestamp(records, _beyond_timestamps):
        out.append(NUMBER_BEYOND_TIMESTAMPS)
    if sluice_error and "two paths" in sluice_error:
        out.append(TWO_PATHS)
    return out
