"""Favicon hash computed the way Shodan does, so it can be searched for elsewhere
(``http.favicon.hash:<n>`` on Shodan; the same value on other engines that copied the recipe).

Recipe: MurmurHash3 x86_32, seed 0, **signed** 32-bit result, over the favicon's bytes encoded as
base64 *with a newline every 76 characters and a trailing newline* (``base64.encodebytes``).
Sources: blog.shodan.io "Deep Dive: http.favicon" (``data`` is the base64 with ``\\n`` every 76
characters, ``hash`` is the MurmurHash3 of ``data``); hdm.io on the canonical Python ``mmh3``
implementation and the 76-character wrap; mmh3 5.x ``hash(key, seed=0, signed=True)``
(MurmurHash3_x86_32); CPython ``Lib/base64.py`` ``MAXLINESIZE = 76``. See
../shared/reference/anchors.md §5.
"""

from __future__ import annotations

import base64
import ipaddress
from urllib.parse import urljoin, urlsplit

import mmh3


def favicon_hash(raw: bytes) -> int:
    """Shodan-compatible favicon hash of the raw image bytes: a signed 32-bit int."""
    return mmh3.hash(base64.encodebytes(bytes(raw)), 0, signed=True)


def _host_port(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    host = parts.hostname
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host.lower()
    return host, port


def same_origin_icon_url(page_url: str, href: str | None) -> tuple[str, str | None]:
    """Where to read the favicon of ``page_url``.

    Returns ``(url, note)``: the ``<link rel=icon href>`` resolved against the page when it stays
    on the same host and port (so poolscan never contacts a host it was not asked to scan); else
    ``/favicon.ico`` on the page's origin, with ``note`` saying why the link was not used.
    """
    default = urljoin(page_url, "/favicon.ico")
    if not href:
        return default, None
    href = href.strip()
    if href.lower().startswith("data:"):
        return default, "inline data: icon not hashed"
    try:
        target = urljoin(page_url, href)
    except ValueError:
        return default, "unparsable icon link"
    a, b = _host_port(page_url), _host_port(target)
    if a is None or b is None or a != b or urlsplit(target).scheme != urlsplit(page_url).scheme:
        return default, "icon link points off-host, not fetched"
    return target, None
