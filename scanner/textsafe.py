"""Make untrusted text (banners, evidence quoting peer bytes) safe to print to a terminal or a log.

Peers may send terminal escape sequences, control characters, bidi overrides or megabytes of text. Before
anything from a peer reaches a terminal, it goes through :func:`safe_text`: control and format characters are
shown as ``\\xNN``/``\\uNNNN`` escapes, and the length is capped.
"""

from __future__ import annotations

import unicodedata


def safe_text(value: object, max_len: int = 200) -> str:
    """``value`` as printable text: C0/C1 controls, DEL and Unicode format characters (bidi overrides, zero
    width) escaped, at most ``max_len`` characters (an ellipsis marks a cut). Bytes are decoded as UTF-8 with
    invalid sequences escaped."""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "backslashreplace")
    else:
        text = str(value)
    out: list[str] = []
    n = 0
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t" or (cat[0] != "C" and cat not in ("Zl", "Zp")):
            piece = ch
        else:
            cp = ord(ch)
            piece = f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"
        if n + len(piece) > max_len:
            out.append("…")
            break
        out.append(piece)
        n += len(piece)
    return "".join(out)
