"""Stratum v1 (Bitcoin family) message shapes, sans-IO: subscribe results, configure results, jobs.

Every function takes already-decoded JSON values (from :mod:`scanner.protocols.jsonrpc`) and returns a
dataclass or None; none raises on peer data.

Sources: ``../shared/reference/protocols.md`` §1.2-§1.8 (ZIP 301; zone117x/node-stratum-pool
``lib/stratum.js``, ``lib/jobManager.js``; ckpool ``src/stratifier.c``; BIP 310 for ``mining.configure``);
shapes seen on the wire in ``../shared/cases/`` (C01 NiceHash 5/9-byte extranonce1 with size 3, C06
notify-then-set_difficulty order and odd-length ids, C10 18-byte extranonce1 with size 14).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_HEX = re.compile(r"^[0-9a-fA-F]*$")
NULL_OUTPOINT = "00" * 32 + "ffffffff"

# subscribe result shapes
CLASSIC = "classic"  # [[[method, id], ...], extranonce1, extranonce2_size]
EQUIHASH = "equihash"  # [session_or_null, nonce1] (ZIP 301, KawPow NiceHash)
ETHSTRATUM = "ethstratum"  # [["mining.notify", id, "EthereumStratum/1.0.0"], extranonce]
BOOL = "bool"  # true (some ETH pools, case C14)


def is_hex(v: Any, *, even: bool = False) -> bool:
    """True for a non-empty string of hex digits (``even``: also an even number of them)."""
    return isinstance(v, str) and 0 < len(v) <= 4096 and bool(_HEX.match(v)) and (not even or len(v) % 2 == 0)


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class Subscribe:
    """A parsed ``mining.subscribe`` result.

    shape: one of CLASSIC, EQUIHASH, ETHSTRATUM, BOOL. subscriptions: ``(method, id)`` pairs (CLASSIC; empty
    when the server sends ``null`` there, as aiostratum-proxy 1.1 does: ``[null, "bfd00b6b01", 7]``, PyPI
    aiostratum-proxy / wetblanketcc/aiostratum_proxy ``aiostratum_proxy/protocols/stratum.py``
    ``hook_get_subscription_response_params`` @1aed8b1, recorded in tests/transcripts/real/aiostratum-proxy-*.jsonl);
    extranonce1: hex string or None; extranonce2_size: int bytes or None; protocol_name: the third element
    of an EthereumStratum subscription (``EthereumStratum/1.0.0``)."""

    shape: str
    subscriptions: tuple[tuple[str, str], ...] = ()
    extranonce1: str | None = None
    extranonce2_size: int | None = None
    session: str | None = None
    protocol_name: str | None = None

    @property
    def sub_ids(self) -> tuple[str, ...]:
        return tuple(i for _, i in self.subscriptions)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m, _ in self.subscriptions)


def parse_subscribe(result: Any) -> Subscribe | None:
    """Recognise a subscribe result; None when it is none of the known shapes (the peer is then not
    speaking this dialect, or answered with an error)."""
    if result is True:
        return Subscribe(shape=BOOL)
    if not isinstance(result, list) or not 2 <= len(result) <= 4:
        return None
    first, en1 = result[0], result[1]
    # EthereumStratum/1.0.0: [["mining.notify", id, "EthereumStratum/1.0.0"], extranonce]
    if (isinstance(first, list) and len(first) == 3 and all(isinstance(x, str) for x in first)
            and first[0] == "mining.notify" and first[2].lower().startswith("ethereumstratum")):
        return Subscribe(shape=ETHSTRATUM, subscriptions=((first[0], first[1]),),
                         extranonce1=en1 if isinstance(en1, str) else None, protocol_name=first[2])
    if len(result) >= 3 and (isinstance(first, list) or first is None) and is_hex(en1):
        n2 = result[2]
        if isinstance(n2, float) and n2.is_integer():
            n2 = int(n2)  # aiostratum-proxy computes it as size - len(tail) / 2 (a float in Python 3)
        if isinstance(n2, bool) or not isinstance(n2, int) or not 0 <= n2 <= 64:
            return None
        subs: list[tuple[str, str]] = []
        # [[m, id], [m, id]] or a single [m, id]
        # or null: no subscriptions to resume (aiostratum-proxy: [None, extranonce1, size])
        items = [] if first is None else first if first and isinstance(first[0], list) else [first] if first else []
        for item in items:
            if (isinstance(item, list) and len(item) >= 2 and isinstance(item[0], str)
                    and isinstance(item[1], (str, int))):
                subs.append((item[0], str(item[1])))
            else:
                return None
        return Subscribe(shape=CLASSIC, subscriptions=tuple(subs), extranonce1=en1, extranonce2_size=n2)
    if len(result) == 2 and (first is None or isinstance(first, str)) and is_hex(en1):
        return Subscribe(shape=EQUIHASH, session=first, extranonce1=en1)
    return None


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class Job:
    """A Bitcoin-layout ``mining.notify`` (9 params: job_id, prevhash, coinb1, coinb2, merkle branches,
    version, nbits, ntime, clean_jobs); ``complete`` is False when later fields are missing (truncated)."""

    job_id: str
    prevhash: str
    coinb1: str
    coinb2: str | None
    merkle: tuple[str, ...]
    version: str | None
    nbits: str | None
    ntime: str | None
    clean: bool | None
    complete: bool


def parse_notify(params: Any) -> Job | None:
    """Parse Bitcoin-family notify params; None for other layouts (EthereumStratum 4-param notify, ZIP 301
    8-param Equihash notify whose 3rd field is a 64-hex merkle root)."""
    if not isinstance(params, list) or len(params) < 3:
        return None
    job_id, prevhash, coinb1 = params[0], params[1], params[2]
    if not isinstance(job_id, (str, int)) or not is_hex(prevhash) or len(prevhash) != 64:
        return None
    if not isinstance(coinb1, str) or not _HEX.match(coinb1):
        return None
    # a coinbase spends the null outpoint (32 zero bytes, index ffffffff): an EthereumStratum notify's
    # 64-hex header hash in the same position does not
    if NULL_OUTPOINT not in coinb1[:200].lower():
        return None
    # Equihash (ZIP 301): [job, version(8 hex), prevhash, merkleroot, reserved, time, bits, clean] - prevhash
    # would be 8 hex, rejected above.
    coinb2 = params[3] if len(params) > 3 and isinstance(params[3], str) else None
    if coinb2 is not None and not _HEX.match(coinb2):
        return None
    merkle = params[4] if len(params) > 4 and isinstance(params[4], list) else []
    def s(i: int) -> str | None:
        return params[i] if len(params) > i and isinstance(params[i], str) else None
    clean = params[8] if len(params) > 8 and isinstance(params[8], bool) else None
    return Job(job_id=str(job_id), prevhash=prevhash, coinb1=coinb1, coinb2=coinb2,
               merkle=tuple(m for m in merkle if isinstance(m, str)), version=s(5), nbits=s(6), ntime=s(7),
               clean=clean, complete=len(params) >= 9 and coinb2 is not None)


_MININGCORE_ID = re.compile(r"^[0-9A-V]{13}$")


def is_miningcore_id(sub_id: Any) -> bool:
    """True for a miningcore connection id: 13 characters of ``0-9A-V`` (base32 of a tick counter,
    oliverw/miningcore ``src/Miningcore/Util/CorrelationIdGenerator.cs`` @a553f623). Miningcore validates
    the address on ``mining.authorize`` and bans the IP on failure (``BitcoinPool.cs OnAuthorizeAsync``,
    ``BanOnLoginFailure``), so a probe should not send a dummy authorize after such a subscription id."""
    return isinstance(sub_id, str) and bool(_MININGCORE_ID.match(sub_id))


def parse_configure(result: Any) -> dict[str, Any] | None:
    """A BIP 310 ``mining.configure`` result (an object such as ``{"version-rolling": true,
    "version-rolling.mask": "1fffe000"}``); None when not an object."""
    return result if isinstance(result, dict) else None


def nbits_difficulty(nbits: Any) -> float | None:
    """Network difficulty from 8-hex ``nbits`` with the SHA-256d diff-1 target ``0x1d00ffff``."""
    if not is_hex(nbits) or len(nbits) != 8:
        return None
    v = int(nbits, 16)
    exp, mant = v >> 24, v & 0xFFFFFF
    if mant == 0 or exp < 3 or exp > 40:
        return None
    target = mant << (8 * (exp - 3))
    return (0xFFFF << (8 * (0x1D - 3))) / target
