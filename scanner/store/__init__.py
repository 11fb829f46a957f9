"""poolscan's SQLite store (sqlite-utils): runs, open ports, transcripts, verdicts and the pools aggregate.

Usage (the pipeline)::

    store = Store.open("results/poolscan.db")
    run_id = store.start_run("scan", {"targets": [...]}, seed=1234)
    store.save_open_port(run_id, open_port)
    store.save_result(run_id, probe_result)      # idempotent: re-saving replaces, never duplicates
    store.finish_run(run_id, "ok", {"probed": 10, "pools": 2})
    for pool in store.pools(new_only=True): ...

Every id is a deterministic hash (run, ip, port[, probe, tls, n]), and each ``save_result`` is one
transaction, so a run killed with ``kill -9`` and resumed (``start_run(..., run_id=the_old_id)`` then
skipping ``done_targets``) ends with exactly the rows of an uninterrupted run. The schema lives in
:mod:`scanner.store.schema`; the database is in WAL mode so ``poolscan db stats`` and Datasette can read it
while a scan writes.

"New" (issue 5): a pool is new when it is not in ``seeds/known-pools.txt`` (:mod:`scanner.store.known`)
and was not seen (``is_pool`` true) in an earlier run than the reference run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from sqlite_utils import Database

from scanner.errors import UsageError
from scanner.model import (Exchange, OpenPort, ProbeResult, Status, Transcript, Verdict, decode_bytes,
                           make_exchange, make_transcript)
from scanner.store.known import KnownPools, endpoint_id
from scanner.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["Store", "BatchWriter", "KnownPools", "endpoint_id", "iso", "parse_time", "DEFAULT_DB"]

#: Where ``poolscan scan`` writes and ``poolscan export`` reads by default.
DEFAULT_DB = Path("results/poolscan.db")

RUN_KINDS = ("scan", "probe", "campaign", "classify")
RUN_STATUSES = ("running", "ok", "failed", "interrupted")

#: Enrichment keys copied into ``pools`` columns (the rest stays in ``verdicts.enrichment``).
_ENRICH_SCALARS = ("asn", "as_org", "country", "favicon_mmh3", "cert_sha256")
_ENRICH_JSON = ("cert_names", "domains", "web_info")
#: Keys of the enrich stage (``scanner/enrich/__init__.py``) that make up ``web_info``.
_WEB_KEYS = ("web_title", "web_server", "web_api", "favicon_url")


def pool_enrichment(enr: dict) -> dict:
    """The pool-column view of a result's enrichment dict: ``cert_names`` (or the enrich stage's
    ``cert_sans``), ``domains``, ``web_info`` (or ``{web_title, web_server, web_api, favicon_url}``),
    asn, as_org, country, favicon_mmh3, cert_sha256. Missing keys are left out."""
    if not isinstance(enr, dict):
        return {}
    out = {k: enr[k] for k in _ENRICH_SCALARS + ("domains",) if enr.get(k) not in (None, "", [], {})}
    names = enr.get("cert_names") or enr.get("cert_sans")
    if names:
        out["cert_names"] = names
    web = enr.get("web_info") or {k: enr[k] for k in _WEB_KEYS if enr.get(k) not in (None, "", [], {})}
    if web:
        out["web_info"] = web
    return out
_POOL_LABELS = ("protocol", "software", "coin", "algo", "label")
_JSON_POOL_COLS = ("evidence", "cert_names", "domains", "web_info")

_VERDICT_COLS = ("id", "run_id", "ip", "port", "status", "tls", "is_pool", "protocol", "software", "coin", "algo",
                 "confidence", "label", "evidence", "fingerprints_version", "enrichment", "observed_at", "saved_at")
_TRANSCRIPT_COLS = ("id", "result_id", "run_id", "ip", "port", "seq", "probe", "tls", "tls_info", "status", "error",
                    "truncated", "closed_by_peer", "started_at", "duration_s", "exchanges")
_OPEN_PORT_COLS = ("id", "run_id", "ip", "port", "seen_at", "source")


def _upsert_sql(table: str, cols: tuple[str, ...]) -> str:
    """``INSERT ... ON CONFLICT(id) DO UPDATE`` of every column: what ``sqlite_utils`` ``upsert`` does for a row
    holding every column, as one statement that ``executemany`` can reuse (SQLite >= 3.24)."""
    return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in cols[1:])}")


_VERDICT_UPSERT = _upsert_sql("verdicts", _VERDICT_COLS)
_OPEN_PORT_UPSERT = _upsert_sql("open_ports", _OPEN_PORT_COLS)
_VERDICT_UPDATE = ("UPDATE verdicts SET is_pool = ?, protocol = ?, software = ?, coin = ?, algo = ?, confidence = ?, "
                   "label = ?, evidence = ?, fingerprints_version = ?, saved_at = ? WHERE id = ? AND run_id = ?")
_TRANSCRIPT_INSERT = f"INSERT INTO transcripts ({', '.join(_TRANSCRIPT_COLS)}) VALUES ({', '.join('?' * len(_TRANSCRIPT_COLS))})"


def iso(ts: float | datetime | None = None) -> str:
    """A Unix time (seconds) or datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC); None means now.

    Naive datetimes are taken as UTC. Fixed width, so text order is time order in SQL.
    """
    if ts is None:
        dt = datetime.now(timezone.utc)
    elif isinstance(ts, datetime):
        dt = ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
        dt = dt.astimezone(timezone.utc)
    else:
        dt = datetime.fromtimestamp(float(ts), timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | datetime) -> datetime:
    """Parse ``2026-01-31``, ``2026-01-31T12:00``, ``...Z`` or ``...+02:00`` into an aware UTC datetime.

    Raises :class:`UsageError` naming the value when it is not an ISO 8601 date or date-time.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise UsageError(f"{value!r} is not a date (use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _hid(*parts: Any) -> str:
    """Deterministic 32-hex id of the parts (sha256 of their unit-separator-joined text)."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _text(value: Any) -> str | None:
    """A str that SQLite can store (lone surrogates from undecodable input become ``\\udcxx`` text)."""
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _json(obj: Any) -> str | None:
    """Compact JSON text for a column (None stays NULL); non-JSON values are written with ``str``."""
    if obj is None:
        return None
    return _text(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str))


@functools.lru_cache(maxsize=4096)
def _pool_id(ip: str, port: int) -> str:
    """The ``pools.id`` of ip:port (:func:`endpoint_id`; ``ip:port`` as given when ip is not an address)."""
    try:
        return endpoint_id(ip, port)
    except ValueError:
        return f"{ip}:{port}"


_RESULT_COLS = ("id, ip, port, status, tls, is_pool, protocol, software, coin, algo, confidence, label, evidence, "
                "fingerprints_version, enrichment")
_RESULTS_FIRST = f"SELECT {_RESULT_COLS} FROM verdicts WHERE run_id = ? ORDER BY ip, port LIMIT ?"
_RESULTS_NEXT = (f"SELECT {_RESULT_COLS} FROM verdicts WHERE run_id = ? AND (ip, port) > (?, ?) "
                 "ORDER BY ip, port LIMIT ?")
_TRANSCRIPTS_OF = ("SELECT result_id, ip, port, probe, status, exchanges, tls, tls_info, error, truncated, "
                   "closed_by_peer, started_at, duration_s FROM transcripts WHERE result_id IN ({marks}) "
                   "ORDER BY result_id, seq")
_STATUSES = {s.value: s for s in Status}


def _status(value: Any) -> Status:
    """``Status(value)`` through a dict (the enum call costs more than the rest of a row); raises
    ``ValueError`` for an unknown status like the enum does."""
    st = _STATUSES.get(value)
    return st if st is not None else Status(value)


def _exchanges(text: str | None) -> tuple[Exchange, ...]:
    """The ``transcripts.exchanges`` column back as Exchanges (:meth:`Exchange.from_dict` of each item)."""
    items = _load(text, []) or []
    return tuple([make_exchange(float(d.get("t", 0.0)), str(d["dir"]), decode_bytes(d)) for d in items])


def _transcript(t: tuple) -> Transcript:
    """A Transcript from a ``_TRANSCRIPTS_OF`` row (the row's first column, result_id, is skipped)."""
    return make_transcript(t[1], int(t[2]), t[3], _status(t[4]), _exchanges(t[5]), bool(t[6]),
                           None if t[7] is None else _load(t[7], None), t[8], bool(t[9]), bool(t[10]),
                           float(t[11] or 0.0), float(t[12] or 0.0))


def _last_by_id(run_id: str, results: Iterable[ProbeResult]) -> dict[str, ProbeResult]:
    """The results of one batch by row id, in the order of their last occurrence: a result saved twice in one
    batch counts once, the later one winning, as with two saves."""
    last: dict[str, ProbeResult] = {}
    for r in results:
        rid = _hid(run_id, r.ip, r.port)
        last.pop(rid, None)
        last[rid] = r
    return last


def _exchanges_json(exchanges: Any) -> str | None:
    """The ``transcripts.exchanges`` column: ``[Exchange.to_dict(), ...]`` as compact JSON."""
    return _json([e.to_dict() for e in exchanges])


#: The C scanner behind ``json.loads`` (``json.JSONDecoder().scan_once``, CPython ``_json.c``): the same parser
#: without ``loads``' Python layers (type checks, whitespace regex, ``decode``/``raw_decode``), ~1 us per value.
_SCAN_JSON = json.JSONDecoder().scan_once


def _load(text: str | None, default: Any = None) -> Any:
    """The value of a JSON column: ``json.loads(text)``, or ``default`` for NULL, ``""`` or text that is not
    JSON.

    Compact text (what the writers store: no surrounding whitespace) is parsed by :data:`_SCAN_JSON` in one
    call; anything else (whitespace, a BOM, bytes, bad JSON) goes through ``json.loads`` itself, so the result
    and the errors are exactly those of ``json.loads``.
    """
    if text is None or text == "":
        return default
    if type(text) is str:
        try:
            obj, end = _SCAN_JSON(text, 0)
            if end == len(text):
                return obj
        except (StopIteration, ValueError):
            pass
    try:
        return json.loads(text)
    except ValueError:
        return default


def _tri(v: bool | None) -> int | None:
    return None if v is None else int(bool(v))


def _int_or_none(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, str) and v.upper().startswith("AS"):
        v = v[2:]
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


class Store:
    """A poolscan SQLite database. Create with :meth:`open`; the tables are in :mod:`scanner.store.schema`.

    Not thread-safe (one writer: the pipeline's event loop); several processes may read while one writes
    (WAL, 5 s busy timeout).
    """

    def __init__(self, db: Database, known: KnownPools | None = None, path: Path | None = None) -> None:
        self.db = db
        self.known = known if known is not None else KnownPools()
        self.path = path

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: str | Path = DEFAULT_DB, known_pools: str | Path | KnownPools | None = None,
             create: bool = True) -> "Store":
        """Open (creating parent directories and the file when ``create``) and migrate a database.

        ``path`` ``":memory:"`` gives an in-memory store. ``known_pools`` is a path or a parsed
        :class:`KnownPools`; default ``seeds/known-pools.txt`` (missing: nothing known).
        Raises :class:`UsageError` when ``create`` is False and the file does not exist, or when the file
        is not an SQLite database.
        """
        known = known_pools if isinstance(known_pools, KnownPools) else KnownPools.load(known_pools)
        if str(path) == ":memory:":
            db = Database(memory=True, execute_plugins=False)
            p = None
        else:
            p = Path(path)
            if not p.exists():
                if not create:
                    raise UsageError(f"{p}: database not found (run `poolscan scan` first or pass --db)")
                p.parent.mkdir(parents=True, exist_ok=True)
            db = Database(p, execute_plugins=False)
        try:
            db.execute("PRAGMA busy_timeout = 5000")
            if p is not None:
                db.enable_wal()
                # WAL + synchronous=NORMAL: a commit is durable against a process crash (kill -9), only an OS
                # crash can lose the last transactions; it doubles the write rate (466 -> 938 results/s).
                db.execute("PRAGMA synchronous = NORMAL")
            MIGRATIONS.apply(db)
        except Exception as exc:  # sqlite3.DatabaseError: file is not a database, etc.
            if exc.__class__.__name__ in ("DatabaseError", "OperationalError"):
                raise UsageError(f"{path}: not a poolscan SQLite database ({exc})") from None
            raise
        return cls(db, known, p)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        try:
            self.db.close()
        except Exception:
            pass

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def start_run(self, kind: str, args: dict, campaign: str | None = None, seed: int | None = None,
                  run_id: str | None = None) -> str:
        """Record the start of a run and return its id (``<kind>-YYYYmmddTHHMMSSZ-<6 hex>`` when not given).

        Given the id of an existing run, that run is resumed: its status goes back to ``running`` and
        its start time, args and seed are kept (so ``done_targets`` and first_seen stay right).
        ``kind`` is one of scan, probe, campaign, classify (else :class:`UsageError`).
        """
        if kind not in RUN_KINDS:
            raise UsageError(f"run kind {kind!r} is not one of {', '.join(RUN_KINDS)}")
        runs = self.db.table("runs")
        if run_id is not None and runs.count_where("id = ?", [run_id]):
            with self.db.atomic():
                runs.update(run_id, {"status": "running", "finished_at": None})
            return run_id
        if run_id is None:
            run_id = f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"
        with self.db.atomic():
            runs.insert({
                "id": run_id, "kind": kind, "campaign": _text(campaign), "args": _json(args or {}),
                "seed": seed, "status": "running", "started_at": iso(), "finished_at": None,
                "counts": None,
            })
        return run_id

    def finish_run(self, run_id: str, status: str, counts: dict) -> None:
        """Mark a run finished: ``status`` ok | failed | interrupted, ``counts`` any JSON-able dict.

        Raises :class:`UsageError` for an unknown run id or status.
        """
        if status not in RUN_STATUSES[1:]:
            raise UsageError(f"run status {status!r} is not one of ok, failed, interrupted")
        if not self.db.table("runs").count_where("id = ?", [run_id]):
            raise UsageError(f"run {run_id!r} not found in {self.path or ':memory:'}")
        with self.db.atomic():
            self.db.table("runs").update(run_id, {"status": status, "finished_at": iso(),
                                                  "counts": _json(counts or {})})

    def _run_row(self, row: dict) -> dict:
        row = dict(row)
        row["args"] = _load(row.get("args"), {})
        row["counts"] = _load(row.get("counts"), None)
        return row

    def runs(self) -> list[dict]:
        """All runs, oldest first: dicts with id, kind, campaign, args (dict), seed, status, started_at,
        finished_at, counts (dict or None)."""
        return [self._run_row(r) for r in self.db.query("SELECT * FROM runs ORDER BY started_at, rowid")]

    def get_run(self, run_id: str) -> dict | None:
        """One run as in :meth:`runs`, or None."""
        rows = list(self.db.query("SELECT * FROM runs WHERE id = ?", [run_id]))
        return self._run_row(rows[0]) if rows else None

    def last_run(self, kind: str | None = None) -> dict | None:
        """The most recently started run (of ``kind`` when given), or None."""
        if kind is None:
            rows = list(self.db.query("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1"))
        else:
            rows = list(self.db.query(
                "SELECT * FROM runs WHERE kind = ? ORDER BY started_at DESC, rowid DESC LIMIT 1", [kind]))
        return self._run_row(rows[0]) if rows else None

    # ------------------------------------------------------------------ writes
    def save_open_port(self, run_id: str, open_port: OpenPort) -> None:
        """Record one swept open port (idempotent per run, ip, port); one transaction."""
        self.save_batch(run_id, (), (open_port,))

    def save_result(self, run_id: str, result: ProbeResult) -> None:
        """Store one probed ip:port: its verdict row, one row per transcript, and the pool aggregate.

        One transaction; ids are deterministic, so saving the same (run, ip, port) again replaces the
        verdict and its transcripts instead of adding rows. The ``pools`` row of the endpoint is then
        recomputed from every run's verdict with is_pool true (first_seen/last_seen = earliest/latest
        observation, seen_count = number of runs, labels and enrichment = the latest known values).
        ``observed_at`` is the earliest transcript ``started_at`` (else now).
        """
        self.save_batch(run_id, (result,))

    def save_results(self, run_id: str, results: Iterable[ProbeResult]) -> None:
        """:meth:`save_result` for many results in ONE transaction (all stored, or none when the process
        dies before the commit). The rows are exactly those of saving them one by one, in order (a result
        saved twice in the batch: the later one wins)."""
        self.save_batch(run_id, results)

    def save_batch(self, run_id: str, results: Iterable[ProbeResult] = (),
                   open_ports: Iterable[OpenPort] = ()) -> None:
        """Open ports (:meth:`save_open_port`) and results (:meth:`save_result`) of one run, written in one
        transaction with ``executemany`` (no per-row schema look-up; the ``pools`` row is recomputed only
        for endpoints with an is_pool verdict, the others just lose theirs). This is what the pipeline's
        :class:`BatchWriter` calls. Raises what sqlite3 raises (the transaction is then rolled back)."""
        oprows = [(_hid(run_id, op.ip, op.port), run_id, op.ip, int(op.port), iso(op.seen_at), _text(op.source))
                  for op in open_ports]
        last = _last_by_id(run_id, results)
        vrows: list[tuple] = []
        trows: list[tuple] = []
        saved_at = iso()
        for rid, result in last.items():
            v = result.verdict
            ts = result.transcripts
            starts = [t.started_at for t in ts if t.started_at and t.started_at > 0]
            enr = result.enrichment or {}
            vrows.append((
                rid, run_id, result.ip, int(result.port), result.status.value, int(bool(result.tls)),
                _tri(v.is_pool), _text(v.protocol), _text(v.software), _text(v.coin), _text(v.algo),
                float(v.confidence or 0.0), _text(v.label), _json(list(v.evidence)),
                _text(v.fingerprints_version), _json(enr) if enr else None,
                iso(min(starts)) if starts else saved_at, saved_at,
            ))
            seen: dict[tuple[str, bool], int] = {}
            for seq, t in enumerate(ts):
                k = seen.get((t.probe, t.tls), 0)
                seen[(t.probe, t.tls)] = k + 1
                trows.append((
                    _hid(run_id, result.ip, result.port, t.probe, int(t.tls), k), rid, run_id, t.ip, int(t.port),
                    seq, _text(t.probe), int(bool(t.tls)), _json(t.tls_info), t.status.value, _text(t.error),
                    int(t.truncated), int(t.closed_by_peer), float(t.started_at), float(t.duration_s),
                    _exchanges_json(t.exchanges),
                ))
        if not oprows and not vrows:
            return
        conn = self.db.conn
        with self.db.atomic():
            if oprows:
                conn.executemany(_OPEN_PORT_UPSERT, oprows)
            if vrows:
                conn.executemany(_VERDICT_UPSERT, vrows)
                conn.executemany("DELETE FROM transcripts WHERE result_id = ?", [(rid,) for rid in last])
                if trows:
                    conn.executemany(_TRANSCRIPT_INSERT, trows)
                self._refresh_pools(dict.fromkeys((r.ip, int(r.port)) for r in last.values()))

    def save_verdicts(self, run_id: str, results: Iterable[ProbeResult]) -> int:
        """Replace the verdicts of results already saved in ``run_id`` (is_pool, protocol, software, coin,
        algo, confidence, label, evidence, fingerprints_version; saved_at = now) and recompute their ``pools``
        rows, in ONE transaction; returns how many verdict rows were updated (a result not saved in the run
        changes nothing and is not counted).

        What ``poolscan classify --db`` writes: for a result read back with :meth:`results` the rows end as
        :meth:`save_results` would leave them, but the transcripts are left as stored instead of being
        deleted, re-encoded and inserted again (5,000 re-labelled results of the bench corpus without floods,
        batches of 500: 0.32 -> 0.12 ms each, the rest being the pools refresh; 2 cores, 2026-11-29).
        Raises what sqlite3 raises (the transaction is then rolled back)."""
        last = _last_by_id(run_id, results)
        if not last:
            return 0
        saved_at = iso()
        rows = []
        for rid, r in last.items():
            v = r.verdict
            rows.append((_tri(v.is_pool), _text(v.protocol), _text(v.software), _text(v.coin), _text(v.algo),
                         float(v.confidence or 0.0), _text(v.label), _json(list(v.evidence)),
                         _text(v.fingerprints_version), saved_at, rid, run_id))
        conn = self.db.conn
        with self.db.atomic():
            before = conn.total_changes
            conn.executemany(_VERDICT_UPDATE, rows)
            updated = conn.total_changes - before
            self._refresh_pools(dict.fromkeys((r.ip, int(r.port)) for r in last.values()))
        return updated

    def _refresh_pools(self, endpoints: Iterable[tuple[str, int]]) -> None:
        """:meth:`_refresh_pool` for each (ip, port); the endpoints without any is_pool verdict (the common
        case, a non-pool: one probe of the index verdicts(ip, port, is_pool)) lose their pools row in one
        ``executemany``."""
        conn = self.db.conn
        gone = []
        for ip, port in endpoints:
            if conn.execute("SELECT 1 FROM verdicts WHERE ip = ? AND port = ? AND is_pool = 1 LIMIT 1",
                            (ip, port)).fetchone() is None:
                gone.append((_pool_id(ip, port),))
            else:
                self._refresh_pool(ip, port)
        if gone:
            conn.executemany("DELETE FROM pools WHERE id = ?", gone)

    def _refresh_pool(self, ip: str, port: int) -> None:
        """Recompute the ``pools`` row of ip:port from all verdicts with is_pool = 1 (delete if none)."""
        pid = _pool_id(ip, port)
        conn = self.db.conn
        rows = list(self.db.query(
            "SELECT v.*, r.started_at AS run_started FROM verdicts v JOIN runs r ON r.id = v.run_id "
            "WHERE v.ip = ? AND v.port = ? AND v.is_pool = 1 ORDER BY v.observed_at, r.started_at",
            [ip, port]))
        if not rows:
            conn.execute("DELETE FROM pools WHERE id = ?", (pid,))
            return
        first, last = rows[0], rows[-1]
        pool: dict[str, Any] = {
            "id": pid, "ip": ip, "port": port, "first_seen": first["observed_at"],
            "last_seen": last["observed_at"], "seen_count": len({r["run_id"] for r in rows}),
            "first_run": first["run_id"], "last_run": last["run_id"], "confidence": last["confidence"],
            "tls": last["tls"], "evidence": last["evidence"],
        }
        newest_first = rows[::-1]
        for col in _POOL_LABELS:
            pool[col] = next((r[col] for r in newest_first if r[col] is not None), None)
        enrichments = [pool_enrichment(_load(r["enrichment"], {}) or {}) for r in newest_first]
        for key in _ENRICH_SCALARS + _ENRICH_JSON:
            val = next((e[key] for e in enrichments if isinstance(e, dict) and e.get(key) not in (None, "", [], {})),
                       None)
            if key in ("asn", "favicon_mmh3"):
                val = _int_or_none(val)
            elif key in _ENRICH_JSON:
                if key != "web_info" and val is not None and not isinstance(val, list):
                    val = [val]
                val = _json(val)
            else:
                val = _text(val)
            pool[key] = val
        domains = (_load(pool["domains"], []) or []) + (_load(pool["cert_names"], []) or [])
        pool["known"] = int(self.known.matches(ip, port, [str(d) for d in domains]))
        cols = tuple(pool)  # "id" first, as _upsert_sql expects
        conn.execute(_upsert_sql("pools", cols), [pool[c] for c in cols])

    # ------------------------------------------------------------------ reads
    def done_targets(self, run_id: str) -> set[tuple[str, int]]:
        """The (ip, port) pairs already saved with :meth:`save_result` in this run (for resume)."""
        return {(r["ip"], int(r["port"])) for r in
                self.db.query("SELECT ip, port FROM verdicts WHERE run_id = ?", [run_id])}

    def _reference_run(self) -> str | None:
        rows = list(self.db.query(
            "SELECT r.id FROM runs r WHERE EXISTS (SELECT 1 FROM verdicts v WHERE v.run_id = r.id) "
            "ORDER BY r.started_at DESC, r.rowid DESC LIMIT 1"))
        return rows[0]["id"] if rows else None

    def pools(self, since: datetime | str | None = None, new_only: bool = False, min_confidence: float = 0.0,
              run_id: str | None = None) -> Iterator[dict]:
        """The pools aggregate, oldest first_seen first, as dicts ready for the exporters.

        Keys: id (``ip:port``), ip, port, protocol, software, coin, algo, confidence (0..1), tls (bool),
        label, evidence (list of str), first_seen, last_seen (ISO text), seen_count, first_run, last_run,
        known (bool, by this store's known-pools list), new (bool), asn, as_org, country, cert_names (list), domains (list), favicon_mmh3,
        web_info (dict or None), cert_sha256.

        Filters: ``since`` keeps pools with last_seen >= since; ``min_confidence`` keeps confidence >= it;
        ``run_id`` keeps the pools seen in that run. ``new`` is computed against a reference run (``run_id``,
        else the latest run that saved results): not known and first seen in that run; with ``since`` it is
        instead not known and first_seen >= since. ``new_only`` keeps the new ones (the nightly delta).
        """
        where, params = ["confidence >= ?"], [float(min_confidence)]
        since_iso = iso(parse_time(since)) if since is not None else None
        if since_iso:
            where.append("last_seen >= ?")
            params.append(since_iso)
        if run_id is not None:
            where.append("EXISTS (SELECT 1 FROM verdicts v WHERE v.run_id = ? AND v.ip = pools.ip "
                         "AND v.port = pools.port AND v.is_pool = 1)")
            params.append(run_id)
        ref = run_id or self._reference_run()
        if new_only:
            if since_iso:
                where.append("first_seen >= ?")
                params.append(since_iso)
            else:
                where.append("first_run = ?")
                params.append(ref)
        sql = f"SELECT * FROM pools WHERE {' AND '.join(where)} ORDER BY first_seen, ip, port"
        for row in self.db.query(sql, params):
            out = dict(row)
            for col in _JSON_POOL_COLS:
                out[col] = _load(out.get(col), None if col == "web_info" else [])
            out["tls"] = bool(out.get("tls"))
            # known is judged with this store's list (``Store.open(known_pools=...)``), not the one in force
            # when the row was written
            names = [str(d) for d in (out.get("domains") or []) + (out.get("cert_names") or [])]
            out["known"] = self.known.matches(out["ip"], int(out["port"]), names)
            if new_only and out["known"]:
                continue
            if since_iso:
                out["new"] = (not out["known"]) and out["first_seen"] >= since_iso
            else:
                out["new"] = (not out["known"]) and out["first_run"] == ref
            yield out

    def results(self, run_id: str, page: int = 500) -> Iterator[ProbeResult]:
        """The ProbeResults saved in a run, rebuilt from rows (ordered by ip, port; transcripts in their
        original order).

        Read ``page`` verdicts at a time (keyset on the unique index verdicts(run_id, ip, port)) plus their
        transcripts in one query, as tuples: memory is bounded by one page, no cursor is open while the
        caller holds a result (so it may write to the store, e.g. ``poolscan classify --db``), and the rows
        are decoded without per-row dicts (sqlite-utils' dict rows and one transcript query per result
        before issue 8). Measured, 5,000 results, 2 cores, medians: bench corpus (floods included: most of
        its bytes) 27k -> 33k transcripts/s; the same personas without the floods 40k -> 56k/s. Then the JSON
        columns through the C scanner (:func:`_load`) and the rows built positionally or by slot
        (:func:`_slot_setters`), min of 10, A/B in one process: with floods 37.6 -> 31.2 us per transcript
        (27k -> 32k/s; a 98 KB flood transcript alone costs ~180 us: ~60 fetching, ~105 parsing its JSON),
        without 25.6 -> 17.1 us (39k -> 58k/s).

        The exchanges stay JSON (``{"text"|"b64"}`` items, readable in Datasette): a binary column
        (``<dBI`` header + raw bytes per exchange, prototyped 2026-11-29) would read the same realistic
        transcripts in 3.5 instead of 6.8 us of fetch + decode, ~1.25x of the whole read, and only the
        floods ~2.5x; not worth a format change.
        """
        after: tuple[str, int] | None = None
        page = max(1, int(page))
        while True:
            batch = self.results_page(run_id, after, page)
            yield from batch
            if len(batch) < page:
                return
            after = (batch[-1].ip, batch[-1].port)

    def page_starts(self, run_id: str, page: int = 500) -> list[tuple[str, int] | None]:
        """Where each page of :meth:`results` starts: ``[None, (ip, port) of the page's last row, ...]``, one
        entry per ``page`` verdicts of ``run_id`` (ordered by ip, port; read from the unique index alone), so
        that pages can be read apart with :meth:`results_page` (``poolscan classify --db --jobs``)."""
        page = max(1, int(page))
        starts: list[tuple[str, int] | None] = [None]
        rows = self.db.conn.execute("SELECT ip, port FROM verdicts WHERE run_id = ? ORDER BY ip, port", (run_id,))
        for i, (ip, port) in enumerate(rows, 1):
            if i % page == 0:
                starts.append((ip, int(port)))
        return starts

    def results_page(self, run_id: str, after: tuple[str, int] | None, page: int = 500) -> list[ProbeResult]:
        """At most ``page`` ProbeResults of ``run_id`` after the endpoint ``after`` (None: from the first), in
        :meth:`results` order: one query for the verdicts (keyset on the unique index verdicts(run_id, ip,
        port)) and one per 900 of them for their transcripts."""
        conn = self.db.conn
        page = max(1, int(page))
        if after is None:
            vrows = conn.execute(_RESULTS_FIRST, (run_id, page)).fetchall()
        else:
            vrows = conn.execute(_RESULTS_NEXT, (run_id, after[0], after[1], page)).fetchall()
        if not vrows:
            return []
        by_result: dict[str, list[Transcript]] = {r[0]: [] for r in vrows}
        ids = list(by_result)
        for k in range(0, len(ids), 900):  # (SQLite's bound-parameter limit)
            chunk = ids[k:k + 900]
            for t in conn.execute(_TRANSCRIPTS_OF.format(marks=", ".join("?" * len(chunk))), chunk):
                by_result[t[0]].append(_transcript(t))
        out = []
        for (rid, ip, port, status, tls, is_pool, protocol, software, coin, algo, confidence, label,
             evidence, fp_version, enrichment) in vrows:
            # positional, in field order (Verdict: is_pool, protocol, software, coin, algo, confidence,
            # label, evidence, fingerprints_version; ProbeResult: ip, port, status, verdict, transcripts,
            # tls, enrichment)
            verdict = Verdict(None if is_pool is None else bool(is_pool), protocol, software, coin, algo,
                              float(confidence or 0.0), label, tuple(_load(evidence, []) or []),
                              fp_version or "")
            out.append(ProbeResult(ip, int(port), _status(status), verdict, tuple(by_result[rid]), bool(tls),
                                   _load(enrichment, {}) or {}))
        return out

    def stats(self) -> dict[str, Any]:
        """Counts for ``poolscan db stats``: schema version, rows per table, runs by status, pools
        (total, known, new in the latest run), and the latest run."""
        tables = ("runs", "open_ports", "verdicts", "transcripts", "pools")
        out: dict[str, Any] = {"path": str(self.path) if self.path else ":memory:",
                               "schema_version": SCHEMA_VERSION,
                               "tables": {t: self.db.table(t).count for t in tables}}
        out["runs_by_status"] = {r["status"]: r["n"] for r in
                                 self.db.query("SELECT status, count(*) AS n FROM runs GROUP BY status")}
        out["pools"] = {
            "total": out["tables"]["pools"],
            "known": sum(1 for p in self.pools() if p["known"]),
            "new_in_last_run": sum(1 for _ in self.pools(new_only=True)),
        }
        out["pools_by_coin"] = {r["coin"] or "unknown": r["n"] for r in self.db.query(
            "SELECT coin, count(*) AS n FROM pools GROUP BY coin ORDER BY n DESC, coin")}
        out["pools_by_software"] = {r["software"] or "unknown": r["n"] for r in self.db.query(
            "SELECT software, count(*) AS n FROM pools GROUP BY software ORDER BY n DESC, software")}
        last = self.last_run()
        out["last_run"] = ({k: last[k] for k in ("id", "kind", "status", "started_at", "finished_at", "counts")}
                           if last else None)
        return out


class BatchWriter:
    """Buffers the open ports and results of one run and writes them with :meth:`Store.save_batch`, one
    transaction per batch: when ``max_results`` results (or ``4 * max_results`` open ports) are waiting, or
    when the oldest waiting item is ``max_delay_s`` old (checked by :meth:`add_result`/:meth:`add_open_port`
    and, for a stream that goes quiet, by :meth:`due` which the pipeline polls), and on :meth:`flush`.

    Guarantee (kill -9 at any moment): everything but the last uncommitted batch is stored, and since the
    resume set (:meth:`Store.done_targets`) is read from the committed verdicts, ``--resume`` probes again
    exactly the results of that batch; ids are deterministic, so nothing is ever duplicated. Ctrl-C and
    errors go through the caller's ``finally: writer.flush()`` and lose nothing.

    Measured (2 cores, medians; lab personas of ``bench/classify.py`` without the hostile floods, 5,000
    results): before issue 8, one sqlite-utils upsert transaction per result: 589 results/s; one
    ``save_batch`` per result: ~1,800/s; batches of 200: ~4,600/s. Whole pipeline (``bench/memory.py``,
    20,000 open ports): 285 -> 606 results/s, now bound by probing and classification, not the store.
    """

    def __init__(self, store: Store, run_id: str, max_results: int = 200, max_delay_s: float = 0.5) -> None:
        self.store = store
        self.run_id = run_id
        self.max_results = max(1, int(max_results))
        self.max_delay_s = float(max_delay_s)
        self._results: list[ProbeResult] = []
        self._open_ports: list[OpenPort] = []
        self._oldest: float | None = None
        self.batches = 0
        self.written = 0

    @property
    def pending(self) -> int:
        """Results waiting for the next commit."""
        return len(self._results)

    def due(self) -> bool:
        """True when something waits for longer than ``max_delay_s``."""
        return self._oldest is not None and time.monotonic() - self._oldest >= self.max_delay_s

    def _added(self) -> None:
        if self._oldest is None:
            self._oldest = time.monotonic()
        if (len(self._results) >= self.max_results or len(self._open_ports) >= 4 * self.max_results
                or self.due()):
            self.flush()

    def add_open_port(self, open_port: OpenPort) -> None:
        """Queue one swept open port (written with the next batch)."""
        self._open_ports.append(open_port)
        self._added()

    def add_result(self, result: ProbeResult) -> None:
        """Queue one result (written with the next batch)."""
        self._results.append(result)
        self._added()

    def flush(self) -> None:
        """Write everything waiting, in one transaction (nothing waiting: nothing done)."""
        if self._oldest is None:
            return
        results, ops = self._results, self._open_ports
        self._results, self._open_ports, self._oldest = [], [], None
        self.store.save_batch(self.run_id, results, ops)
        self.batches += 1
        self.written += len(results)

