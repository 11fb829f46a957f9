"""Stratum V2 handshake recognition, sans-IO.

An SV2 responder waits for the initiator's Noise NX act 1 (64 bytes, an ElligatorSwift-encoded ephemeral
key) and answers act 2: 64-byte ephemeral key + 80-byte encrypted static key + 90-byte encrypted signature
noise message = **234 bytes** (stratum-mining/stratum ``sv2/noise-sv2/src/lib.rs``
``INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE``; ``../shared/reference/protocols.md`` §4 - the spec prose says
170, the implementation 234). The old Braiins scheme (Noise_NX_25519_ChaChaPoly_BLAKE2s) answered
32 + 48 + encrypted certificate (case C29 notes). Anything JSON-shaped or printable is not SV2.
"""

from __future__ import annotations

import math
from collections import Counter

ACT1_SIZE = 64  # bytes the initiator sends
ACT2_SIZE = 234  # bytes an SRI responder answers


def entropy_bits_per_byte(data: bytes) -> float:
    """Shannon entropy of ``data`` in bits per byte (0..8); 0 for empty input."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


def looks_printable(data: bytes) -> bool:
    """True when most bytes are printable ASCII or whitespace (HTTP, JSON, banners)."""
    if not data:
        return False
    p = sum(1 for b in data if 32 <= b < 127 or b in (9, 10, 13))
    return p / len(data) > 0.9


def is_act2(reply: bytes) -> bool:
    """True when ``reply`` (everything received after act 1) is exactly an SV2 act-2 message: 234 bytes of
    high-entropy binary (not JSON, not text). The first byte is not looked at on its own: act 2 is
    ciphertext, and 1 draw in 256 starts with ``{`` (JSON and text are caught by their printable bytes)."""
    return len(reply) == ACT2_SIZE and not looks_printable(reply) and entropy_bits_per_byte(reply) > 6.5
