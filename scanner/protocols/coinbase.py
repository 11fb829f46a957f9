"""Read coin hints out of a Stratum v1 job's coinbase parts (``coinb1``/``coinb2`` of ``mining.notify``).

Sans-IO, pure functions; every function returns None/empty on malformed input and never raises on peer data.

Coinbase layout (``../shared/reference/protocols.md`` §1.7; zone117x/node-stratum-pool ``lib/transactions.js``,
ckpool ``src/stratifier.c`` ~L540, tpruvot/yiimp ``stratum/coinbase.cpp``)::

    coinb1 = version(4) [+ nTime(4), PoS coins] + 01 + 32x00 + ffffffff + scriptSig length + scriptSig part 1
    (extranonce1 || extranonce2 go here)
    coinb2 = scriptSig part 2 + sequence(4) + outputs + locktime

The first push of the scriptSig is the BIP34 block height (BIP34; NOMP ``util.serializeNumber``, ckpool
``ser_number``). Pool tags are ASCII inside the scriptSig (``/nodeStratum/``, ``\\nckpool``, ``yiimp\\0``,
``Public-Pool``, ``< OCEAN.XYZ >``...). Output scripts identify address types; ``6a24aa21a9ed`` is the
SegWit witness commitment (BIP141), present only on SegWit chains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WITNESS_COMMITMENT = "6a24aa21a9ed"  # OP_RETURN PUSH36 0xaa21a9ed (BIP141)
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_PRINTABLE = re.compile(rb"[\x20-\x7e]{4,}")


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class CoinbaseInfo:
    """What :func:`parse_coinbase` could read.

    height: the BIP34 height (int) or None; text: the printable ASCII runs (>= 4 chars) of coinb1+coinb2,
    joined by ``|``; has_witness_commitment: a BIP141 commitment output is present; outputs: number of outputs
    when the output count could be located, else None; pos_time: True when a 4-byte nTime after the version
    made the layout fit (PoS coins)."""

    height: int | None = None
    text: str = ""
    has_witness_commitment: bool = False
    outputs: int | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def _unhex(s: object) -> bytes | None:
    if not isinstance(s, str) or len(s) > 200_000 or not _HEX.match(s):
        return None
    try:
        return bytes.fromhex(s)
    except ValueError:
        return None


def bip34_height(coinb1: bytes) -> int | None:
    """The BIP34 height pushed first in the coinbase scriptSig, from raw ``coinb1`` bytes; None when the
    bytes do not have the coinbase-input layout. Tries the plain layout (version, 01, null outpoint) and the
    PoS layout (version, nTime, 01, null outpoint)."""
    for off in (4, 8):
        # input count 1 then a null outpoint (32 zero bytes + ffffffff)
        if len(coinb1) < off + 1 + 36 + 1 + 2:
            continue
        if coinb1[off] != 1 or coinb1[off + 1:off + 33] != bytes(32) or coinb1[off + 33:off + 37] != b"\xff" * 4:
            continue
        p = off + 37
        script_len = coinb1[p]
        if script_len >= 0xfd:
            continue
        p += 1
        n = coinb1[p]
        if 1 <= n <= 8 and p + 1 + n <= len(coinb1):
            return int.from_bytes(coinb1[p + 1:p + 1 + n], "little")
        if 0x51 <= n <= 0x60:  # OP_1..OP_16 (tiny heights, regtest)
            return n - 0x50
        return None
    return None


def printable_runs(data: bytes, min_len: int = 4) -> list[str]:
    """ASCII runs of at least ``min_len`` printable characters in ``data``."""
    return [m.group().decode("ascii") for m in _PRINTABLE.finditer(data[:100_000]) if len(m.group()) >= min_len]


def parse_coinbase(coinb1_hex: object, coinb2_hex: object) -> CoinbaseInfo | None:
    """Parse the two hex coinbase parts of a Bitcoin-layout ``mining.notify``. None when either part is not
    hex. ``tags`` holds the printable runs of scriptSig-ish text (also from coinb1, since pools put tags
    there too, e.g. OCEAN in case C06)."""
    b1, b2 = _unhex(coinb1_hex), _unhex(coinb2_hex)
    if b1 is None:
        return None
    if b2 is None:
        b2 = b""
    height = bip34_height(b1)
    runs = printable_runs(b1) + printable_runs(b2)
    hex2 = b2.hex()
    return CoinbaseInfo(
        height=height,
        text="|".join(runs),
        has_witness_commitment=WITNESS_COMMITMENT in hex2 or WITNESS_COMMITMENT in b1.hex(),
        tags=tuple(runs),
    )


def partial_coinbase(coinb1_hex: object) -> CoinbaseInfo | None:
    """Like :func:`parse_coinbase` for a job whose later fields were cut off (case C06): only coinb1,
    which may itself be truncated to an odd number of hex digits (the odd digit is dropped)."""
    if not isinstance(coinb1_hex, str):
        return None
    s = coinb1_hex[: len(coinb1_hex) - (len(coinb1_hex) % 2)]
    m = re.match(r"^[0-9a-fA-F]*", s)
    s = m.group() if m else ""
    s = s[: len(s) - (len(s) % 2)]
    return parse_coinbase(s, "")
