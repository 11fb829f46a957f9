"""Fingerprinting: pure classification of recorded transcripts with declarative fingerprints.

Public API::

    from scanner.fingerprint import load_fingerprints, classify, is_confident
    fps = load_fingerprints()            # <repo>/fingerprints, cached; FingerprintError "file:line: msg"
    fps.version                          # short hash of the fingerprint set
    verdict = classify(transcripts, fps) # the transcripts of ONE ip:port -> scanner.model.Verdict
    is_confident(verdict)                # True when more probes cannot change the verdict much

Modules: :mod:`.loader` (YAML + JSON Schema validation), :mod:`.observe` (transcript -> messages + facts),
:mod:`.rules` (matcher engine), :mod:`.verdict` (hits -> Verdict). The rule format is documented in
``fingerprints/README.md``.
"""

from __future__ import annotations

from scanner.fingerprint.loader import FingerprintSet, Rule, load_fingerprints, load_uncached
from scanner.fingerprint.verdict import classify, is_confident

__all__ = ["FingerprintSet", "Rule", "classify", "is_confident", "load_fingerprints", "load_uncached"]
