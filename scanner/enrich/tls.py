"""Certificate names of TLS pool ports: subject, issuer, SANs, validity, SHA-256 fingerprint, and
the candidate pool domains they name.

Input is ``Transcript.tls_info`` as the transport records it (``scanner/transport``)::

    {"version", "cipher", "cert_der_b64", "subject_cn", "san": [...], "issuer",
     "not_before", "not_after", "sha256"}

``cert_der_b64`` (the peer's leaf certificate, DER, base64) is parsed with ``cryptography``
(``x509.load_der_x509_certificate``; RFC 5280 fields); when it is missing, the pre-digested
fields are used as given. Certificates of scanned hosts are never verified (self-signed is the
norm for pool TLS ports) — this is description, not trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from typing import Any, Iterable, Mapping

from cryptography import x509
from cryptography.x509.oid import NameOID

MAX_DER_B64 = 64 * 1024  # characters of base64 accepted (a real leaf certificate is 1-4 KiB)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
        return True
    except ValueError:
        return False


def domain_or_none(name: Any) -> str | None:
    """Return ``name`` as a candidate domain (lower case, no trailing dot) or None.

    Kept: syntactically valid host names with at least one dot (RFC 1123 labels, punycode
    ``xn--`` allowed); a wildcard ``*.`` as the whole leftmost label is kept as written — the
    asterisk is the mark. Dropped: IP addresses, single labels (``localhost``), anything with
    spaces, control characters, non-ASCII or empty labels.
    """
    if not isinstance(name, str):
        return None
    n = name.strip().lower().rstrip(".")
    if not n or len(n) > 253 or not n.isascii() or _is_ip(n):
        return None
    labels = n.split(".")
    if len(labels) < 2:
        return None
    body = labels[1:] if labels[0] == "*" else labels
    if len(body) < 2 or not all(_LABEL.match(lab) for lab in body):
        return None
    if body[-1].isdigit():  # a numeric TLD is an address fragment, not a name
        return None
    return n


def candidate_domains(names: Iterable[Any]) -> list[str]:
    """Distinct candidate domains from certificate names, in first-seen order (see
    :func:`domain_or_none` for what is kept)."""
    out: list[str] = []
    for name in names:
        d = domain_or_none(name)
        if d and d not in out:
            out.append(d)
    return out


def parse_der(der: bytes) -> dict[str, Any]:
    """Describe one DER certificate.

    Returns ``cert_subject``, ``cert_issuer`` (RFC 4514 strings), ``cert_sans`` (DNS names then IP
    addresses, as written), ``cert_not_before``/``cert_not_after`` (ISO 8601 UTC), ``cert_sha256``
    (hex of the DER), and ``_names`` (CN + DNS SANs, for :func:`candidate_domains`).
    Raises ``ValueError`` when the bytes are not a parsable certificate.
    """
    cert = x509.load_der_x509_certificate(der)
    out: dict[str, Any] = {"cert_sha256": hashlib.sha256(der).hexdigest()}
    names: list[str] = []
    try:
        out["cert_subject"] = cert.subject.rfc4514_string()
        for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            if isinstance(attr.value, str):
                names.append(attr.value)
    except ValueError:
        pass
    try:
        out["cert_issuer"] = cert.issuer.rfc4514_string()
    except ValueError:
        pass
    try:
        out["cert_not_before"] = cert.not_valid_before_utc.isoformat()
        out["cert_not_after"] = cert.not_valid_after_utc.isoformat()
    except (ValueError, OverflowError):
        pass
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [n for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
        out["cert_sans"] = dns + ips
        names += dns
    except x509.ExtensionNotFound:
        pass
    except ValueError:  # malformed extension: keep the rest
        pass
    out["_names"] = names
    return out


def cert_fields(tls_info: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Enrichment fields from one ``tls_info`` dict: ``(fields, errors)`` (``"cert: ..."`` lines).

    Uses ``cert_der_b64`` when present and parsable, otherwise the transport's own fields
    (``subject_cn``, ``san``, ``issuer``, ``not_before``, ``not_after``, ``sha256``).
    ``fields["domains"]`` holds the candidate domains.
    """
    errors: list[str] = []
    fields: dict[str, Any] = {}
    names: list[Any] = []
    b64 = tls_info.get("cert_der_b64")
    parsed = False
    if isinstance(b64, str) and b64:
        if len(b64) > MAX_DER_B64:
            errors.append(f"cert: certificate larger than {MAX_DER_B64} base64 characters, not parsed")
        else:
            try:
                der = base64.b64decode(b64, validate=False)
                info = parse_der(der)
                names = info.pop("_names")
                fields.update(info)
                parsed = True
            except (binascii.Error, ValueError, TypeError) as exc:
                errors.append(f"cert: unparsable certificate ({type(exc).__name__}: {str(exc)[:120]})")
    elif b64 is not None and not isinstance(b64, str):
        errors.append("cert: cert_der_b64 is not a string")
    if not parsed:
        cn = tls_info.get("subject_cn")
        if isinstance(cn, str) and cn:
            fields["cert_subject"] = "CN=" + cn
            names.append(cn)
        san = tls_info.get("san")
        if isinstance(san, (list, tuple)):
            sans = [s for s in san if isinstance(s, str)]
            if sans:
                fields["cert_sans"] = sans
                names += [s for s in sans if not _is_ip(s)]
        for src, dst in (("issuer", "cert_issuer"), ("not_before", "cert_not_before"),
                         ("not_after", "cert_not_after"), ("sha256", "cert_sha256")):
            v = tls_info.get(src)
            if isinstance(v, str) and v:
                fields[dst] = v
    domains = candidate_domains(names)
    if domains:
        fields["domains"] = domains
    return fields, errors


def from_result(result: Any) -> tuple[dict[str, Any], list[str]]:
    """Certificate fields of a ProbeResult: the first TLS transcript with a usable ``tls_info``
    gives the cert_* fields; ``domains`` is the union over every TLS transcript (a host may show
    different certificates on different probes). ``({}, [])`` when nothing ran in TLS."""
    fields: dict[str, Any] = {}
    errors: list[str] = []
    domains: list[str] = []
    for t in getattr(result, "transcripts", ()) or ():
        info = getattr(t, "tls_info", None)
        if not getattr(t, "tls", False) or not isinstance(info, Mapping):
            continue
        f, e = cert_fields(info)
        for d in f.pop("domains", []):
            if d not in domains:
                domains.append(d)
        if not any(k.startswith("cert_") for k in fields) and f:
            fields.update(f)
        for msg in e:
            if msg not in errors:
                errors.append(msg)
    if domains:
        fields["domains"] = domains
    return fields, errors
