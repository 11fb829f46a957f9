"""CryptoNote / Monero-family "login" stratum, sans-IO: login results and jobs.

Sources: ``../shared/reference/protocols.md`` §3 (xmrig ``src/base/net/stratum/Client.cpp`` login/parseJob;
xmrig-proxy ``src/proxy/Miner.cpp``; Snipa22/nodejs-pool ``lib/pool.js``; dvandal/cryptonote-nodejs-pool
``lib/pool.js``). A login reply is ``{"id","jsonrpc":"2.0","error":null,"result":{"id":<session>,
"job":{"blob","job_id","target"[,"algo","height","seed_hash"]},"extensions"?,"status":"OK"}}``; later jobs
come as ``{"method":"job","params":{...}}``. The blob's first byte (varint) is the block major version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class CnJob:
    """A CryptoNote job. ``major_version`` is the blob's first varint (None when the blob is not hex);
    ``target`` hex (8 or 16 digits); ``difficulty`` derived from the target (xmrig ``Job::setTarget``:
    ``0xffffffffffffffff / (target64)``, with an 8-hex target being the high 32 bits)."""

    job_id: str
    blob: str
    target: str | None
    algo: str | None
    height: int | None
    seed_hash: str | None
    has_next_seed_hash: bool
    major_version: int | None
    keys: tuple[str, ...]

    @property
    def difficulty(self) -> int | None:
        t = self.target
        if not t or not _HEX.match(t) or len(t) not in (8, 16):
            return None
        raw = int.from_bytes(bytes.fromhex(t), "little")
        if len(t) == 8:
            raw <<= 32
        return (2**64 - 1) // raw if raw else None


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class Login:
    """A successful login result: session id, job (or None), extensions list, status string."""

    session_id: str
    job: CnJob | None
    extensions: tuple[str, ...]
    status: str | None
    keys: tuple[str, ...]


def _varint(b: bytes) -> int | None:
    v, shift = 0, 0
    for i, byte in enumerate(b[:10]):
        v |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return v
        shift += 7
    return None


def parse_job(obj: Any) -> CnJob | None:
    """A job object (``blob``, ``job_id``, ``target``...); None when ``blob`` or ``job_id`` is missing."""
    if not isinstance(obj, dict):
        return None
    blob, job_id = obj.get("blob"), obj.get("job_id")
    if not isinstance(blob, str) or not isinstance(job_id, (str, int)) or len(blob) > 100_000:
        return None
    major = None
    if len(blob) >= 2 and _HEX.match(blob[:20]):
        head = blob[:20]
        major = _varint(bytes.fromhex(head[: len(head) - len(head) % 2]))
    height = obj.get("height")
    seed = obj.get("seed_hash")
    algo = obj.get("algo")
    target = obj.get("target")
    return CnJob(job_id=str(job_id), blob=blob, target=target if isinstance(target, str) else None,
                 algo=algo if isinstance(algo, str) else None,
                 height=height if isinstance(height, int) and not isinstance(height, bool) else None,
                 seed_hash=seed if isinstance(seed, str) and seed else None,
                 has_next_seed_hash="next_seed_hash" in obj, major_version=major, keys=tuple(obj))


def parse_login(result: Any) -> Login | None:
    """A login result object; None when it lacks the session ``id`` (then it is not a CryptoNote login
    reply)."""
    if not isinstance(result, dict):
        return None
    sid = result.get("id")
    if not isinstance(sid, (str, int)) or isinstance(sid, bool):
        return None
    ext = result.get("extensions")
    status = result.get("status")
    return Login(session_id=str(sid), job=parse_job(result.get("job")),
                 extensions=tuple(e for e in ext if isinstance(e, str)) if isinstance(ext, list) else (),
                 status=status if isinstance(status, str) else None, keys=tuple(result))
