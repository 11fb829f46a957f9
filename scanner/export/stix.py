"""STIX 2.1 bundle of mining pools (the ``stix2`` library, OASIS STIX 2.1 spec).

Per pool (ids are UUIDv5 of the endpoint, so a re-export updates the same objects in a TIP; SCO ids are
the spec's deterministic ids, computed by ``stix2``):

* ``ipv4-addr``/``ipv6-addr`` SCO (``belongs_to_refs`` -> ``autonomous-system`` when the ASN is known),
  ``domain-name`` SCOs for valid DNS names found by enrichment (``resolves_to_refs`` -> the address),
  a ``network-traffic`` SCO (dst_ref = the address, dst_port, protocols ipv4|ipv6 + tcp), an
  ``x509-certificate`` SCO (hashes SHA-256) when the TLS certificate hash is known;
* ``observed-data`` (first_observed = first_seen, last_observed = last_seen, number_observed = seen_count)
  referring to those SCOs;
* ``infrastructure`` "mining pool ip:port (...)": infrastructure_types ``["unknown"]`` (the STIX 2.1
  vocabulary has no mining-pool value, per ``stix2/v21/vocab.py``; the label ``mining-pool`` says it),
  first_seen/last_seen, ``consists-of`` relationships to the SCOs, ``located-at`` a ``location`` with the
  country code when known;
* ``indicator`` with pattern ``[network-traffic:dst_ref.type = 'ipv4-addr' AND
  network-traffic:dst_ref.value = 'IP' AND network-traffic:dst_port = PORT]`` (``OR [domain-name:value =
  'NAME']`` per known name), valid_from = first_seen, valid_until = last_seen + ``valid_days``, confidence
  0..100, labels ``mining-pool``, ``protocol:…``, ``software:…``, ``coin:…``, ``algo:…``, ``tls``;
  relationships ``indicates`` -> infrastructure and ``based-on`` -> observed-data.

Every SDO/SRO has ``created_by_ref`` = the poolscan ``identity`` (identity_class ``system``).
Untrusted text is cleaned (:func:`scanner.export.common.clean`); only validated IPs and DNS names reach a
pattern, so a pattern is always well-formed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Iterable

import stix2

from scanner.export.common import (cert_sha256, clean, confidence_100, endpoint, ip_of, pool_domains,
                                   port_of, summary)

#: Namespace of poolscan's UUIDv5 STIX ids (uuid5(NAMESPACE_URL, "https://poolscan.invalid/stix")).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://poolscan.invalid/stix")
_EPOCH = "2026-01-01T00:00:00.000Z"


def stable_uuid(name: str) -> uuid.UUID:
    """A deterministic UUID in the version-4 layout: the 128 bits of UUIDv5(NAMESPACE, name) with the
    version/variant bits of v4. The STIX 2.1 spec (2.9 Identifier) says SDO/SRO ids SHOULD be UUIDv4 and
    stix2-validator warns otherwise (check 103); a hash-derived v4 keeps ids stable across exports so a
    TIP updates the same object (newer ``modified``) instead of piling up copies."""
    return uuid.UUID(bytes=uuid.uuid5(NAMESPACE, name).bytes, version=4)


def _sid(kind: str, *parts: object) -> str:
    return f"{kind}--{stable_uuid(kind + ':' + '|'.join(str(p) for p in parts))}"


IDENTITY = stix2.Identity(
    id=_sid("identity", "poolscan"), name="poolscan", identity_class="system",
    description="poolscan: active discovery of cryptocurrency mining pools (sweep, probe, fingerprint).",
    created=_EPOCH, modified=_EPOCH,
)


def _ts(value: object) -> datetime:
    text = str(value or _EPOCH)
    dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def labels(pool: dict) -> list[str]:
    """``mining-pool`` plus ``protocol:x``, ``software:x``, ``coin:x``, ``algo:x`` (cleaned, known parts
    only) and ``tls`` when the pool speaks TLS."""
    out = ["mining-pool"]
    for key in ("protocol", "software", "coin", "algo"):
        if pool.get(key):
            out.append(f"{key}:{clean(pool[key], 64)}")
    if pool.get("tls"):
        out.append("tls")
    return out


def pattern(pool: dict) -> str:
    """The STIX pattern of a pool endpoint (and its DNS names). Raises ``ValueError`` on a bad ip/port."""
    ip = ip_of(pool)
    kind = "ipv6-addr" if ip.version == 6 else "ipv4-addr"
    parts = [f"[network-traffic:dst_ref.type = '{kind}' AND network-traffic:dst_ref.value = "
             f"'{ip.compressed}' AND network-traffic:dst_port = {port_of(pool)}]"]
    parts += [f"[domain-name:value = '{d}']" for d in pool_domains(pool)]
    return " OR ".join(parts)


def pool_objects(pool: dict, valid_days: int = 30, indicator_type: str = "anomalous-activity") -> list:
    """The STIX objects of one pool dict (a ``Store.pools()`` row), identity not included.

    Raises ``ValueError`` when the pool's ip or port is invalid.
    """
    ip = ip_of(pool)
    port = port_of(pool)
    ep = endpoint(pool)
    first, last = _ts(pool.get("first_seen")), _ts(pool.get("last_seen"))
    last = max(first, last)
    lab = labels(pool)
    conf = confidence_100(pool)
    by = IDENTITY.id
    objs: list = []

    asn = pool.get("asn")
    as_obj = None
    if isinstance(asn, int) and 0 <= asn <= 4294967295:
        kw = {"name": clean(pool.get("as_org"), 200)} if pool.get("as_org") else {}
        as_obj = stix2.AutonomousSystem(number=asn, **kw)
        objs.append(as_obj)
    addr_cls = stix2.IPv6Address if ip.version == 6 else stix2.IPv4Address
    addr = addr_cls(value=ip.compressed, **({"belongs_to_refs": [as_obj.id]} if as_obj else {}))
    objs.append(addr)
    domains = [stix2.DomainName(value=d, resolves_to_refs=[addr.id]) for d in pool_domains(pool)]
    objs += domains
    traffic = stix2.NetworkTraffic(dst_ref=addr.id, dst_port=port,
                                   protocols=["ipv6" if ip.version == 6 else "ipv4", "tcp"])
    objs.append(traffic)
    cert = None
    if cert_sha256(pool):
        cert = stix2.X509Certificate(hashes={"SHA-256": cert_sha256(pool)})
        objs.append(cert)

    evidence = [clean(e, 300) for e in (pool.get("evidence") or [])][:20]
    desc_lines = [f"Mining pool endpoint {ep} found by active probing: {summary(pool)}."]
    if pool.get("label"):
        desc_lines.append(f"Label: {clean(pool['label'], 100)}.")
    if pool.get("country") or pool.get("as_org"):
        desc_lines.append(f"Network: AS{pool.get('asn') or '?'} {clean(pool.get('as_org'), 200)} "
                          f"{clean(pool.get('country'), 8)}".rstrip() + ".")
    if evidence:
        desc_lines.append("Evidence: " + "; ".join(evidence))
    description = "\n".join(desc_lines)

    observed = stix2.ObservedData(
        id=_sid("observed-data", ep), created_by_ref=by, created=first, modified=last,
        first_observed=first, last_observed=last,
        number_observed=max(1, min(999_999_999, int(pool.get("seen_count") or 1))),
        object_refs=[traffic.id, addr.id] + [d.id for d in domains], confidence=conf)
    objs.append(observed)
    infra = stix2.Infrastructure(
        id=_sid("infrastructure", ep), created_by_ref=by, created=first, modified=last,
        name=f"mining pool {ep} ({summary(pool)})", description=description,
        infrastructure_types=["unknown"], first_seen=first, last_seen=last, labels=lab, confidence=conf)
    objs.append(infra)
    indicator = stix2.Indicator(
        id=_sid("indicator", ep), created_by_ref=by, created=first, modified=last,
        name=f"mining pool {ep}", description=description, indicator_types=[indicator_type],
        pattern=pattern(pool), pattern_type="stix", valid_from=first,
        valid_until=last + timedelta(days=max(1, int(valid_days))), labels=lab, confidence=conf)
    objs.append(indicator)

    def rel(src, kind: str, dst) -> stix2.Relationship:
        return stix2.Relationship(id=_sid("relationship", src.id, kind, dst.id), created_by_ref=by,
                                  created=first, modified=last, source_ref=src.id, relationship_type=kind,
                                  target_ref=dst.id)

    objs.append(rel(indicator, "indicates", infra))
    objs.append(rel(indicator, "based-on", observed))
    for sco in [addr, traffic] + domains + ([cert] if cert else []):
        objs.append(rel(infra, "consists-of", sco))
    country = str(pool.get("country") or "").strip().upper()
    if len(country) == 2 and country.isascii() and country.isalpha():
        loc = stix2.Location(id=_sid("location", country), created_by_ref=by, created=_EPOCH,
                             modified=_EPOCH, name=country, country=country)
        objs.append(loc)
        objs.append(rel(infra, "located-at", loc))
    return objs


def build_bundle(pools: Iterable[dict], valid_days: int = 30,
                 indicator_type: str = "anomalous-activity") -> stix2.Bundle:
    """A STIX 2.1 bundle of all pools (identity first; shared SCOs and locations once).

    Pools whose ip or port is not valid are left out (they cannot be expressed as an indicator).
    ``indicator_type`` is a STIX indicator-type vocabulary value (default ``anomalous-activity``: a pool
    is not malicious itself, connecting to one from a managed network is the anomaly).
    """
    seen: dict[str, object] = {IDENTITY.id: IDENTITY}
    for pool in pools:
        try:
            objs = pool_objects(pool, valid_days=valid_days, indicator_type=indicator_type)
        except (ValueError, TypeError):
            continue
        for o in objs:
            seen.setdefault(o.id, o)
    return stix2.Bundle(objects=list(seen.values()))


def render(pools: Iterable[dict], valid_days: int = 30, indicator_type: str = "anomalous-activity") -> str:
    """The STIX 2.1 bundle as pretty JSON text (see :func:`build_bundle`)."""
    return build_bundle(pools, valid_days=valid_days, indicator_type=indicator_type).serialize(pretty=True) + "\n"
