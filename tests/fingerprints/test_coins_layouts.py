"""Coins and algorithms from job layouts beyond Bitcoin's: Equihash (ZIP 301), KawPow, Ergo, Kaspa, plus the
DGB/VTC BIP34 windows (DGB algo from the block version) and ZEPH by CryptoNote height. Each job is built from
the layout its source documents (cited per test); near misses (overlapping windows, hostile params) give no
coin and never raise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scanner.fingerprint import classify, load_fingerprints
from scanner.model import Exchange, Status, Transcript
from scanner.protocols import ethstratum

SUB = '{"id":2,"method":"mining.subscribe","params":["poolscan/0.1.0"]}\n'
AUTH = '{"id":3,"method":"mining.authorize","params":["1BitcoinEaterAddressDontSendf59kuE.poolscan","x"]}\n'
LOGIN = ('{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skx'
         'NgYeYTRj5UzqtReoS44qo9mtmXCqY45DJ852K5Jv2684Rge","pass":"x","agent":"poolscan/0.1.0"}}\n')


def _seed(epoch: int) -> str:
    inv = {n: h for h, n in ethstratum._seed_table().items()}
    return inv[epoch]


def _t(recv: list[str], probe: str = "stratum1", sends: tuple[str, ...] = (SUB, AUTH)) -> list[Transcript]:
    ex = [Exchange(0.01 * i, "send", s.encode()) for i, s in enumerate(sends)]
    ex += [Exchange(0.5 + 0.01 * i, "recv", r.encode()) for i, r in enumerate(recv)]
    return [Transcript(ip="192.0.2.7", port=4444, probe=probe, status=Status.SUCCESS, exchanges=tuple(ex))]


def _notify(params: Any, **extra: Any) -> str:
    return json.dumps({"id": None, "method": "mining.notify", "params": params, **extra}, separators=(",", ":")) + "\n"


EQ_SUB = '{"id":2,"result":[null,"a1b2c3d4"],"error":null}\n{"id":3,"result":true,"error":null}\n'


def _verdict(recv: list[str], **kw: Any) -> Any:
    return classify(_t(recv, **kw), load_fingerprints())


# --- Equihash: ZIP 301 (zcash/zips zips/zip-0301.rst) [job, VERSION, PREVHASH, MERKLEROOT, RESERVED, TIME, BITS, clean]

def _eq(version: str = "04000000", extra: tuple[Any, ...] = ()) -> list[str]:
    return [EQ_SUB, _notify(["7a", version, "ab" * 32, "cd" * 32, "00" * 32, "5e8a9b00", "1c0a1b2c", True, *extra])]


def test_equihash_version_3_is_horizen() -> None:
    # HorizenOfficial/zen src/primitives/block.h BLOCK_VERSION_SC_SUPPORT = 0x3
    v = _verdict(_eq("03000000"))
    assert (v.is_pool, v.protocol, v.coin, v.algo) == (True, "stratum1", "ZEN", "equihash")


def test_equihash_version_4_fits_zcash_and_its_forks() -> None:
    # ZIP 301: version 4 is Zcash's, and every Zcash fork (and Horizen before its sidechain fork) uses it
    v = _verdict(_eq("04000000"))
    assert (v.is_pool, v.coin, v.algo) == (True, None, "equihash")


@pytest.mark.parametrize("nk,pers,coin,algo", [
    ("144_5", "BgoldPoW", "BTG", "equihash144-5"),  # protocols.md §1.8
    ("144_5", "BitcoinZ", "BTCZ", "equihash144-5"),  # s-nomp lib/algoProperties.js default
    ("200_9", "ZcashPoW", None, "equihash"),
])
def test_equihash_snomp_personalization(nk: str, pers: str, coin: str | None, algo: str) -> None:
    v = _verdict(_eq("04000000", (nk, pers)))
    assert (v.coin, v.algo) == (coin, algo)


# --- KawPow: RavenCommunity/kawpow-stratum-pool lib/blockTemplate.js getJobParams
#     [job_id, header_hash, seedhash, target, true, height, bits], epoch = height // 7500

def _kp(height: Any, seed: Any) -> list[str]:
    return ['{"id":2,"result":[null,"81a2c3"],"error":null}\n',
            _notify(["2b1f", "9e" * 32, seed, "00000000ffff" + "0" * 52, True, height, "1b00f2a3"])]


def test_kawpow_rvn_height_and_matching_epoch() -> None:
    v = _verdict(_kp(3_456_789, _seed(3_456_789 // 7500)))
    assert (v.is_pool, v.protocol, v.coin, v.algo) == (True, "stratum1", "RVN", "kawpow")


def test_kawpow_seed_of_another_epoch_names_no_coin() -> None:
    v = _verdict(_kp(3_456_789, _seed(12)))
    assert (v.is_pool, v.coin, v.algo) == (True, None, "kawpow")


def test_kawpow_height_outside_rvn_window() -> None:
    v = _verdict(_kp(750_000, _seed(100)))  # e.g. a young KawPow chain
    assert (v.coin, v.algo) == (None, "kawpow")


# --- Ergo: oliverw/miningcore Blockchain/Ergo/ErgoJob.cs Init + ErgoPool.cs SendJob
#     [job_id, height, msg, "", "", blockVersion, target, "", clean]

def _ergo(height: Any, version: Any = 2) -> list[str]:
    return ['{"result":[[["mining.set_difficulty","0HMPJ2QKN3T7G"],["mining.notify","0HMPJ2QKN3T7G"]],"0a1b",6],"id":2}\n',
            _notify(["1", height, "5c" * 32, "", "", version, "1157920892373161954235709850086879078532699846656405640394", "", True])]


def test_ergo_height_window() -> None:
    v = _verdict(_ergo(1_250_000))
    assert (v.is_pool, v.protocol, v.coin, v.algo) == (True, "stratum1", "ERG", "autolykos2")


def test_ergo_layout_outside_window_gives_algo_only() -> None:
    v = _verdict(_ergo(100))
    assert (v.coin, v.algo) == (None, "autolykos2")


# --- Kaspa: onemorebsmith/kaspa-stratum-bridge src/kaspastratum/client_handler.go, hasher.go (+ stratum_test.go values)

KAS_SUB = '{"id":2,"jsonrpc":"2.0","result":[true,"EthereumStratum/1.0.0"],"error":null}\n'


@pytest.mark.parametrize("params", [
    ["7", [2769687437080476293, 2642455852654975590, 16370749824715673019, 15145064868898544117], 1662696346000],
    ["7", "853a0bb20ce86f2666da260099e3ab24bb4df7c83a9630e3f519f29a41142ed29abb1a6300000000"],
])
def test_kaspa_bridge_layouts(params: list[Any]) -> None:
    v = _verdict([KAS_SUB, '{"jsonrpc":"2.0","method":"set_extranonce","params":["0001"],"id":null}\n', _notify(params)])
    assert (v.is_pool, v.protocol, v.coin, v.algo) == (True, "ethstratum", "KAS", "kheavyhash")


# --- DGB / VTC: BIP34 height in coinb1 (Bitcoin layout)

def _coinb1(height: int) -> str:
    hb = height.to_bytes((height.bit_length() + 8) // 8, "little")
    script = bytes([len(hb)]) + hb + b"/poolscan-test/"
    return "01000000" + "01" + "00" * 32 + "ffffffff" + f"{len(script):02x}" + script.hex()


def _btc_job(height: int, version: str) -> list[str]:
    s1 = '{"id":2,"result":[[["mining.notify","ae6812eb"]],"08000002",4],"error":null}\n'
    return [s1, _notify(["1", "e4" * 32, _coinb1(height), "ffffffff0100000000000000000000000000", [], version,
                         "1a0b2c3d", "6920e612", True])]


@pytest.mark.parametrize("version,algo", [
    # DigiByte-Core/digibyte src/primitives/block.h BLOCK_VERSION_ALGO = 15 << 8
    ("20000002", "scrypt"), ("20000202", "sha256d"), ("20000402", "groestl"), ("20000602", "skein"),
    ("20000802", "qubit"), ("20000e02", "odo"), ("20000a02", None)])
def test_dgb_algo_from_version_bits(version: str, algo: str | None) -> None:
    v = _verdict(_btc_job(21_000_000, version))
    assert (v.coin, v.algo) == ("DGB", algo)


def test_vtc_below_ltc_window() -> None:
    v = _verdict(_btc_job(2_100_000, "20000000"))
    assert (v.coin, v.algo) == ("VTC", "verthash")


def test_vtc_ltc_overlap_names_neither() -> None:
    v = _verdict(_btc_job(2_900_000, "20000000"))
    assert (v.is_pool, v.coin, v.algo) == (True, None, None)


# --- ZEPH: ZephyrProtocol/zephyr src/hardforks/hardforks.cpp; rx/0 like XMR, heights below XMR's window

def _cn(height: int, algo: str = "rx/0") -> list[Transcript]:
    job = {"blob": "10" + "00" * 75, "job_id": "j1", "target": "b88d0600", "algo": algo, "height": height,
           "seed_hash": "aa" * 32}
    reply = json.dumps({"id": 1, "jsonrpc": "2.0", "error": None,
                        "result": {"id": "s1", "job": job, "status": "OK", "extensions": ["algo"]}}) + "\n"
    return _t([reply], probe="cryptonote", sends=(LOGIN,))


@pytest.mark.parametrize("height,coin", [(520_000, "ZEPH"), (3_300_000, "XMR"), (2_500_000, None)])
def test_rx0_height_windows(height: int, coin: str | None) -> None:
    v = classify(_cn(height), load_fingerprints())
    assert (v.is_pool, v.coin, v.algo) == (True, coin, "randomx")


# --- hostile params: never raise, never a coin

HOSTILE: list[Any] = [
    ["1", "04000000"],  # short
    ["1", "04000000", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", "1c0a1b2c"],  # 7 fields (no clean)
    ["1", "0400000g", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", "1c0a1b2c", True],  # non-hex version
    [None, "03000000", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", "1c0a1b2c", True],  # bad job id
    ["1", "9e" * 32, _seed(400), "00" * 32, True, 10**30, "1b00f2a3"],  # huge height
    ["1", "9e" * 32, _seed(400), "00" * 32, True, 3_000_000.0, "1b00f2a3"],  # float height
    ["1", "9e" * 32, _seed(400), "00" * 32, "yes", 3_000_000, "1b00f2a3"],  # clean not bool
    ["1", True, "5c" * 32, "", "", 2, "1", "", True],  # bool height
    ["1", -5, "5c" * 32, "", "", 2, "1", "", True],  # negative height
    ["1", 1_250_000, "5c" * 32, "x", "", 2, "1", "", True],  # non-empty filler
    ["1", 1_250_000, ["5c"], "", "", 2, "1", "", True],  # msg not a string
    ["7", [1, 2, 3], 1662696346000],  # 3 words
    ["7", [1, 2, 3, 2**64], 1662696346000],  # word over uint64
    ["7", [1, 2, 3, "4"], 1662696346000],
    ["7", "zz" * 40],
    ["7", "ab" * 41],
    {"job": 1},
    "notify",
    [[[[]]]],
    [],
]


@pytest.mark.parametrize("params", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_params_give_no_coin(params: Any) -> None:
    v = _verdict([EQ_SUB, _notify(params)])
    assert v.coin is None
    assert not any(e.startswith("classify.error") for e in v.evidence)


def test_alt_layout_facts_only_when_layout_matches() -> None:
    """Other transcripts pay nothing: no job.* fact without a matching job."""
    from scanner.fingerprint.observe import observe

    o = observe(_t([EQ_SUB])[0])
    assert not any(k.startswith("job.") for k in o.facts)
    o = observe(_t(_kp(3_000_000, _seed(400)))[0])
    assert o.facts["job.layout"] == "kawpow" and o.facts["job.seed_epoch"] == 400 and o.facts["job.height"] == 3_000_000
