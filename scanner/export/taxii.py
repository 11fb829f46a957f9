"""Push the STIX 2.1 bundle of pools to a TAXII 2.1 collection (taxii2-client ``v21``).

``url`` may be the server's discovery URL (``http://host:port/taxii2/``), an API root
(``http://host:port/api1/``) or the collection URL itself (``.../collections/<id>/``). The objects go in
envelopes no larger than the API root's ``max_content_length`` (TAXII 2.1 section 4.2; default 10 MiB),
each with ``POST .../objects/`` and the status polled until final (TAXII 2.1 section 5.5, 4.3).

Every HTTP request has a timeout (seconds), since the client library sets none. Errors become one line:
:class:`UsageError` for a bad URL, missing or read-only collection, or rejected credentials;
:class:`RunError` when the server cannot be reached or fails.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

import requests
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from scanner.errors import RunError, UsageError
from scanner.export.stix import build_bundle

DEFAULT_MAX_CONTENT = 10 * 1024 * 1024


def _connection(user: str | None, password: str | None, timeout: float, verify: bool) -> _HTTPConnection:
    conn = _HTTPConnection(user=user, password=password, verify=verify, version="2.1",
                           user_agent="poolscan/0.1.0")
    original = conn.session.request

    def request(method, url, **kwargs):
        kwargs.setdefault("timeout", timeout)
        return original(method, url, **kwargs)

    conn.session.request = request  # type: ignore[method-assign]
    return conn


def _http_error(exc: Exception, url: str) -> Exception:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code in (401, 403):
            return UsageError(f"TAXII server {url} refused the credentials (HTTP {code})")
        if code == 404:
            return UsageError(f"TAXII URL {url} not found (HTTP 404)")
        return RunError(f"TAXII server {url} answered HTTP {code}")
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return RunError(f"TAXII server {url} unreachable: {exc.__class__.__name__}")
    return RunError(f"TAXII server {url}: {str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}")


def find_collection(url: str, collection_id: str, conn: _HTTPConnection) -> tuple[Collection, int]:
    """The collection with ``collection_id`` reachable from ``url`` and the API root's max content
    length (bytes). Raises :class:`UsageError` when it is not found or cannot be written."""
    if not url.endswith("/"):
        url += "/"
    coll = None
    max_len = DEFAULT_MAX_CONTENT
    try:
        if "/collections/" in url:
            coll = Collection(url, conn=conn)
            api_roots = []
        else:
            try:
                # the Server object builds its ApiRoots without our connection (no auth, no timeout):
                # take their URLs only
                api_roots = [ApiRoot(r.url, conn=conn) for r in Server(url, conn=conn).api_roots]
            except (TAXIIServiceException, requests.HTTPError, KeyError, ValueError):
                api_roots = []
            if not api_roots:  # not a discovery URL: take it as an API root
                api_roots = [ApiRoot(url, conn=conn)]
        for root in api_roots:
            for c in root.collections:
                if c.id == collection_id:
                    coll = c
                    max_len = int(getattr(root, "max_content_length", None) or DEFAULT_MAX_CONTENT)
                    break
            if coll is not None:
                break
        if coll is None:
            raise UsageError(f"TAXII collection {collection_id!r} not found at {url}")
        if coll.id != collection_id:
            raise UsageError(f"TAXII URL {url} is collection {coll.id!r}, not {collection_id!r}")
        if not coll.can_write:
            raise UsageError(f"TAXII collection {collection_id!r} at {url} is not writable")
    except (UsageError, RunError):
        raise
    except Exception as exc:  # requests / taxii2client errors: one line
        raise _http_error(exc, url) from None
    return coll, max_len


def envelopes(objects: list[dict], max_bytes: int) -> list[dict]:
    """Split objects into TAXII envelopes ``{"objects": [...]}`` whose JSON stays under ``max_bytes``.

    Raises :class:`RunError` when one object alone is larger than ``max_bytes``.
    """
    out: list[dict] = []
    batch: list[dict] = []
    size = len(b'{"objects":[]}')
    for obj in objects:
        n = len(json.dumps(obj, ensure_ascii=False).encode("utf-8")) + 1
        if n + len(b'{"objects":[]}') > max_bytes:
            raise RunError(f"STIX object {obj.get('id')} is larger than the server's {max_bytes} bytes limit")
        if batch and size + n > max_bytes:
            out.append({"objects": batch})
            batch, size = [], len(b'{"objects":[]}')
        batch.append(obj)
        size += n
    if batch:
        out.append({"objects": batch})
    return out


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None


def present_versions(coll: Collection, ids: list[str], chunk: int = 25) -> dict[str, set]:
    """The versions (parsed timestamps; None when unparsable) of ``ids`` already in the collection,
    from its manifest (TAXII 2.1 section 5.6, ``match[id]`` and ``match[version]=all``), paged."""
    out: dict[str, set] = {}
    if not coll.can_read:
        return out
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        for page in as_pages(coll.get_manifest, per_request=100, id=part, version="all"):
            for entry in page.get("objects") or []:
                out.setdefault(entry.get("id"), set()).add(_stamp(entry.get("version")))
    return out


def push(pools: Iterable[dict] | None, url: str, collection_id: str, user: str | None = None,
         password: str | None = None, timeout: float = 30.0, verify: bool = True,
         bundle: Any = None, skip_present: bool = True) -> dict:
    """Push the STIX bundle of ``pools`` (or a ready ``bundle``: stix2.Bundle, dict or JSON text) to a
    TAXII 2.1 collection.

    With ``skip_present`` (default) the objects whose id and version the collection already holds are
    not sent again (a nightly re-push of unchanged pools is a no-op; medallion 3.0.0 reports a re-sent
    version as a failure, ``memory_backend.py`` ``add_objects``).

    Returns ``{"collection", "objects", "envelopes", "success_count", "failure_count", "pending_count",
    "already_present", "failures": [...], "ids": [...]}``. Raises :class:`UsageError`/:class:`RunError`.
    """
    if bundle is None:
        bundle = build_bundle(pools or [])
    if isinstance(bundle, str):
        data = json.loads(bundle)
    elif isinstance(bundle, dict):
        data = bundle
    else:
        data = json.loads(bundle.serialize())
    objects = list(data.get("objects") or [])
    conn = _connection(user, password, timeout, verify)
    try:
        coll, max_len = find_collection(url, collection_id, conn)
        result = {"collection": collection_id, "objects": len(objects), "envelopes": 0, "success_count": 0,
                  "failure_count": 0, "pending_count": 0, "already_present": 0, "failures": [],
                  "ids": [o["id"] for o in objects]}
        if skip_present:
            try:
                present = present_versions(coll, [o["id"] for o in objects])
            except Exception as exc:
                raise _http_error(exc, url) from None
            todo = []
            for o in objects:
                versions = present.get(o["id"])
                # SCOs have no "modified": immutable, present means done; SDO/SRO: same version present
                if versions is not None and ("modified" not in o or _stamp(o["modified"]) in versions):
                    result["already_present"] += 1
                else:
                    todo.append(o)
            objects = todo
        for env in envelopes(objects, max_len):
            try:
                status = coll.add_objects(json.dumps(env, ensure_ascii=False), wait_for_completion=True,
                                          poll_interval=0.2, timeout=timeout)
            except Exception as exc:
                raise _http_error(exc, url) from None
            result["envelopes"] += 1
            result["success_count"] += int(status.success_count or 0)
            result["failure_count"] += int(status.failure_count or 0)
            result["pending_count"] += int(status.pending_count or 0)
            result["failures"] += list(status.failures or [])
        return result
    finally:
        conn.close()
