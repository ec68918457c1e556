"""The Python SDK for Sluice connectors, in the style dlt users know.

A source is a function whose typed arguments are the connector's configuration; it returns
resources. A resource is a generator function that yields records (dicts) or pages (lists of
dicts); a transformer is a resource fed by another resource's pages::

    import sluice
    from sluice import Source  # the component's export; componentize-py looks for it here

    @sluice.resource(primary_key="id")
    def users(page_size: int):
        for page in range(3):
            yield [{"id": page * 10 + i} for i in range(page_size)]

    @sluice.source(version="0.1.0")
    def demo(page_size: int = 10):
        return users(page_size)

Build it with ``componentize-py -d wit -w sluice:connector/connector componentize app -o
demo.wasm`` (``sluice init connector --lang python`` writes a project that does this).

Records leave the component one page at a time as one JSON buffer, never one call per record:
the host parses, normalizes and loads them. ``sluice.state()`` is the resource's state
(committed with the rows of each page), ``sluice.incremental(...)`` as an argument default
declares a host-side incremental cursor and receives the window, ``sluice.http`` is a small
``requests``-like client over the host's HTTP mediation (allow-list, secrets by name, retries,
rate limits), ``sluice.wasi_http`` the same client over standard wasi:http (world
``sluice:connector/connector-http``), and ``sluice.log`` writes to the run's log.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import inspect
import json
import traceback
from urllib.parse import urlencode, urlsplit
import typing
from typing import Any, Callable, Iterable, Iterator, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import http as _http
from wit_world.imports import log as _log

try:
    from wit_world.imports import types
except ImportError:  # the `connector-http` world has two `types` interfaces: ours is renamed
    from wit_world.imports import sluice_connector_types as types
try:  # standard wasi:http, in components built for `sluice:connector/connector-http`
    from wit_world.imports import outgoing_handler as _wasi_out
    from wit_world.imports import streams as _wasi_streams
    from wit_world.imports import wasi_http_types as _wasi
except ImportError:
    _wasi_out = _wasi_streams = _wasi = None

__all__ = [
    "ConnectorError",
    "Incremental",
    "Page",
    "Source",
    "http",
    "incremental",
    "log",
    "resource",
    "source",
    "state",
    "transformer",
    "wasi_http",
    "window",
]

# ---- errors -------------------------------------------------------------------------------


class ConnectorError(Exception):
    """An error the host reports with its kind: ``config``, ``auth``, ``external``, ``data``
    or ``internal``; ``retryable`` says whether the same call may succeed later."""

    def __init__(self, message: str, kind: str = "internal", retryable: bool = False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


_KINDS = {
    "config": types.ErrorKind.CONFIG,
    "auth": types.ErrorKind.AUTH,
    "external": types.ErrorKind.EXTERNAL,
    "data": types.ErrorKind.DATA,
    "internal": types.ErrorKind.INTERNAL,
}


def _as_wit_error(e: BaseException) -> Err:
    if isinstance(e, ConnectorError):
        kind, retryable, message = _KINDS.get(e.kind, types.ErrorKind.INTERNAL), e.retryable, str(e)
    else:
        # a bug in the connector: name the exception and where it was raised
        tb = traceback.extract_tb(e.__traceback__)
        where = f" at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else ""
        kind, retryable = types.ErrorKind.INTERNAL, False
        message = f"{type(e).__name__}: {e}{where}"
    return Err(types.ConnectorError(kind, message, retryable))


# ---- logging ------------------------------------------------------------------------------


class _Log:
    """The run's log: ``sluice.log.info("…")``. The host caps, rate-limits and redacts."""

    def debug(self, message: str) -> None:
        _log.log(_log.Level.DEBUG, str(message))

    def info(self, message: str) -> None:
        _log.log(_log.Level.INFO, str(message))

    def warn(self, message: str) -> None:
        _log.log(_log.Level.WARN, str(message))

    warning = warn

    def error(self, message: str) -> None:
        _log.log(_log.Level.ERROR, str(message))


log = _Log()

# ---- HTTP ---------------------------------------------------------------------------------


class _Response:
    """A buffered response: ``status_code``, ``headers`` (lower-case names), ``content``,
    ``text``, ``json()``, ``raise_for_status()``."""

    def __init__(self, url: str, r: Any):
        self.url = url
        self.status_code: int = r.status
        self.headers = {k.lower(): v for k, v in r.headers}
        self.content: bytes = r.body

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError as e:
            raise ConnectorError(f"{self.url}: the response is not JSON: {e}", "external") from e

    def raise_for_status(self) -> "_Response":
        if self.status_code >= 400:
            kind = "auth" if self.status_code in (401, 403) else "external"
            retryable = self.status_code == 429 or self.status_code >= 500
            raise HTTPError(
                f"{self.url}: HTTP {self.status_code}: {self.text[:300]}", kind, retryable, self
            )
        return self


class HTTPError(ConnectorError):
    """A failed request; ``response`` is set when the server answered."""

    def __init__(self, message: str, kind: str, retryable: bool, response: Optional[_Response] = None):
        super().__init__(message, kind, retryable)
        self.response = response


def _encode_params(params: Optional[dict]) -> str:
    if not params:
        return ""
    return urlencode([(k, _param(v)) for k, v in params.items() if v is not None])


def _param(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


class _Http:
    """``requests``-like HTTP through the host: ``sluice.http.get(url, params=…,
    headers=…, secrets=["token"])``. The host checks every request against the pipeline's
    allow-list, injects the named secrets (the connector never sees a value), retries 429/5xx
    with ``Retry-After`` and paces requests; this helper only builds and reads them.

    ``sluice.wasi_http`` is the same client over standard ``wasi:http/outgoing-handler``
    (build the component for world ``sluice:connector/connector-http``): the same policy,
    and the host adds the secrets granted for the request's host by itself, but no host-side
    retries."""

    def __init__(self, wasi: bool = False):
        self.wasi = wasi

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Optional[dict] = None,
        headers: Optional[dict] = None,
        json: Any = None,
        data: Optional[bytes | str] = None,
        secrets: Iterable[str] = (),
        timeout: Optional[float] = None,
    ) -> _Response:
        query = _encode_params(params)
        if query:
            url = url + ("&" if "?" in url else "?") + query
        hdrs = [(str(k), str(v)) for k, v in (headers or {}).items()]
        body = None
        if json is not None:
            body = _json_bytes(json)
            if not any(k.lower() == "content-type" for k, _ in hdrs):
                hdrs.append(("content-type", "application/json"))
        elif data is not None:
            body = data.encode() if isinstance(data, str) else bytes(data)
        timeout_ms = int(timeout * 1000) if timeout is not None else None
        if self.wasi:
            if secrets:
                raise ConnectorError(
                    "secrets=… names secrets for sluice.http; over wasi:http the host adds the "
                    "secrets the pipeline grants for the request's host by itself",
                    "internal",
                )
            return _Response(url, _wasi_fetch(method.upper(), url, hdrs, body, timeout_ms))
        req = _http.Request(method.upper(), url, hdrs, body, timeout_ms, list(secrets))
        try:
            return _Response(url, _http.fetch(req))
        except Err as e:
            raise _http_error(url, e.value) from None

    def get(self, url: str, **kw: Any) -> _Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> _Response:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> _Response:
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any) -> _Response:
        return self.request("DELETE", url, **kw)


def _http_error(url: str, e: Any) -> HTTPError:
    if isinstance(e, _http.HttpError_Denied):
        return HTTPError(f"{url}: refused by the pipeline's policy: {e.value}", "config", False)
    if isinstance(e, _http.HttpError_Timeout):
        return HTTPError(f"{url}: timed out", "external", True)
    if isinstance(e, _http.HttpError_TooLarge):
        return HTTPError(f"{url}: response over the size cap of {e.value} bytes", "external", False)
    if isinstance(e, _http.HttpError_RateLimited):
        return HTTPError(f"{url}: still rate-limited after retries", "external", True)
    return HTTPError(f"{url}: {getattr(e, 'value', e)}", "external", True)


http = _Http()
wasi_http = _Http(wasi=True)


class _WasiResponse:
    """A response read whole from wasi:http, shaped like our interface's."""

    def __init__(self, status: int, headers: list, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body


def _wasi_fetch(method: str, url: str, hdrs: list, body: Optional[bytes], timeout_ms: Optional[int]) -> _WasiResponse:
    """One request over wasi:http: body written in 4 KiB chunks, the response read to its end."""
    if _wasi is None:
        raise ConnectorError(
            "sluice.wasi_http needs the component built for world sluice:connector/connector-http "
            "(componentize-py -w sluice:connector/connector-http …)",
            "internal",
        )
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise HTTPError(f"{url}: only absolute http and https URLs", "config", False)
    methods = {
        "GET": _wasi.Method_Get, "HEAD": _wasi.Method_Head, "POST": _wasi.Method_Post,
        "PUT": _wasi.Method_Put, "DELETE": _wasi.Method_Delete, "PATCH": _wasi.Method_Patch,
        "OPTIONS": _wasi.Method_Options,
    }
    req = _wasi.OutgoingRequest(_wasi.Fields.from_list([(k, v.encode()) for k, v in hdrs]))
    req.set_method(methods[method]() if method in methods else _wasi.Method_Other(method))
    req.set_scheme(_wasi.Scheme_Https() if u.scheme == "https" else _wasi.Scheme_Http())
    req.set_authority(u.netloc)
    req.set_path_with_query((u.path or "/") + (f"?{u.query}" if u.query else ""))
    out = req.body()
    if body:
        with out.write() as stream:
            for i in range(0, len(body), 4096):
                stream.blocking_write_and_flush(body[i : i + 4096])
    _wasi.OutgoingBody.finish(out, None)
    options = None
    if timeout_ms is not None:
        options = _wasi.RequestOptions()
        for setter in (options.set_connect_timeout, options.set_first_byte_timeout, options.set_between_bytes_timeout):
            try:
                setter(timeout_ms * 1_000_000)
            except Err:
                pass  # a host may not support every timeout
    try:
        future = _wasi_out.handle(req, options)
    except Err as e:
        raise _wasi_error(url, e.value) from None
    with future:
        with future.subscribe() as ready:
            ready.block()
        got = future.get()
    if got is None or isinstance(got, Err):
        raise HTTPError(f"{url}: no response", "external", True)
    if isinstance(got.value, Err):
        raise _wasi_error(url, got.value.value)
    with got.value.value as resp:
        status = resp.status()
        with resp.headers() as fields:
            headers = [(k, v.decode("latin-1")) for k, v in fields.entries()]
        incoming = resp.consume()
        chunks = []
        with incoming.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(65536))
                except Err as e:
                    if isinstance(e.value, _wasi_streams.StreamError_Closed):
                        break
                    raise HTTPError(f"{url}: reading the response failed", "external", True) from None
        with _wasi.IncomingBody.finish(incoming):  # the trailers future, dropped unread
            pass
    return _WasiResponse(status, headers, b"".join(chunks))


def _wasi_error(url: str, code: Any) -> HTTPError:
    name = type(code).__name__.removeprefix("ErrorCode_")
    if name == "HttpRequestDenied":
        return HTTPError(f"{url}: refused by the pipeline's policy", "config", False)
    if "Timeout" in name:
        return HTTPError(f"{url}: timed out ({name})", "external", True)
    detail = getattr(code, "value", None)
    return HTTPError(f"{url}: {name}{f': {detail}' if detail else ''}", "external", True)

# ---- JSON ---------------------------------------------------------------------------------


def _default(v: Any) -> Any:
    if isinstance(v, (_dt.datetime, _dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, _decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (bytes, bytearray)):
        return v.decode("utf-8", errors="replace")
    if isinstance(v, (set, frozenset, tuple)):
        return list(v)
    raise TypeError(f"a value of type {type(v).__name__} is not JSON")


def _json_bytes(v: Any) -> bytes:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=_default).encode()


# ---- pages, state and incremental ---------------------------------------------------------


class Page:
    """Yield a ``Page`` to control the page boundary and its checkpoint yourself; plain
    records and lists are paged by the SDK (``page_size`` records per page)."""

    def __init__(self, records: list, checkpoint: Any = None):
        self.records = records
        self.checkpoint = checkpoint


class Incremental:
    """A host-side incremental cursor (dlt's ``dlt.sources.incremental``). As a resource
    argument's default it declares the cursor; the resource receives it filled with the
    window the host computed: ``start_value``, ``end_value``, ``last_value``. The host keeps
    the cursor state, filters records outside the window and deduplicates the boundary."""

    def __init__(
        self,
        cursor_path: str,
        initial_value: Any = None,
        end_value: Any = None,
        last_value_func: str = "max",
        lag: Optional[float] = None,
        on_cursor_missing: str = "raise",
    ):
        if last_value_func not in ("max", "min"):
            raise ConnectorError(f"last_value_func must be `max` or `min`, not `{last_value_func}`", "config")
        if on_cursor_missing not in ("raise", "keep", "drop"):
            raise ConnectorError(
                f"on_cursor_missing must be `raise`, `keep` or `drop`, not `{on_cursor_missing}`", "config"
            )
        self.cursor_path = cursor_path
        self.initial_value = initial_value
        self.end_value = end_value
        self.last_value_func = last_value_func
        self.lag = lag
        self.on_cursor_missing = on_cursor_missing
        self.start_value: Any = initial_value
        self.last_value: Any = None

    def _spec(self) -> types.Incremental:
        opt = lambda v: None if v is None else _json_bytes(v).decode()  # noqa: E731
        return types.Incremental(
            self.cursor_path,
            opt(self.initial_value),
            opt(self.end_value),
            types.LastValueFunc.MAX if self.last_value_func == "max" else types.LastValueFunc.MIN,
            self.lag,
            {
                "raise": types.OnCursorMissing.RAISE,
                "keep": types.OnCursorMissing.KEEP,
                "drop": types.OnCursorMissing.DROP,
            }[self.on_cursor_missing],
        )

    def _with_window(self, window: Optional[types.Window]) -> "Incremental":
        inc = Incremental(
            self.cursor_path,
            self.initial_value,
            self.end_value,
            self.last_value_func,
            self.lag,
            self.on_cursor_missing,
        )
        if window is not None:
            load = lambda v: None if v is None else json.loads(v)  # noqa: E731
            inc.start_value = load(window.start_value)
            inc.end_value = load(window.end_value)
            inc.last_value = load(window.last_value)
        return inc


def incremental(cursor_path: str, **kw: Any) -> Incremental:
    """Declare an incremental cursor: ``def issues(since=sluice.incremental("updated_at"))``."""
    return Incremental(cursor_path, **kw)


_current_state: Optional[dict] = None
_current_window: Optional[Incremental] = None


def state() -> dict:
    """The state of the resource being extracted (dlt's ``resource_state()``): a dict loaded
    from the last committed run; what you put in it is committed with the rows of each
    following page, in the same transaction."""
    if _current_state is None:
        raise ConnectorError("sluice.state() is only available while a resource runs", "internal")
    return _current_state


def window() -> Optional[Incremental]:
    """The incremental window of the resource being extracted, when the pipeline file
    declares its cursor (``[resources.NAME.incremental]``) rather than the resource itself;
    ``None`` otherwise. A resource that declares ``sluice.incremental(...)`` as an argument
    default receives the same object there."""
    return _current_window


# ---- resources and sources ----------------------------------------------------------------

_WRITE = {
    "append": types.WriteDisposition.APPEND,
    "replace": types.WriteDisposition.REPLACE,
    "merge": types.WriteDisposition.MERGE,
    "skip": types.WriteDisposition.SKIP,
}
_MERGE = {
    "delete-insert": types.MergeStrategy.DELETE_INSERT,
    "upsert": types.MergeStrategy.UPSERT,
    "scd2": types.MergeStrategy.SCD2,
    "insert-only": types.MergeStrategy.INSERT_ONLY,
}


def _keys(k: Any) -> list:
    if k is None:
        return []
    return [k] if isinstance(k, str) else list(k)


def _column_hint(name: str, hint: dict) -> types.ColumnHint:
    known = {
        "data_type", "nullable", "primary_key", "merge_key", "unique", "dedup_sort",
        "hard_delete", "precision", "scale", "timezone",
    }
    unknown = set(hint) - known
    if unknown:
        raise ConnectorError(f"column `{name}`: unknown hint(s) {sorted(unknown)}", "config")
    return types.ColumnHint(
        name,
        hint.get("data_type"),
        hint.get("nullable"),
        bool(hint.get("primary_key", False)),
        bool(hint.get("merge_key", False)),
        bool(hint.get("unique", False)),
        hint.get("dedup_sort"),
        bool(hint.get("hard_delete", False)),
        hint.get("precision"),
        hint.get("scale"),
        hint.get("timezone"),
    )


class Resource:
    """A resource function and its hints; calling it binds arguments without running it."""

    def __init__(self, fn: Callable, name: Optional[str], data_from: Optional["Resource"], **hints: Any):
        self.fn = fn
        self.name = name or fn.__name__
        self.data_from = data_from
        self.hints = hints
        if hints.get("write_disposition", "append") not in _WRITE:
            raise ConnectorError(
                f"resource `{self.name}`: write_disposition must be one of {sorted(_WRITE)}", "config"
            )
        if hints.get("merge_strategy") not in (None, *_MERGE):
            raise ConnectorError(f"resource `{self.name}`: merge_strategy must be one of {sorted(_MERGE)}", "config")
        # an `Incremental` default declares the cursor
        self.incremental_arg: Optional[str] = None
        self.incremental: Optional[Incremental] = None
        for p in inspect.signature(fn).parameters.values():
            if isinstance(p.default, Incremental):
                self.incremental_arg, self.incremental = p.name, p.default

    def __call__(self, *args: Any, **kwargs: Any) -> "BoundResource":
        return BoundResource(self, args, kwargs)

    def _spec(self) -> types.ResourceSpec:
        h = self.hints
        cols = [_column_hint(n, c) for n, c in (h.get("columns") or {}).items()]
        return types.ResourceSpec(
            self.name,
            h.get("table_name"),
            h.get("description") or (inspect.getdoc(self.fn) or None),
            _WRITE[h.get("write_disposition", "append")],
            _MERGE.get(h.get("merge_strategy")) if h.get("merge_strategy") else None,
            _keys(h.get("primary_key")),
            _keys(h.get("merge_key")),
            cols,
            self.incremental._spec() if self.incremental else None,
            h.get("max_table_nesting"),
            self.data_from.name if self.data_from else None,
            bool(h.get("selected", True)),
        )


class BoundResource:
    """A resource with its arguments, as a source returns it."""

    def __init__(self, resource: Resource, args: tuple, kwargs: dict):
        self.resource = resource
        self.args = args
        self.kwargs = kwargs

    @property
    def name(self) -> str:
        return self.resource.name


def resource(
    fn: Optional[Callable] = None,
    *,
    name: Optional[str] = None,
    table_name: Optional[str] = None,
    write_disposition: str = "append",
    merge_strategy: Optional[str] = None,
    primary_key: Any = None,
    merge_key: Any = None,
    columns: Optional[dict] = None,
    max_table_nesting: Optional[int] = None,
    selected: bool = True,
    page_size: int = 1000,
    description: Optional[str] = None,
) -> Any:
    """Declare a resource (dlt's ``@dlt.resource``): a generator function yielding records or
    pages. ``columns`` maps column names to hints (``{"id": {"data_type": "bigint"}}``)."""
    hints = dict(
        table_name=table_name,
        write_disposition=write_disposition,
        merge_strategy=merge_strategy,
        primary_key=primary_key,
        merge_key=merge_key,
        columns=columns,
        max_table_nesting=max_table_nesting,
        selected=selected,
        page_size=page_size,
        description=description,
    )
    if fn is not None:
        return Resource(fn, name, None, **hints)
    return lambda f: Resource(f, name, None, **hints)


def transformer(data_from: Resource | BoundResource, *, name: Optional[str] = None, selected: bool = True, **hints: Any) -> Callable:
    """Declare a dependent resource (dlt's ``@dlt.transformer``): its function receives each
    page of ``data_from``'s records (a list of dicts) as its first argument."""
    parent = data_from.resource if isinstance(data_from, BoundResource) else data_from
    hints.setdefault("page_size", 1000)

    def register(f: Callable) -> Resource:
        r = Resource(f, name, parent, selected=selected, **hints)
        _transformers.append(r)
        return r

    return register


# transformers, found by their parent's name when a source returns the parent
_transformers: list = []


class _SourceDef:
    def __init__(self, fn: Callable, name: str, version: str, description: Optional[str]):
        self.fn = fn
        self.name = name
        self.version = version
        self.description = description
        self.params = inspect.signature(fn).parameters
        try:
            self.hints = typing.get_type_hints(fn)
        except Exception:  # noqa: BLE001 - unresolvable annotations: no type checks
            self.hints = {}

    def config_schema(self) -> str:
        props, required = {}, []
        for p in self.params.values():
            t = _json_type(self.hints.get(p.name))
            prop: dict = {"type": t} if t else {}
            if p.default is not inspect.Parameter.empty and p.default is not None:
                prop["default"] = p.default
            props[p.name] = prop
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
        schema: dict = {"type": "object", "properties": props, "additionalProperties": False}
        if required:
            schema["required"] = required
        return json.dumps(schema)

    def call(self, config_text: str) -> list:
        try:
            config = json.loads(config_text) if config_text else {}
        except ValueError as e:
            raise ConnectorError(f"config is not JSON: {e}", "config") from e
        if not isinstance(config, dict):
            raise ConnectorError("config must be a JSON object", "config")
        unknown = sorted(set(config) - set(self.params))
        if unknown:
            raise ConnectorError(
                f"unknown config key(s) {', '.join(f'`{k}`' for k in unknown)}; "
                f"`{self.name}` takes {', '.join(f'`{k}`' for k in self.params) or 'none'}",
                "config",
            )
        kwargs = {}
        for p in self.params.values():
            if p.name in config:
                kwargs[p.name] = _check(p.name, config[p.name], self.hints.get(p.name))
            elif p.default is inspect.Parameter.empty:
                raise ConnectorError(f"config key `{p.name}` is required", "config")
        out = self.fn(**kwargs)
        if isinstance(out, (BoundResource, Resource)):
            out = [out]
        resources = [r() if isinstance(r, Resource) else r for r in (out or [])]
        for r in resources:
            if not isinstance(r, BoundResource):
                raise ConnectorError(f"source `{self.name}` returned {type(r).__name__}, not a resource", "internal")
        return resources


def _json_type(t: Any) -> Optional[str]:
    origin = typing.get_origin(t)
    if origin is typing.Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return _json_type(args[0]) if len(args) == 1 else None
    t = origin or t
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(t)


def _check(name: str, value: Any, t: Any) -> Any:
    want = _json_type(t)
    if want is None or value is None:
        return value
    ok = {
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[want]
    if not ok:
        raise ConnectorError(f"config key `{name}` must be {want}, got {json.dumps(value)}", "config")
    return float(value) if want == "number" else value


_source: Optional[_SourceDef] = None


def source(fn: Optional[Callable] = None, *, name: Optional[str] = None, version: str = "0.1.0", description: Optional[str] = None) -> Any:
    """Declare the component's source (dlt's ``@dlt.source``): its typed arguments are the
    configuration (``[config]`` in the pipeline file), it returns resources. One per component."""

    def register(f: Callable) -> Callable:
        global _source
        _source = _SourceDef(f, name or f.__name__, version, description or inspect.getdoc(f))
        return f

    return register(fn) if fn is not None else register


def _the_source() -> _SourceDef:
    if _source is None:
        raise ConnectorError("no @sluice.source in this component", "internal")
    return _source


# ---- the export ---------------------------------------------------------------------------


class _Extraction:
    """One running resource: drives its generator and cuts pages."""

    def __init__(self, it: Iterator, page_size: int, state: dict, window: Optional[Incremental]):
        self.it = it
        self.window = window
        self.page_size = max(1, int(page_size))
        self.state = state
        self.buffer: list = []
        self.done = False
        # a Page yielded while records were buffered: it follows them
        self.pending: Optional[Page] = None
        # the state as last committed or checkpointed: a page carries the state only when it
        # changed (emptying it is a change too)
        self.last_state = json.dumps(state, sort_keys=True, default=_default)

    def _page(self, records: list, checkpoint: Any = None) -> types.Page:
        cp = None
        if checkpoint is not None:
            cp = _json_bytes(checkpoint).decode()
        else:
            text = json.dumps(self.state, sort_keys=True, default=_default)
            if text != self.last_state:
                cp = text
        if cp is not None:
            self.last_state = cp
        try:
            body = _json_bytes(records)
        except (TypeError, ValueError) as e:
            raise ConnectorError(f"a record is not JSON: {e}", "data") from e
        return types.Page(body, types.RecordsFormat.JSON_ARRAY, cp)

    def next(self) -> Optional[types.Page]:
        global _current_state, _current_window
        try:
            _current_state, _current_window = self.state, self.window
            if self.pending is not None:
                page, self.pending = self.pending, None
                return self._page(list(page.records), page.checkpoint)
            while not self.done:
                try:
                    item = next(self.it)
                except StopIteration:
                    self.done = True
                    break
                if isinstance(item, Page):
                    if self.buffer:
                        # keep the order: what was buffered goes first
                        out, self.buffer, self.pending = self.buffer, [], item
                        return self._page(out)
                    return self._page(list(item.records), item.checkpoint)
                if isinstance(item, dict):
                    self.buffer.append(item)
                elif isinstance(item, list):
                    self.buffer.extend(item)
                elif item is None:
                    continue
                else:
                    raise ConnectorError(
                        f"a resource yields dicts, lists of dicts or sluice.Page, not {type(item).__name__}", "data"
                    )
                if len(self.buffer) >= self.page_size:
                    out, self.buffer = self.buffer, []
                    return self._page(out)
            if self.buffer:
                out, self.buffer = self.buffer, []
                return self._page(out)
            return None
        except BaseException as e:  # noqa: BLE001 - everything becomes a connector error
            raise _as_wit_error(e) from None
        finally:
            _current_state, _current_window = None, None


class Source(exports.Source):
    """The component's `source` export. Import it into your app module: ``from sluice import
    Source``."""

    def spec(self, config: str) -> types.SourceSpec:
        try:
            src = _the_source()
            resources = src.call(config)
            seen: dict = {}
            for r in resources:
                seen[r.resource.name] = r.resource
            for r in _transformers:
                if r.data_from is not None and r.data_from.name in seen:
                    seen.setdefault(r.name, r)
            return types.SourceSpec(
                src.name,
                src.version,
                src.description,
                src.config_schema(),
                [r._spec() for r in seen.values()],
            )
        except BaseException as e:  # noqa: BLE001
            raise _as_wit_error(e) from None

    def open(
        self,
        resource_name: str,
        config: str,
        state: Optional[str],
        window: Optional[types.Window],
        parent_records: Optional[bytes],
    ) -> _Extraction:
        try:
            src = _the_source()
            bound = {r.name: r for r in src.call(config)}
            st = json.loads(state) if state else {}
            if not isinstance(st, dict):
                st = {"value": st}
            if resource_name in bound:
                b = bound[resource_name]
                res, args, kwargs = b.resource, b.args, dict(b.kwargs)
            else:
                res = next((t for t in _transformers if t.name == resource_name), None)
                if res is None:
                    raise ConnectorError(f"unknown resource `{resource_name}`", "config")
                args, kwargs = (), {}
            inc = None
            if res.incremental is not None:
                inc = res.incremental._with_window(window)
            elif window is not None:
                inc = Incremental("")._with_window(window)
            if res.incremental_arg:
                kwargs[res.incremental_arg] = inc
            if res.data_from is not None:
                parents = json.loads(parent_records) if parent_records else []
                args = (parents, *args)
            global _current_state, _current_window
            _current_state, _current_window = st, inc
            try:
                out = res.fn(*args, **kwargs)
            finally:
                _current_state, _current_window = None, None
            it = out if isinstance(out, Iterator) else iter([out] if isinstance(out, (dict, Page)) else (out or []))
            return _Extraction(it, res.hints.get("page_size", 1000), st, inc)
        except BaseException as e:  # noqa: BLE001
            raise _as_wit_error(e) from None
