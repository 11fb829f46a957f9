"""Every rule matches its examples and none of its near misses; no example is claimed by two rules that
name different software (style.md §4.4)."""

from __future__ import annotations

import pytest

import fpdata
from scanner.fingerprint import load_fingerprints
from scanner.fingerprint.observe import observe
from scanner.fingerprint.verdict import rule_hits

FPS = load_fingerprints()
RULES = {r.id: r for r in FPS.rules}


def _obs(ref: str):
    return [observe(t) for t in fpdata.resolve(ref)]


@pytest.mark.parametrize("rule_id,ref", [(r.id, e) for r in FPS.rules for e in r.examples])
def test_rule_matches_example(rule_id: str, ref: str) -> None:
    hits = rule_hits(RULES[rule_id], _obs(ref))
    assert hits, f"{rule_id} does not match its example {ref}"
    assert hits[0].evidence.startswith(f"{rule_id}: ")


@pytest.mark.parametrize("rule_id,ref", [(r.id, e) for r in FPS.rules for e in r.near_misses])
def test_rule_rejects_near_miss(rule_id: str, ref: str) -> None:
    hits = rule_hits(RULES[rule_id], _obs(ref))
    assert not hits, f"{rule_id} matches its near miss {ref}: {hits[0].evidence}"


def test_no_example_claimed_by_two_softwares() -> None:
    refs = {e for r in FPS.rules for e in r.examples}
    for ref in sorted(refs):
        obs = _obs(ref)
        softwares = {r.verdict["software"] for r in FPS.rules if "software" in r.verdict and rule_hits(r, obs)}
        assert len(softwares) <= 1, f"{ref} is claimed by {sorted(softwares)}"


def test_coverage_report_lists_families_without_recordings(capsys: pytest.CaptureFixture[str]) -> None:
    """Which software families rest only on synthetic examples (no recorded transcript, no case)."""
    only_synth = sorted({r.verdict["software"] for r in FPS.rules if "software" in r.verdict}
                        - {r.verdict["software"] for r in FPS.rules if "software" in r.verdict
                           and any(not e.startswith("synthetic:") for e in r.examples)})
    print("software without recorded examples:", ", ".join(only_synth) or "none")
    # yiimp and moneroocean have no public transcript yet; everything else is backed by real data.
    assert set(only_synth) <= {"yiimp", "moneroocean", "stratum-mining"}
