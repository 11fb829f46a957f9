"""A MISP event of mining pools (PyMISP, offline: no MISP server needed).

Shape (MISP object templates from the misp-objects copy bundled with PyMISP,
``pymisp/data/misp-objects/objects/{ip-port,domain-ip}/definition.json``):

* one ``ip-port`` object per pool: ``ip-dst`` (to_ids), ``dst-port``, ``protocol`` "tcp", ``domain`` for
  each valid DNS name, ``AS``, ``country-code``, ``first-seen``/``last-seen``, ``text`` (what poolscan saw);
  the object's own ``first_seen``/``last_seen`` are set too, and its comment is the one-line summary;
* one ``domain-ip`` object per pool with known DNS names (``domain``, ``ip``, ``port``);
* one ``x509`` object (``x509-fingerprint-sha256``, ``dns_names``) when the certificate hash is known;
* event tags from public taxonomies (MISP/misp-taxonomies): ``circl:incident-classification=
  "cryptojacking"`` (circl/machinetag.json), ``sentinel-threattype:CryptoMining``
  (sentinel-threattype/machinetag.json), the MITRE ATT&CK galaxy ``Resource Hijacking - T1496``, a TLP
  tag; per-pool attribute tags ``poolscan:protocol="…"``, ``poolscan:software="…"``, ``poolscan:coin="…"``,
  ``poolscan:algo="…"`` (cleaned, quotes replaced).

Ids are deterministic: the event uuid is a UUIDv5 of the sorted endpoint list (same pools -> same event),
object/attribute uuids derive from the event uuid and the endpoint (unique per event, as MISP requires).
The event ``timestamp`` is the newest ``last_seen``, so a re-export with new sightings is newer for MISP.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Iterable

from pymisp import MISPEvent, MISPObject, MISPOrganisation

from scanner.export.common import (cert_sha256, clean, confidence_100, endpoint, ip_of, pool_domains,
                                   port_of, summary)

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://poolscan.invalid/misp")
#: The organisation that creates poolscan's events (Orgc).
ORG_NAME = "poolscan"
ORG_UUID = str(uuid.uuid5(NAMESPACE, "org:poolscan"))

EVENT_TAGS = (
    'circl:incident-classification="cryptojacking"',
    "sentinel-threattype:CryptoMining",
    'misp-galaxy:mitre-attack-pattern="Resource Hijacking - T1496"',
)


def _ts(value: object) -> datetime:
    text = str(value or "1970-01-01T00:00:00Z")
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        dt = datetime(1970, 1, 1)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _tag_value(value: object) -> str:
    """A value safe inside a machine tag's double quotes (no quotes, no control characters)."""
    return clean(value, 64).replace('"', "'").replace("\\", "/")


def build_event(pools: Iterable[dict], info: str | None = None, tlp: str = "tlp:clear",
                distribution: int = 0, published: bool = True) -> MISPEvent:
    """A MISPEvent with one ``ip-port`` object per valid pool (pools with a bad ip/port are left out).

    ``info`` defaults to ``poolscan: N mining pool endpoints``; ``distribution`` is MISP's (0 = your
    organisation only ... 3 = all communities); ``tlp`` is a tag of the MISP ``tlp`` taxonomy.
    """
    valid = []
    for pool in pools:
        try:
            valid.append((endpoint(pool), pool))
        except (ValueError, TypeError):
            continue
    valid.sort(key=lambda x: x[0])
    ev_uuid = str(uuid.uuid5(NAMESPACE, "event:" + "\n".join(ep for ep, _ in valid)))
    ev = MISPEvent()
    ev.uuid = ev_uuid
    ev.info = info or f"poolscan: {len(valid)} mining pool endpoint{'s' if len(valid) != 1 else ''}"
    ev.distribution = distribution
    ev.threat_level_id = 3
    ev.analysis = 2
    ev.published = published
    org = MISPOrganisation()
    org.name = ORG_NAME
    org.uuid = ORG_UUID
    ev.Orgc = org
    newest = max((_ts(p.get("last_seen")) for _, p in valid), default=datetime(1970, 1, 1, tzinfo=timezone.utc))
    ev.date = newest.date() if valid else datetime.now(timezone.utc).date()
    ev.timestamp = newest if valid else datetime.now(timezone.utc)
    for t in EVENT_TAGS + ((tlp,) if tlp else ()):
        ev.add_tag(t)
    for ep, pool in valid:
        _add_pool(ev, ep, pool)
    return ev


def _add_pool(ev: MISPEvent, ep: str, pool: dict) -> None:
    ip = ip_of(pool).compressed
    port = port_of(pool)
    first, last = _ts(pool.get("first_seen")), _ts(pool.get("last_seen"))
    last = max(first, last)
    line = f"mining pool {ep}: {summary(pool)}"
    tags = [f'poolscan:{k}="{_tag_value(pool[k])}"' for k in ("protocol", "software", "coin", "algo")
            if pool.get(k)]
    base = f"{ev.uuid}|{ep}"

    def uid(name: str) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{base}|{name}"))

    obj = MISPObject("ip-port", standalone=False)
    obj.uuid = uid("ip-port")
    obj.comment = line
    obj.first_seen = first
    obj.last_seen = last
    a = obj.add_attribute("ip-dst", value=ip, to_ids=True, comment=line, uuid=uid("ip-dst"))
    for t in tags:
        a.add_tag(t)
    obj.add_attribute("dst-port", value=port, to_ids=False, uuid=uid("dst-port"))
    obj.add_attribute("protocol", value="tcp", uuid=uid("protocol"))
    domains = pool_domains(pool)
    for d in domains:
        obj.add_attribute("domain", value=d, to_ids=False, uuid=uid("domain:" + d))
    if isinstance(pool.get("asn"), int):
        obj.add_attribute("AS", value=f"AS{pool['asn']}", uuid=uid("AS"))
    cc = str(pool.get("country") or "").strip().upper()
    if len(cc) == 2 and cc.isascii() and cc.isalpha():
        obj.add_attribute("country-code", value=cc, uuid=uid("country-code"))
    obj.add_attribute("first-seen", value=first, uuid=uid("first-seen"))
    obj.add_attribute("last-seen", value=last, uuid=uid("last-seen"))
    text = [line, f"confidence {confidence_100(pool)}/100", f"seen in {int(pool.get('seen_count') or 1)} run(s)"]
    if pool.get("tls"):
        text.append("speaks TLS")
    if pool.get("label"):
        text.append(f"label: {clean(pool['label'], 100)}")
    text += [f"evidence: {clean(e, 300)}" for e in (pool.get("evidence") or [])[:20]]
    obj.add_attribute("text", value="\n".join(text), uuid=uid("text"))
    _stamp(obj, last)
    ev.add_object(obj)
    if cert_sha256(pool):
        xobj = MISPObject("x509", standalone=False)
        xobj.uuid = uid("x509")
        xobj.comment = line
        xobj.add_attribute("x509-fingerprint-sha256", value=cert_sha256(pool), to_ids=False,
                           uuid=uid("x509:sha256"))
        for d in domains:
            xobj.add_attribute("dns_names", value=d, uuid=uid("x509:dns:" + d))
        _stamp(xobj, last)
        ev.add_object(xobj)
    if domains:
        dobj = MISPObject("domain-ip", standalone=False)
        dobj.uuid = uid("domain-ip")
        dobj.comment = line
        dobj.first_seen = first
        dobj.last_seen = last
        for d in domains:
            dobj.add_attribute("domain", value=d, to_ids=True, uuid=uid("domain-ip:domain:" + d))
        dobj.add_attribute("ip", value=ip, to_ids=True, uuid=uid("domain-ip:ip"))
        dobj.add_attribute("port", value=port, to_ids=False, uuid=uid("domain-ip:port"))
        _stamp(dobj, last)
        ev.add_object(dobj)


def _stamp(obj: MISPObject, when: datetime) -> None:
    """Give an object and its attributes the pool's last_seen as MISP timestamp (deterministic output)."""
    obj.timestamp = when
    for a in obj.attributes:
        a.timestamp = when


def render(pools: Iterable[dict], **kwargs) -> str:
    """The MISP event as JSON text in MISP's import format ``{"Event": {...}}`` (see :func:`build_event`)."""
    ev = build_event(pools, **kwargs)
    return json.dumps({"Event": json.loads(ev.to_json())}, indent=2, ensure_ascii=False) + "\n"
