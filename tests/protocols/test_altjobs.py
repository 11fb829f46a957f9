"""scanner.protocols.altjobs: non-Bitcoin mining.notify layouts (sources in the module docstring)."""

from __future__ import annotations

from typing import Any

import pytest

from scanner.protocols import altjobs, ethstratum


def _seed(epoch: int) -> str:
    return {n: h for h, n in ethstratum._seed_table().items()}[epoch]


def test_equihash_zip301_fields() -> None:
    j = altjobs.parse_alt_notify(["7a", "04000000", "ab" * 32, "cd" * 32, "00" * 32, "5e8a9b00", "1c0a1b2c", True])
    assert j is not None and j.layout == altjobs.EQUIHASH
    assert (j.job_id, j.version, j.version_hex, j.nbits, j.reserved_zero) == ("7a", 4, "04000000", "1c0a1b2c", True)
    assert j.personalization is None


def test_equihash_snomp_extra_params() -> None:
    j = altjobs.parse_equihash_notify(["1", "03000000", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", "1c0a1b2c", True,
                                       "144_5", "BgoldPoW"])
    assert j is not None and (j.version, j.reserved_zero, j.nk, j.personalization) == (3, False, "144_5", "BgoldPoW")


def test_kawpow_epoch_from_seed_table() -> None:
    j = altjobs.parse_alt_notify(["2b", "0x" + "9e" * 32, _seed(461), "00" * 32, True, 3_460_000, "1b00f2a3"])
    assert j is not None and (j.layout, j.height, j.seed_epoch, j.nbits) == (altjobs.KAWPOW, 3_460_000, 461, "1b00f2a3")
    assert altjobs.kawpow_epoch(3_460_000) == 461


def test_ergo_and_kaspa() -> None:
    e = altjobs.parse_alt_notify(["1", 1_300_000, "5c" * 32, "", "", 2, "123", "", False])
    assert e is not None and (e.layout, e.height, e.version) == (altjobs.AUTOLYKOS, 1_300_000, 2)
    k = altjobs.parse_alt_notify(["7", "853a0bb20ce86f2666da260099e3ab24bb4df7c83a9630e3f519f29a41142ed29abb1a6300000000"])
    assert k is not None and (k.layout, k.timestamp) == (altjobs.KASPA, 1662696346)  # stratum_test.go vector
    k2 = altjobs.parse_alt_notify(["7", [1, 2, 3, 2**64 - 1], 1662696346000])
    assert k2 is not None and k2.timestamp == 1662696346000


def test_bitcoin_and_ethstratum_notifies_are_not_alt_layouts() -> None:
    btc = ["1", "e4" * 32, "01000000" + "01" + "00" * 32 + "ffffffff0403a1bb0d", "ffffffff", [], "20000000",
           "17023a04", "6920e612", True]
    eth = ["0x1", "0x" + "11" * 32, "0x" + "22" * 32, True]
    assert altjobs.parse_alt_notify(btc) is None
    assert altjobs.parse_alt_notify(eth) is None


@pytest.mark.parametrize("params", [
    None, 5, "x", {}, [], ["1"], ["1", None], ["1", 2**70, "5c" * 32, "", "", 2, "1", "", True],
    ["1", "04000000", "ab" * 32, "cd" * 32, "ef" * 32, "5e8a9b00", 7, True],
    ["1", "9e" * 32, "11" * 31, "00" * 32, True, 5, "1b00f2a3"],
    ["1", "9e" * 32, _seed(3), "00" * 32, True, True, "1b00f2a3"],
    ["7", [1, 2, 3, -1], 5], ["7", [1, 2, 3, 4], -5], ["7", "0" * 79],
])
def test_malformed_params_are_none(params: Any) -> None:
    assert altjobs.parse_alt_notify(params) is None


def test_version_algo_bits() -> None:
    assert altjobs.version_algo_bits("20000202", 0xF00) == 0x200
    assert altjobs.version_algo_bits("2000020", 0xF00) is None
    assert altjobs.version_algo_bits(None, 0xF00) is None
