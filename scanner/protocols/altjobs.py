"""``mining.notify`` layouts other than Bitcoin's 9-field one, sans-IO: Equihash (ZIP 301), KawPow, Ergo
(Autolykos2) and Kaspa (kHeavyHash). Each parser takes decoded JSON params and returns a frozen dataclass
or None; none raises on peer data (wrong types, huge numbers, short lists, non-hex strings).

Layouts and their sources:

* Equihash, ZIP 301 ``mining.notify()`` (zcash/zips ``zips/zip-0301.rst`` @259df9c4):
  ``[JOB_ID, VERSION, PREVHASH, MERKLEROOT, RESERVED, TIME, BITS, CLEAN_JOBS]``; VERSION/TIME/BITS are 4-byte
  little-endian hex, the hashes 32-byte hex. s-nomp (s-nomp/node-stratum-pool ``lib/blockTemplate.js``
  ``getJobParams`` @06369d96) fills RESERVED with the reversed ``finalsaplingroothash`` (zeros without one);
  s-nomp forks append ``algoNK`` and ``persString`` (``"200_9", "ZcashPoW"``, protocols.md §1.8; default
  personalizations ``ZcashPoW``/``BitcoinZ``/``ZERO_PoW`` in ``lib/algoProperties.js`` @8c8834c6).
* KawPow (RavenCommunity/kawpow-stratum-pool ``lib/blockTemplate.js`` ``getJobParams`` @d892f771):
  ``[job_id, header_hash, seed_hash, target, true, height, bits]``; seed hash = keccak256 chain of
  ``height // 7500`` steps from 32 zero bytes (same file, ``EPOCH_LENGTH = 7500``), so the ethash seed table
  of :mod:`scanner.protocols.ethstratum` gives the KawPow epoch.
* Ergo (oliverw/miningcore ``src/Miningcore/Blockchain/Ergo/ErgoJob.cs`` ``Init`` and ``ErgoPool.cs``
  ``SendJob`` @a553f623): ``[job_id, height, msg, "", "", blockVersion, target (decimal string), "", clean]``.
* Kaspa (onemorebsmith/kaspa-stratum-bridge ``src/kaspastratum/client_handler.go`` and ``hasher.go``
  @429f9a46): ``[job_id, [4 x uint64], timestamp]`` (lolMiner/SRBMiner) or ``[job_id, "<80 hex>"]``
  (BzMiner: 4 big-endian uint64 words of the pre-PoW hash then the little-endian timestamp).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scanner.protocols import ethstratum

EQUIHASH = "equihash"
KAWPOW = "kawpow"
AUTOLYKOS = "autolykos"
KASPA = "kaspa"

KAWPOW_EPOCH_LENGTH = 7_500  # blocks per KawPow epoch (kawpow-stratum-pool lib/blockTemplate.js)
MAX_HEIGHT = 2**32 - 1  # block heights are uint32 on every chain here; larger values are garbage
MAX_U64 = 2**64 - 1
MAX_ID = 128  # characters of a job id kept

_HEX8 = re.compile(r"^[0-9a-fA-F]{8}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_HEX80 = re.compile(r"^[0-9a-fA-F]{80}$")
_DEC = re.compile(r"^[0-9]{1,100}$")


def _int(v: Any, hi: int) -> int | None:
    """A JSON integer in [0, hi] (bools and floats are not integers here)."""
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi else None


def _job_id(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        return None
    s = str(v)
    return s[:MAX_ID] if s else None


@dataclass(slots=True)  # treat as immutable: not frozen, a frozen dataclass costs ~1 us more to build (issue 8)
class AltJob:
    """One non-Bitcoin job. ``layout``: EQUIHASH, KAWPOW, AUTOLYKOS or KASPA. Fields a layout lacks are None.

    version: block version as an int (Equihash: decoded from 4-byte little-endian hex; Ergo: the integer);
    version_hex: the wire form (Equihash); nbits: 8-hex compact target as sent (Equihash: little-endian as in the
    header; KawPow: big-endian as in getblocktemplate); height: block height (KawPow, Ergo); reserved_zero:
    Equihash RESERVED is 64 zeros (z-nomp, pre-Sapling) or not; personalization / nk: s-nomp's extra params;
    seed_epoch: KawPow epoch of the seed hash (None when the seed is not in the keccak chain);
    timestamp: Kaspa header timestamp (milliseconds)."""

    layout: str
    job_id: str
    version: int | None = None
    version_hex: str | None = None
    nbits: str | None = None
    height: int | None = None
    reserved_zero: bool | None = None
    personalization: str | None = None
    nk: str | None = None
    seed_epoch: int | None = None
    timestamp: int | None = None


def parse_equihash_notify(params: Any) -> AltJob | None:
    """ZIP 301 ``mining.notify`` params (8 fields, s-nomp: 10); None for any other shape."""
    if not isinstance(params, list) or not 7 <= len(params) <= 12:
        return None
    jid = _job_id(params[0])
    v, prev, root, res, ntime, bits = params[1:7]
    if jid is None or not all(isinstance(x, str) for x in (v, prev, root, res, ntime, bits)):
        return None
    if not (_HEX8.match(v) and _HEX64.match(prev) and _HEX64.match(root) and _HEX64.match(res)
            and _HEX8.match(ntime) and _HEX8.match(bits)):
        return None
    nk = params[8] if len(params) > 8 and isinstance(params[8], str) and len(params[8]) <= 16 else None
    pers = params[9] if len(params) > 9 and isinstance(params[9], str) and len(params[9]) <= 16 else None
    return AltJob(layout=EQUIHASH, job_id=jid, version=int.from_bytes(bytes.fromhex(v), "little"),
                  version_hex=v.lower(), nbits=bits.lower(), reserved_zero=res.strip("0") == "",
                  personalization=pers, nk=nk)


def parse_kawpow_notify(params: Any) -> AltJob | None:
    """KawPow ``mining.notify`` params ``[job_id, header_hash, seed_hash, target, clean, height, bits]``;
    None for any other shape. The seed's epoch comes from the cached ethash seed table (no keccak here)."""
    if not isinstance(params, list) or not 6 <= len(params) <= 8:
        return None
    jid = _job_id(params[0])
    header, seed, target = ethstratum.hash32(params[1]), ethstratum.hash32(params[2]), ethstratum.hash32(params[3])
    height = _int(params[5], MAX_HEIGHT)
    if jid is None or header is None or seed is None or target is None or height is None:
        return None
    if not isinstance(params[4], bool):
        return None
    bits = params[6] if len(params) > 6 and isinstance(params[6], str) and _HEX8.match(params[6]) else None
    return AltJob(layout=KAWPOW, job_id=jid, height=height, nbits=bits.lower() if bits else None,
                  seed_epoch=ethstratum.seed_epoch(seed))


def parse_ergo_notify(params: Any) -> AltJob | None:
    """Ergo (miningcore) ``mining.notify`` params ``[job_id, height, msg, "", "", version, target, "", clean]``;
    None for any other shape."""
    if not isinstance(params, list) or not 8 <= len(params) <= 10:
        return None
    jid = _job_id(params[0])
    height = _int(params[1], MAX_HEIGHT)
    msg = params[2]
    version = _int(params[5], 255)
    if jid is None or height is None or version is None or not isinstance(msg, str) or not _HEX64.match(msg):
        return None
    if params[3] != "" or params[4] != "" or params[7] != "":
        return None
    target = params[6]
    if not (target is None or (isinstance(target, str) and _DEC.match(target)) or _int(target, 2**256) is not None):
        return None
    return AltJob(layout=AUTOLYKOS, job_id=jid, height=height, version=version)


def parse_kaspa_notify(params: Any) -> AltJob | None:
    """kaspa-stratum-bridge ``mining.notify`` params: ``[job_id, [u64, u64, u64, u64], timestamp]`` or
    ``[job_id, "<80 hex>"]``; None for any other shape."""
    if not isinstance(params, list) or not 2 <= len(params) <= 3:
        return None
    jid = _job_id(params[0])
    if jid is None:
        return None
    if len(params) == 3:
        words, ts = params[1], _int(params[2], MAX_U64)
        if not isinstance(words, list) or len(words) != 4 or ts is None:
            return None
        if any(_int(w, MAX_U64) is None for w in words):
            return None
        return AltJob(layout=KASPA, job_id=jid, timestamp=ts)
    big = params[1]
    if not isinstance(big, str) or not _HEX80.match(big):
        return None
    return AltJob(layout=KASPA, job_id=jid, timestamp=int.from_bytes(bytes.fromhex(big[64:]), "little"))


def parse_alt_notify(params: Any) -> AltJob | None:
    """The first of the layouts above that ``params`` fits, chosen by cheap shape tests (length and the type of
    the second field) so that a Bitcoin or EthereumStratum notify costs a few comparisons; None otherwise."""
    if not isinstance(params, list) or len(params) < 2:
        return None
    n = len(params)
    second = params[1]
    if isinstance(second, str):
        k = len(second)
        if k == 8 and n >= 7:
            return parse_equihash_notify(params)
        if k in (64, 66) and 6 <= n <= 8:
            return parse_kawpow_notify(params)
        if k == 80 and n == 2:
            return parse_kaspa_notify(params)
        return None
    if isinstance(second, list) and n == 3:
        return parse_kaspa_notify(params)
    if isinstance(second, int) and not isinstance(second, bool) and 8 <= n <= 10:
        return parse_ergo_notify(params)
    return None


def kawpow_epoch(height: Any) -> int | None:
    """The KawPow epoch of a block height (``height // 7500``), None for a non-height."""
    h = _int(height, MAX_HEIGHT)
    return None if h is None else h // KAWPOW_EPOCH_LENGTH


def version_algo_bits(version_hex: Any, mask: int) -> int | None:
    """``int(version, 16) & mask`` for an 8-hex Bitcoin-layout job version (big-endian hex as NOMP
    ``util.packInt32BE`` and ckpool send it); None when it is not 8 hex digits."""
    if not isinstance(version_hex, str) or not _HEX8.match(version_hex):
        return None
    return int(version_hex, 16) & mask
