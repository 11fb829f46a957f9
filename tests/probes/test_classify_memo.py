"""The engine re-classifies after every probe that ends; with a memo each transcript is observed once and the
verdict is the one a fresh classification gives (scanner/fingerprint/verdict.py classify(memo=))."""

import json
from pathlib import Path

from scanner.fingerprint import classify, load_fingerprints
from scanner.fingerprint import verdict as verdict_mod
from scanner.model import ProbeResult

REAL = Path(__file__).resolve().parents[1] / "transcripts" / "real"


def _results(stem: str) -> list[ProbeResult]:
    lines = (REAL / f"{stem}.jsonl").read_text().splitlines()[1:]
    return [ProbeResult.from_dict(json.loads(x)) for x in lines if x.strip()]


def test_memo_gives_the_fresh_verdict_and_observes_each_transcript_once(monkeypatch):
    fps = load_fingerprints()
    for stem in ("ckpool", "xmrig-proxy", "electrumx", "nginx-tls"):
        for r in _results(stem):
            ts = list(r.transcripts)
            fresh = [classify(ts[:k], fps) for k in range(1, len(ts) + 1)]
            calls: list[object] = []
            real_observe = verdict_mod.observe
            monkeypatch.setattr(verdict_mod, "observe", lambda t: calls.append(t) or real_observe(t))
            memo: dict = {}
            grown = [classify(ts[:k], fps, memo) for k in range(1, len(ts) + 1)]
            monkeypatch.setattr(verdict_mod, "observe", real_observe)
            assert grown == fresh, stem
            assert len(calls) == len(ts)  # not 1 + 2 + ... + n
            assert all(any(c is t for c in calls) for t in ts)
