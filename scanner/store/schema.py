"""The poolscan database schema, as ``sqlite_utils`` migrations (the only place the schema is defined).

``MIGRATIONS.apply(db)`` is idempotent: it records what ran in ``_sqlite_migrations`` (sqlite-utils >= 4.0,
``sqlite_utils/migrations.py``) and applies only what is pending, each step in one transaction. A new
column or table is a new ``@MIGRATIONS()`` function at the end of this file; never edit an applied one.

Tables (times are ISO 8601 UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, so text order is time order; ids are
deterministic hashes so that re-saving the same thing replaces the row instead of adding one):

``runs``         id, kind (scan|probe|campaign), campaign, args (JSON), seed, status
                 (running|ok|failed|interrupted), started_at, finished_at, counts (JSON).
``open_ports``   id = h(run, ip, port), run_id, ip, port, seen_at, source.
``verdicts``     id = h(run, ip, port): one row per probed ip:port per run (the ProbeResult without its
                 transcripts): status, tls, is_pool (1/0/NULL), protocol, software, coin, algo, confidence,
                 label, evidence (JSON list), fingerprints_version, enrichment (JSON), observed_at, saved_at.
``transcripts``  id = h(run, ip, port, probe, tls, n), result_id (-> verdicts.id), seq (order within the
                 result), probe, tls, tls_info (JSON), status, error, truncated, closed_by_peer, started_at,
                 duration_s, exchanges (JSON list of Exchange.to_dict()).
``pools``        id = "ip:port" (IPv6 as "[ip]:port"): the aggregate over every run's verdict with
                 is_pool = 1 for that endpoint: first_seen/last_seen, seen_count (distinct runs),
                 first_run/last_run, the latest labels, known (in seeds/known-pools.txt), enrichment.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATIONS = Migrations("poolscan")

#: Bumped with every migration; ``poolscan db stats`` shows it.
SCHEMA_VERSION = 2


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    """Create runs, open_ports, verdicts, transcripts and pools with their indexes."""
    db.table("runs").create(
        {
            "id": str, "kind": str, "campaign": str, "args": str, "seed": int, "status": str,
            "started_at": str, "finished_at": str, "counts": str,
        },
        pk="id", not_null={"kind", "status", "started_at"},
    )
    db.table("open_ports").create(
        {"id": str, "run_id": str, "ip": str, "port": int, "seen_at": str, "source": str},
        pk="id", not_null={"run_id", "ip", "port"}, foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("verdicts").create(
        {
            "id": str, "run_id": str, "ip": str, "port": int, "status": str, "tls": int,
            "is_pool": int, "protocol": str, "software": str, "coin": str, "algo": str,
            "confidence": float, "label": str, "evidence": str, "fingerprints_version": str,
            "enrichment": str, "observed_at": str, "saved_at": str,
        },
        pk="id", not_null={"run_id", "ip", "port", "status"}, foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("transcripts").create(
        {
            "id": str, "result_id": str, "run_id": str, "ip": str, "port": int, "seq": int,
            "probe": str, "tls": int, "tls_info": str, "status": str, "error": str, "truncated": int,
            "closed_by_peer": int, "started_at": float, "duration_s": float, "exchanges": str,
        },
        pk="id", not_null={"result_id", "run_id", "ip", "port", "probe", "status"},
        foreign_keys=[("result_id", "verdicts", "id"), ("run_id", "runs", "id")],
    )
    db.table("pools").create(
        {
            "id": str, "ip": str, "port": int, "protocol": str, "software": str, "coin": str,
            "algo": str, "confidence": float, "tls": int, "label": str, "evidence": str,
            "first_seen": str, "last_seen": str, "seen_count": int, "first_run": str, "last_run": str,
            "known": int, "asn": int, "as_org": str, "country": str, "cert_names": str, "domains": str,
            "favicon_mmh3": int, "web_info": str,
        },
        pk="id", not_null={"ip", "port", "first_seen", "last_seen"},
    )
    db.table("open_ports").create_index(["run_id", "ip", "port"])
    db.table("verdicts").create_index(["run_id", "ip", "port"], unique=True)
    db.table("verdicts").create_index(["ip", "port", "is_pool"])
    db.table("transcripts").create_index(["result_id", "seq"])
    db.table("pools").create_index(["last_seen"])
    db.table("pools").create_index(["first_run"])
    db.table("runs").create_index(["started_at"])


@MIGRATIONS()
def m002_pool_cert_sha256(db: Database) -> None:
    """pools.cert_sha256: SHA-256 of the pool's TLS certificate (enrich stage ``cert_sha256``), so that
    a changed certificate shows in ``Store.diff``."""
    db.table("pools").add_column("cert_sha256", str)
