"""The Shodan favicon hash: mmh3 (MurmurHash3 x86_32, seed 0, signed) over base64 with a newline
every 76 characters and a trailing newline."""

from __future__ import annotations

import base64
import random

import mmh3
import pytest

from scanner.enrich.favicon import favicon_hash, same_origin_icon_url


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """Reference MurmurHash3_x86_32 (Austin Appleby's algorithm, written from its description),
    signed result, to check the mmh3 wheel independently."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[n:]
    k = 0
    if len(tail) == 3:
        k ^= tail[2] << 16
    if len(tail) >= 2:
        k ^= tail[1] << 8
    if len(tail) >= 1:
        k ^= tail[0]
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - 2**32 if h & 0x80000000 else h


def shodan_base64(raw: bytes) -> bytes:
    """The base64 Shodan hashes, built by hand: 76-character lines, '\\n' after each, '=' padding."""
    flat = base64.b64encode(raw)
    return b"".join(flat[i:i + 76] + b"\n" for i in range(0, len(flat), 76))


# Published vectors: mmh3's own test suite (hajimes/mmh3 tests/test_mmh3.py: hash("foo")) and Ian
# Boyd's MurmurHash3_x86_32 vectors (stackoverflow.com/a/31929528, quoted in the same suite).
@pytest.mark.parametrize("data,expected", [
    (b"foo", -156908512),
    (b"", 0),
    (b"\x21\x43\x65\x87", 0xF55B516B - 2**32),
    (b"\x21\x43\x65", 0x7E4A8634),
])
def test_mmh3_matches_published_vectors(data: bytes, expected: int) -> None:
    assert mmh3.hash(data) == expected
    assert murmur3_x86_32(data) == expected


def test_favicon_hash_is_mmh3_of_wrapped_base64() -> None:
    rng = random.Random(20261129)
    seen_negative = seen_positive = False
    for size in [0, 1, 2, 3, 56, 57, 58, 100, 1150, 4096] + [rng.randrange(1, 20000) for _ in range(20)]:
        raw = rng.randbytes(size)
        b64 = shodan_base64(raw)
        assert base64.encodebytes(raw) == b64
        h = favicon_hash(raw)
        assert h == murmur3_x86_32(b64)
        assert -(2**31) <= h < 2**31
        seen_negative |= h < 0
        seen_positive |= h > 0
    assert seen_negative and seen_positive  # signed output, as Shodan shows


def test_favicon_hash_fixed_values() -> None:
    # hand-checked with the reference implementation above (not with mmh3 alone)
    raw = bytes(range(256)) * 4  # 1024 bytes -> 1368 base64 chars in 18 lines + 18 newlines
    assert len(base64.encodebytes(raw)) == 1386
    assert favicon_hash(raw) == -1082603952 == murmur3_x86_32(shodan_base64(raw))
    # 57 bytes encode to exactly one 76-character line: one trailing newline, no empty line
    assert shodan_base64(b"\x00" * 57) == b"A" * 76 + b"\n"
    assert favicon_hash(b"\x00" * 57) == 1993561383 == murmur3_x86_32(b"A" * 76 + b"\n")
    # the unwrapped base64 gives another value: the newlines matter
    assert mmh3.hash(base64.b64encode(raw)) != favicon_hash(raw)


@pytest.mark.parametrize("page,href,url,note", [
    ("http://10.77.0.5:80/", None, "http://10.77.0.5:80/favicon.ico", None),
    ("http://10.77.0.5:80/", "/static/favicon.png", "http://10.77.0.5:80/static/favicon.png", None),
    ("http://10.77.0.5:8117/", "img/i.ico", "http://10.77.0.5:8117/img/i.ico", None),
    ("http://10.77.0.5/", "http://10.77.0.5:80/x.ico", "http://10.77.0.5:80/x.ico", None),
    ("http://10.77.0.5:80/", "http://evil.example/x.ico", "http://10.77.0.5:80/favicon.ico",
     "icon link points off-host, not fetched"),
    ("http://10.77.0.5:80/", "//cdn.example/x.ico", "http://10.77.0.5:80/favicon.ico",
     "icon link points off-host, not fetched"),
    ("http://10.77.0.5:80/", "http://10.77.0.6:80/x.ico", "http://10.77.0.5:80/favicon.ico",
     "icon link points off-host, not fetched"),
    ("http://10.77.0.5:80/", "http://10.77.0.5:81/x.ico", "http://10.77.0.5:80/favicon.ico",
     "icon link points off-host, not fetched"),
    ("http://10.77.0.5:80/", "https://10.77.0.5:80/x.ico", "http://10.77.0.5:80/favicon.ico",
     "icon link points off-host, not fetched"),
    ("http://10.77.0.5:80/", "data:image/png;base64,AAAA", "http://10.77.0.5:80/favicon.ico",
     "inline data: icon not hashed"),
    ("http://10.77.0.5:80/", "http://[::1:bad/x", "http://10.77.0.5:80/favicon.ico",
     "unparsable icon link"),
    ("http://[::1]:8080/", "/f.ico", "http://[::1]:8080/f.ico", None),
])
def test_icon_url_stays_on_the_scanned_host(page, href, url, note) -> None:
    got_url, got_note = same_origin_icon_url(page, href)
    assert got_url == url
    if note == "unparsable icon link":
        assert got_note in (note, "icon link points off-host, not fetched")
    else:
        assert got_note == note
