"""Certificate fields and candidate domains from tls_info (real certificates made with cryptography)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scanner.enrich import EnrichOptions, enrich, tls

from .conftest import probe_result, run

NOT_BEFORE = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
NOT_AFTER = dt.datetime(2027, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def make_cert(cn: str = "stratum.pool.example", sans: list = ()) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Pool")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example CA")])
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(1234).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_der_certificate_fields_and_domains() -> None:
    der = make_cert(sans=[x509.DNSName("stratum.pool.example"), x509.DNSName("*.eu.pool.example"),
                          x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("10.77.0.5"))])
    fields, errors = tls.cert_fields({"version": "TLSv1.3", "cert_der_b64": base64.b64encode(der).decode()})
    assert errors == []
    assert fields == {
        "cert_sha256": hashlib.sha256(der).hexdigest(),
        "cert_subject": "O=Example Pool,CN=stratum.pool.example",
        "cert_issuer": "CN=Example CA",
        "cert_not_before": "2026-01-02T03:04:05+00:00",
        "cert_not_after": "2027-01-02T03:04:05+00:00",
        "cert_sans": ["stratum.pool.example", "*.eu.pool.example", "localhost", "10.77.0.5"],
        # CN and DNS SANs; the wildcard kept as written; IPs and single labels are not domains
        "domains": ["stratum.pool.example", "*.eu.pool.example"],
    }


def test_ip_common_name_is_not_a_domain() -> None:
    der = make_cert(cn="10.77.0.5")
    fields, errors = tls.cert_fields({"cert_der_b64": base64.b64encode(der).decode()})
    assert errors == [] and "domains" not in fields and fields["cert_subject"].endswith("CN=10.77.0.5")


@pytest.mark.parametrize("b64,why", [
    (base64.b64encode(b"\x30\x82\x01\x00garbage").decode(), "cert: unparsable certificate"),
    ("!!!not base64!!!", "cert: unparsable certificate"),
    ("A" * (tls.MAX_DER_B64 + 4), "cert: certificate larger than"),
])
def test_bad_certificates_are_errors_not_exceptions(b64: str, why: str) -> None:
    fields, errors = tls.cert_fields({"cert_der_b64": b64, "subject_cn": "fallback.pool.example"})
    assert len(errors) == 1 and errors[0].startswith(why)
    # the transport's own fields still give something
    assert fields == {"cert_subject": "CN=fallback.pool.example", "domains": ["fallback.pool.example"]}


def test_transport_fields_without_der() -> None:
    info = {"subject_cn": "pool.example.org", "san": ["pool.example.org", "192.0.2.7", "x.pool.example.org"],
            "issuer": "CN=R11,O=Let's Encrypt,C=US", "not_before": "2026-01-01T00:00:00+00:00",
            "not_after": "2026-04-01T00:00:00+00:00", "sha256": "ab" * 32}
    fields, errors = tls.cert_fields(info)
    assert errors == []
    assert fields == {"cert_subject": "CN=pool.example.org",
                      "cert_sans": ["pool.example.org", "192.0.2.7", "x.pool.example.org"],
                      "cert_issuer": "CN=R11,O=Let's Encrypt,C=US",
                      "cert_not_before": "2026-01-01T00:00:00+00:00",
                      "cert_not_after": "2026-04-01T00:00:00+00:00", "cert_sha256": "ab" * 32,
                      "domains": ["pool.example.org", "x.pool.example.org"]}


@pytest.mark.parametrize("name,expected", [
    ("Pool.Example.COM.", "pool.example.com"),
    ("*.pool.example", "*.pool.example"),
    ("*.example", None),  # a wildcard over a whole TLD names nothing
    ("a.*.example.com", None),
    ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
    ("localhost", None),
    ("10.0.0.1", None),
    ("::1", None),
    ("bad name.example.com", None),
    ("-bad.example.com", None),
    ("pool.exämple.com", None),
    ("1.2.3.4.5", None),
    ("a" * 64 + ".example.com", None),
    ("", None),
    (None, None),
    (42, None),
])
def test_domain_candidates(name, expected) -> None:
    assert tls.domain_or_none(name) == expected


def test_enrich_unions_domains_over_tls_transcripts() -> None:
    der = make_cert(cn="a.pool.example")
    r = probe_result(tls_info={"cert_der_b64": base64.b64encode(der).decode()})
    data = run(lambda: enrich(r, EnrichOptions(web=False)))
    assert data["domains"] == ["a.pool.example"]
    assert data["cert_sha256"] == hashlib.sha256(der).hexdigest()
    assert data["errors"] == []
    # a plaintext-only result has no cert fields and no errors
    assert run(lambda: enrich(probe_result(), EnrichOptions(web=False))) == {"errors": []}
