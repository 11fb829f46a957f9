"""The real probe engine against every case persona: the verdict must be the one in tests/cases/expected.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

EXPECTED = yaml.safe_load((Path(__file__).resolve().parents[1] / "cases" / "expected.yaml").read_text())
FIELDS = ("is_pool", "protocol", "software", "coin", "algo", "label")


@pytest.mark.parametrize("cid", sorted(EXPECTED))
def test_case_verdict(replay, cid):
    want = EXPECTED[cid]
    result = replay(f"case-{cid}")
    v = result.verdict
    got = {k: getattr(v, k) for k in FIELDS}
    assert got == {k: want.get(k) for k in FIELDS}, f"{cid}: evidence {list(v.evidence)}"
    if want.get("tls"):
        assert result.tls, f"{cid}: the verdict needs the TLS dialogue"
        assert any(t.tls and t.tls_info and t.tls_info.get("subject_cn") == "pool.example.test"
                   for t in result.transcripts)
