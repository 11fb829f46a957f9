"""Regression tests from differential fuzzing of the classifier's fast paths (issue 8) against the code they
replaced (commit c03ee57): two inputs on which the fast paths gave something other than the general definitions.

* observe's one-pass reply index appended each reply to the ``any`` list twice when one of poolscan's requests
  had the method ``any`` (the ``any`` index and the list of Responses are one list), so ``error_codes`` and
  ``error_texts`` repeated that reply's error. The reference: every Response counted once.
* the banner prefilter joins the patterns anchored at the start into one alternation; a numeric conditional
  ``(?(1)yes|no)`` in a later pattern then names a group of an earlier one, so the alternation can miss a text
  the pattern itself matches (``_BACKREF`` catches ``\\1`` and ``(?P=name)`` only). The reference:
  :func:`scanner.fingerprint.rules.holds` on the rule's own regex.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from scanner.fingerprint import classify
from scanner.fingerprint.loader import load_uncached
from scanner.fingerprint.observe import observe
from scanner.fingerprint.rules import match_all
from scanner.model import Exchange, Status, Transcript

FINGERPRINTS = Path(__file__).resolve().parents[2] / "fingerprints"


def _transcript(sends: list[bytes], recv: bytes, probe: str = "stratum1") -> Transcript:
    ex = tuple(Exchange(0.0, "send", d) for d in sends) + (Exchange(0.01, "recv", recv),)
    return Transcript(ip="127.0.0.1", port=3333, probe=probe, status=Status.SUCCESS, exchanges=ex)


def test_a_request_named_any_does_not_count_its_reply_twice():
    t = _transcript([b'{"id":1,"method":"any","params":[]}\n'],
                    b'{"id":1,"result":null,"error":[20,"Other/Unknown",null]}\n')
    o = observe(t)
    assert o.facts["answered.any"] is True
    assert o.facts["error_codes"] == "20"
    assert o.facts["error_texts"] == "Other/Unknown"


def test_a_request_named_any_with_a_general_id_does_not_count_its_reply_twice():
    # a float id: the general same_id matching (no str(id) index)
    t = _transcript([b'{"id":1.5,"method":"any","params":[]}\n', b'{"id":2,"method":"mining.subscribe","params":[]}\n'],
                    b'{"id":1.5,"result":null,"error":{"code":-1,"message":"bad"}}\n{"id":2,"result":true,"error":"x"}\n')
    o = observe(t)
    assert o.facts["error_codes"] == "-1"
    assert o.facts["error_texts"] == "bad|x"


_COND_RULES = {
    "id": "zcond",
    "kind": "nonpool",
    "info": {"name": "banner rules with groups (fast path test)", "references": [{"source": "test"}]},
    "rules": [
        {"id": "zcond.grouped", "probe": "any", "when": [{"fact": "text", "regex": "^(q)"}],
         "verdict": {"is_pool": False, "label": "zcond-grouped"}, "confidence": 0.97, "evidence": "saw {0}",
         "source": "test", "examples": ["synthetic:ssh"]},
        {"id": "zcond.conditional", "probe": "any", "when": [{"fact": "text", "regex": "^(?:x|(y))(?(1)z|w)"}],
         "verdict": {"is_pool": False, "label": "zcond-conditional"}, "confidence": 0.97, "evidence": "saw {0}",
         "source": "test", "examples": ["synthetic:ssh"]},
    ],
}


def test_banner_prefilter_keeps_a_numeric_conditional_group_of_a_later_pattern(tmp_path):
    root = tmp_path / "fingerprints"
    shutil.copytree(FINGERPRINTS, root)
    (root / "nonpools" / "zcond.yaml").write_text(json.dumps(_COND_RULES), encoding="utf-8")
    fps = load_uncached(root)
    rule = next(r for r in fps.rules if r.id == "zcond.conditional")
    for text, label in ((b"yz", "zcond-conditional"), (b"xw", "zcond-conditional"), (b"qq", "zcond-grouped")):
        t = _transcript([b"GET / HTTP/1.1\r\n\r\n"], text, probe="http")
        # the reference: the rule's own regex, evaluated by the interpreter
        assert (match_all(list(rule.when), observe(t)) is not None) == (label == "zcond-conditional")
        assert re.search(r"^(?:x|(y))(?(1)z|w)", text.decode()) or label != "zcond-conditional"
        v = classify([t], fps)
        assert v.label == label, (text, v)
