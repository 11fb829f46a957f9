"""Coin height windows that follow the scan date (fingerprints/coins `clock`, scanner/fingerprint/verdict.py
height_window, fit_heights): the static `height` ranges decide which chains a height fits; where they leave
several (LTC and VTC share 2.4M-3.7M), each transcript's own started_at picks the dated windows of its day to
break the tie; without a usable time the tie stays (no coin). Heights below are realistic for their dates (anchors and arithmetic in the YAML
`clock` notes); hostile values never raise and give no coin."""

from __future__ import annotations

import calendar
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from scanner.fingerprint import classify, load_fingerprints
from scanner.fingerprint.observe import Observation
from scanner.fingerprint.verdict import coin_hits, height_window, scan_day, timed_window
from scanner.model import ProbeResult, Status, Transcript

REAL = Path(__file__).resolve().parents[1] / "transcripts" / "real"


def _ts(y: int, m: int, d: int) -> float:
    return float(calendar.timegm((y, m, d, 12, 0, 0)))


def _obs(facts: dict[str, Any], started_at: Any = 0.0) -> Observation:
    t = Transcript(ip="192.0.2.9", port=3333, probe="stratum1", status=Status.SUCCESS, started_at=0.0)
    # started_at is set past the dataclass' float annotation to feed hostile types through
    object.__setattr__(t, "started_at", started_at)
    return Observation(transcript=t, probe="stratum1", facts=dict(facts))


def _btc_job(h: Any, wc: bool = True) -> dict[str, Any]:
    return {"job.layout": "bitcoin", "job.height": h, "job.witness_commitment": wc}


def _coin(facts: dict[str, Any], started_at: Any) -> Any:
    fps = load_fingerprints()
    coins = {h.verdict.get("coin") for h in coin_hits([_obs(facts, started_at)], fps.coins)} - {None}
    assert len(coins) <= 1
    return next(iter(coins), None)


def _entry(coin: str, table: str = "bip34_heights") -> dict[str, Any]:
    return next(e for e in load_fingerprints().coins[table] if e["coin"] == coin)


# LTC: 150 s since genesis 2011-10-07, ~1.3-4% fast; VTC: 150 s since 2014-01-09, up to 8% slow.
@pytest.mark.parametrize("coin,height,date", [
    ("LTC", 2_700_000, (2024, 6, 1)),   # nominal 2,661,515 on that day
    ("LTC", 3_230_000, (2026, 11, 29)),  # nominal 3,186,251
    ("VTC", 2_150_000, (2024, 6, 1)),   # nominal 2,184,075
    ("VTC", 2_650_000, (2026, 11, 29)),  # nominal 2,710,660
])
def test_ltc_and_vtc_named_at_realistic_heights(coin: str, height: int, date: tuple[int, int, int]) -> None:
    assert _coin(_btc_job(height), _ts(*date)) == coin


def test_ltc_and_vtc_overlap_only_in_the_static_windows() -> None:
    # 2,500,000 with a witness commitment fits both static windows (no coin), but only LTC on 2023-08-01 and
    # only VTC on 2025-10-01
    assert _coin(_btc_job(2_500_000), 0) is None
    assert _coin(_btc_job(2_500_000), _ts(2023, 8, 1)) == "LTC"
    assert _coin(_btc_job(2_500_000), _ts(2025, 10, 1)) == "VTC"


def test_windows_of_same_algo_chains_never_overlap_2023_2030() -> None:
    """LTC/DOGE/VTC/DGB (scrypt/verthash/multi-algo BIP34 chains) and XMR/ZEPH stay apart on every day."""
    fps = load_fingerprints()
    bip34 = {e["coin"]: e for e in fps.coins["bip34_heights"]}
    cn = {e["coin"]: e for e in fps.coins["cryptonote_chains"]}
    first, last = scan_day(_ts(2023, 1, 1)), scan_day(_ts(2030, 12, 31))
    assert first is not None and last is not None
    pairs = [(bip34[a], bip34[b]) for a, b in (("LTC", "VTC"), ("LTC", "DOGE"), ("DOGE", "VTC"), ("DGB", "DOGE"),
                                                ("BTC", "VTC"))]
    pairs.append((cn["XMR"], cn["ZEPH"]))
    for day in range(first, last + 1, 7):
        for a, b in pairs:
            wa, wb = height_window(a, day), height_window(b, day)
            assert wa[1] < wb[0] or wb[1] < wa[0], (a["coin"], b["coin"], day, wa, wb)


def test_the_date_breaks_ties_only() -> None:
    """A height that only one chain's static window holds names it whatever the date (a stalled daemon or a
    replayed recording still names its chain); a height in two static windows names the one whose dated
    window holds it, and none when neither dated window does."""
    day = _ts(2026, 11, 29)
    lo, hi = height_window(_entry("BTC"), scan_day(day))
    mid = (lo + hi) // 2
    assert _coin(_btc_job(mid), day) == "BTC"
    assert _coin(_btc_job(round(mid * 0.95)), day) == "BTC"  # stale, but no other sha256d+segwit chain fits
    ltc_lo, ltc_hi = height_window(_entry("LTC"), scan_day(day))
    vtc_lo, vtc_hi = height_window(_entry("VTC"), scan_day(day))
    assert _coin(_btc_job((ltc_lo + ltc_hi) // 2), day) == "LTC"
    assert _coin(_btc_job((vtc_lo + vtc_hi) // 2), day) == "VTC"
    between = (vtc_hi + ltc_lo) // 2  # in both static windows, in neither dated one
    assert vtc_hi < between < ltc_lo
    assert _coin(_btc_job(between), day) is None
    assert _coin(_btc_job(round(ltc_hi * 1.05)), day) is None
    lo, hi = height_window(_entry("XMR", "cryptonote_chains"), scan_day(day))
    assert _coin({"cn.height": (lo + hi) // 2, "cn.seed_hash": True}, day) == "XMR"


def test_window_grows_with_distance_from_anchor() -> None:
    clock = _entry("BTC")["_clock"]
    near = timed_window(clock, scan_day(clock[1]))
    far = timed_window(clock, scan_day(clock[1] + 5 * 365 * 86400))
    assert near[0] <= clock[0] <= near[1]
    assert (far[1] - far[0]) > 5 * (near[1] - near[0])


@pytest.mark.parametrize("started_at", [0, 0.0, None, -5.0, float("nan"), float("inf"), "1764417600", True])
def test_no_usable_started_at_falls_back_to_static_windows(started_at: Any) -> None:
    assert scan_day(started_at) is None
    assert height_window(_entry("BTC"), scan_day(started_at)) == _entry("BTC")["height"]
    assert _coin(_btc_job(900_001), started_at) == "BTC"  # static BTC window [780000, 1150000]


def test_recording_classifies_by_its_own_date() -> None:
    """tests/transcripts/real/ckpool.jsonl (fake bitcoind at 900001, recorded 2026-11-29, when BTC's dated window
    is ~974k-984k): only BTC's static window holds 900001 with a witness commitment, so BTC, with or without
    the date, and the same on every run (the transcript's own started_at, never now())."""
    lines = [json.loads(x) for x in (REAL / "ckpool.jsonl").read_text().splitlines() if x.strip()]
    ts = [t for r in lines[1:] for t in ProbeResult.from_dict(r).transcripts]
    assert ts and all(t.started_at > 0 for t in ts)
    fps = load_fingerprints()
    dated = classify(ts, fps)
    assert dated.coin == "BTC" and dated.is_pool is True
    assert classify(ts, fps) == dated
    undated = classify([dataclasses.replace(t, started_at=0.0) for t in ts], fps)
    assert undated.coin == "BTC"
    assert any("coins.bip34-height: BIP34 height 900001 + witness commitment -> BTC" in e for e in undated.evidence)


@pytest.mark.parametrize("height", [-1, -2_500_000, 2**70, 10**30, 2_700_000.0, "2700000", None, True, [2_700_000]])
@pytest.mark.parametrize("started_at", [_ts(2024, 6, 1), 1.0, 86_400.0 * 365, _ts(2100, 1, 1), 1e300, -1e300])
def test_hostile_values_never_raise_and_give_no_coin(height: Any, started_at: Any) -> None:
    for facts in (_btc_job(height), {"cn.height": height, "cn.seed_hash": True},
                  {"job.layout": "autolykos", "job.height": height},
                  {"job.layout": "kawpow", "job.height": height, "job.seed_epoch": 0}):
        assert _coin(facts, started_at) is None, (facts, started_at)


@pytest.mark.parametrize("started_at", [1.0, 86_400.0 * 365, _ts(2100, 1, 1), 1e300])
def test_dates_far_from_any_chain_break_no_tie(started_at: float) -> None:
    """1970 is before every chain (empty windows); 2100 and beyond put every window far above today's heights:
    a height in LTC's and VTC's static windows stays undecided; heights only one chain fits keep their coin."""
    assert _coin(_btc_job(2_700_000), started_at) is None
    assert _coin(_btc_job(900_001), started_at) == "BTC"
    assert _coin(_btc_job(2_150_000), started_at) == "VTC"  # below LTC's static window
    day = scan_day(started_at)
    assert day is not None
    w = timed_window(_entry("LTC")["_clock"], day)
    assert w == (1, 0) or w[0] > 10_000_000 or w[1] < 0
    assert all(math.isfinite(x) for x in w)
