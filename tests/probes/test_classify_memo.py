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


def test_memo_runs_the_rules_once_per_transcript(monkeypatch):
    """The engine re-classifies its growing list after every probe: with the memo each transcript's rules run
    once (Observation._hits), not once per re-classification; the verdicts stay the fresh ones."""
    fps = load_fingerprints()
    for stem in ("ckpool", "xmrig-proxy", "electrumx"):
        for r in _results(stem):
            ts = list(r.transcripts)
            fresh = [classify(ts[:k], fps) for k in range(1, len(ts) + 1)]
            runs: list[object] = []
            real = verdict_mod._observation_hits
            monkeypatch.setattr(verdict_mod, "_observation_hits",
                                lambda plan, o: runs.append(o) or real(plan, o))
            memo: dict = {}
            grown = [classify(ts[:k], fps, memo) for k in range(1, len(ts) + 1)]
            monkeypatch.setattr(verdict_mod, "_observation_hits", real)
            assert grown == fresh, stem
            silent = sum(1 for t in ts if not t.received)
            assert len(ts) - silent <= len(runs) <= len(ts)  # (silent ones may come from the plan's memo)
            assert len({id(o) for o in runs}) == len(runs)  # never the same observation twice
