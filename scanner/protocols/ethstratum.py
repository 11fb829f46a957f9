"""Ethereum-family mining messages, sans-IO: EthereumStratum/1.0.0 jobs, ETHProxy/getwork triples, and
the ethash epoch of a seed hash.

Sources: ``../shared/reference/protocols.md`` §2 (nicehash/Specifications ``EthereumStratum_NiceHash_v1.0.0.txt``:
notify params ``[job_id, seedhash, headerhash, clean]``; sammy007/open-ethereum-pool ``docs/STRATUM.md`` and
``proxy/stratum.go``: ``eth_getWork`` result ``[header, seed, target]``; ethash: ``seed(0)`` = 32 zero bytes,
``seed(n+1) = keccak256(seed(n))``, 30000 blocks per epoch, miningcore ``EthereumConstants.EpochLength``).
Wire quirks: seeds with and without ``0x`` (C12 vs C16).
"""

from __future__ import annotations

from pathlib import Path

import re
from dataclasses import dataclass
from typing import Any


EPOCH_LENGTH = 30_000  # blocks per ethash epoch
MAX_EPOCH = 1_100  # seeds computed at most (epoch 1100 = block 33M: beyond every ethash chain as of 2026)
_H32 = re.compile(r"^(0x)?([0-9a-fA-F]{64})$")

_seeds: dict[str, int] = {}


def hash32(v: Any) -> str | None:
    """A 32-byte hash as lowercase hex without ``0x``, or None when ``v`` is not one."""
    if not isinstance(v, str):
        return None
    m = _H32.match(v)
    return m.group(2).lower() if m else None


SEED_TABLE = Path(__file__).with_name("ethash_seeds.txt")


def _seed_table() -> dict[str, int]:
    """{seed hex: epoch} for epochs 0..MAX_EPOCH, read once from the precomputed table (computing the keccak
    chain in pure Python costs ~1 s; the table is 70 KB)."""
    if not _seeds:
        lines = [x for x in SEED_TABLE.read_text().splitlines() if x and not x.startswith("#")]
        _seeds.update({h: n for n, h in enumerate(lines)})
    return _seeds


def seed_epoch(seed: Any, max_epoch: int = MAX_EPOCH) -> int | None:
    """The ethash epoch whose seed hash is ``seed`` (hex, with or without ``0x``), or None when it is not in
    the keccak chain up to ``max_epoch`` (the table ``ethash_seeds.txt`` holds epochs 0..MAX_EPOCH)."""
    h = hash32(seed)
    if h is None:
        return None
    n = _seed_table().get(h)
    return n if n is not None and n <= max_epoch else None


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class EthJob:
    """An Ethereum job: from an EthereumStratum notify or a getwork triple. Hashes are lowercase hex
    without ``0x``; ``prefixed`` tells whether the peer wrote ``0x`` (miningcore does, the NiceHash spec
    does not); ``target`` only for getwork triples."""

    job_id: str | None
    seed: str
    header: str
    target: str | None
    prefixed: bool
    clean: bool | None


def parse_ethstratum_notify(params: Any) -> EthJob | None:
    """EthereumStratum/1.0.0 ``mining.notify`` params ``[job_id, seedhash, headerhash, clean]`` (also the
    ethminer "stratum" flavour of case C14). None for other layouts."""
    if not isinstance(params, list) or not 3 <= len(params) <= 5:
        return None
    job, seed, header = params[0], hash32(params[1]), hash32(params[2])
    if not isinstance(job, str) or seed is None or header is None:
        return None
    clean = params[3] if len(params) > 3 and isinstance(params[3], bool) else None
    return EthJob(job_id=job, seed=seed, header=header, target=None,
                  prefixed=str(params[1]).startswith("0x"), clean=clean)


def parse_getwork(result: Any) -> EthJob | None:
    """An ``eth_getWork`` result ``[header, seed, target, (height)]`` (open-ethereum-pool, geth). The target
    may be shorter than 64 hex (open-ethereum-pool trims leading zeros, recorded transcript)."""
    if not isinstance(result, list) or not 3 <= len(result) <= 4:
        return None
    header, seed = hash32(result[0]), hash32(result[1])
    target = result[2]
    if header is None or seed is None or not isinstance(target, str):
        return None
    t = target[2:] if target.startswith("0x") else target
    if not t or len(t) > 64 or not re.match(r"^[0-9a-fA-F]+$", t):
        return None
    return EthJob(job_id=None, seed=seed, header=header, target=t.lower(),
                  prefixed=str(result[0]).startswith("0x"), clean=None)
