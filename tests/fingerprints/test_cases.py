"""The cases of ../shared/cases (positive/negative) classified from their own bytes, against
tests/cases/expected.yaml."""

from __future__ import annotations

import pytest
import yaml

import fpdata
from scanner.fingerprint import classify, is_confident, load_fingerprints

EXPECTED = yaml.safe_load(fpdata.EXPECTED.read_text())
FIELDS = ("is_pool", "protocol", "software", "coin", "algo", "label")


def test_expected_covers_every_positive_and_negative_case() -> None:
    kinds = {cid: c["kind"] for cid, c in fpdata.cases().items()}
    assert set(EXPECTED) == {cid for cid, k in kinds.items() if k in ("positive", "negative")}
    for cid, e in EXPECTED.items():
        assert e["is_pool"] is (kinds[cid] == "positive"), cid


@pytest.mark.parametrize("case_id", sorted(EXPECTED))
def test_case_verdict(case_id: str) -> None:
    want = EXPECTED[case_id]
    v = classify(fpdata.case_transcripts(case_id), load_fingerprints())
    got = {k: getattr(v, k) for k in FIELDS if k in want}
    assert got == {k: want[k] for k in FIELDS if k in want}, v.evidence
    assert v.evidence, "a verdict names its evidence"
    assert 0 < v.confidence <= 1
    assert v.fingerprints_version == load_fingerprints().version
    if want["is_pool"] is False:
        assert v.protocol is None and v.software is None


def test_evidence_names_rule_and_value() -> None:
    v = classify(fpdata.transcript_ref("nomp.jsonl#P1@3008"), load_fingerprints())
    assert "nomp.subscription-id: subscription id deadbeefcafebabe0100000000000000 (stratum1)" in v.evidence


def test_confident_verdicts() -> None:
    fps = load_fingerprints()
    assert is_confident(classify(fpdata.case_transcripts("C08"), fps))  # ckpool by coinbase tag
    assert is_confident(classify(fpdata.case_transcripts("C30"), fps))  # electrum
    assert not is_confident(classify(fpdata.case_transcripts("C15"), fps))  # pool, software unknown
    assert not is_confident(classify(fpdata.SYNTHETIC["tarpit"], fps))
    assert not is_confident(classify(fpdata.SYNTHETIC["nginx"], fps))


def test_reply_split_across_reads_and_no_final_newline() -> None:
    """C08's notify arrives in two reads; C01's replies come without newlines (back to back)."""
    fps = load_fingerprints()
    v8 = classify(fpdata.case_transcripts("C08"), fps)
    assert v8.software == "ckpool" and any(e.startswith("ckpool.coinbase-tag") for e in v8.evidence)
    v1 = classify(fpdata.case_transcripts("C01"), fps)
    assert any(e.startswith("nicehash.subscribe-shape") for e in v1.evidence)


def test_string_id_for_integer_request() -> None:
    v = classify(fpdata.case_transcripts("C10"), load_fingerprints())
    assert any(e.startswith("sri-translator.string-id") for e in v.evidence)
