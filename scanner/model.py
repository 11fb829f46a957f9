"""The records that flow between poolscan's stages.

Every record is a frozen dataclass that serialises to one JSON object (``to_dict`` / ``from_dict``), so the
stages also work as separate commands joined by JSON lines (``poolscan sweep | poolscan probe -``).

Flow (see ``../shared/design.md``)::

    OpenPort --probe--> Transcript* --classify--> Verdict --> ProbeResult (one per ip:port)

Bytes on the wire are kept as ``bytes`` in memory. In JSON they are written as ``{"text": str}`` when they
decode as UTF-8 and as ``{"b64": str}`` otherwise, so a transcript round-trips byte for byte.
"""

from __future__ import annotations

import base64
import enum
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterable


class Status(str, enum.Enum):
    """How one probe connection ended (the ZGrab2 status list plus poolscan's own cases).

    A probe never raises out of the engine: every outcome is one of these values, with whatever partial
    data was read kept in the transcript.
    """

    SUCCESS = "success"  # the dialogue ran to its end (the peer answered something)
    NO_REPLY = "no-reply"  # connected, sent, the peer stayed silent until the read timeout
    CLOSED = "closed"  # the peer closed (FIN) before sending anything
    CONNECTION_REFUSED = "connection-refused"
    CONNECTION_TIMEOUT = "connection-timeout"
    CONNECTION_RESET = "connection-reset"
    IO_TIMEOUT = "io-timeout"  # the session deadline expired while the peer was still sending
    READ_LIMIT = "read-limit"  # the byte cap (or the line cap) was reached; the transcript is truncated
    TLS_ERROR = "tls-handshake-error"
    PROTOCOL_ERROR = "protocol-error"
    EXCLUDED = "excluded"  # the target is in an exclusion list; nothing was sent
    UNKNOWN_ERROR = "unknown-error"

    @property
    def connected(self) -> bool:
        """True when a TCP connection was established (so the port is open)."""
        return self not in (
            Status.CONNECTION_REFUSED,
            Status.CONNECTION_TIMEOUT,
            Status.EXCLUDED,
        )


def encode_bytes(data: bytes) -> dict[str, str]:
    """Encode wire bytes for JSON: ``{"text": ...}`` when valid UTF-8, else ``{"b64": ...}``."""
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


def decode_bytes(obj: dict[str, Any]) -> bytes:
    """Inverse of :func:`encode_bytes`. Raises ``KeyError`` when neither key is present."""
    if "text" in obj:
        return obj["text"].encode("utf-8")
    return base64.b64decode(obj["b64"])


@dataclass(frozen=True, slots=True)
class OpenPort:
    """One open TCP port found by the sweep stage.

    ``seen_at`` is a Unix time in seconds; ``source`` is the sweep engine (``masscan``, ``connect``) or
    ``input`` when given by the user.
    """

    ip: str
    port: int
    seen_at: float = field(default_factory=time.time)
    source: str = "input"

    def to_dict(self) -> dict[str, Any]:
        return {"ip": self.ip, "port": self.port, "seen_at": self.seen_at, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "OpenPort":
        return cls(ip=str(d["ip"]), port=int(d["port"]), seen_at=float(d.get("seen_at") or time.time()),
                   source=str(d.get("source") or "input"))


@dataclass(frozen=True, slots=True)
class Exchange:
    """One write or one read on a probe connection.

    ``t`` is seconds since the TCP (or TLS) connection was established; ``dir`` is ``"send"`` (poolscan to
    peer) or ``"recv"`` (peer to poolscan); ``data`` is exactly the bytes of that write or read.
    """

    t: float
    dir: str
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "dir": self.dir, **encode_bytes(self.data)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Exchange":
        return cls(t=float(d.get("t", 0.0)), dir=str(d["dir"]), data=decode_bytes(d))


@dataclass(frozen=True, slots=True)
class Transcript:
    """Everything one probe saw on one connection: the observation, kept apart from its interpretation.

    Fields:
      ip, port: the peer.
      probe: the probe id (a file stem in ``fingerprints/probes/``), e.g. ``stratum1``, ``cryptonote``.
      tls: True when the dialogue ran inside TLS.
      tls_info: for TLS, ``{"version", "cipher", "cert_der_b64", "subject_cn", "san"...}``; else None.
      exchanges: sends and reads in order, each read capped by the transport's limits.
      status: how the connection ended (:class:`Status`).
      error: a short text for non-success statuses (never a traceback).
      truncated: True when a byte or line cap cut the data.
      closed_by_peer: True when the peer closed (FIN or reset) before poolscan did.
      started_at: Unix time (seconds) of the connect attempt; duration_s: wall time of the probe.
    """

    ip: str
    port: int
    probe: str
    status: Status
    exchanges: tuple[Exchange, ...] = ()
    tls: bool = False
    tls_info: dict[str, Any] | None = None
    error: str | None = None
    truncated: bool = False
    closed_by_peer: bool = False
    started_at: float = 0.0
    duration_s: float = 0.0

    @property
    def received(self) -> bytes:
        """All bytes the peer sent, concatenated (already capped by the transport)."""
        return b"".join(e.data for e in self.exchanges if e.dir == "recv")

    @property
    def sent(self) -> bytes:
        """All bytes poolscan sent, concatenated."""
        return b"".join(e.data for e in self.exchanges if e.dir == "send")

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "port": self.port,
            "probe": self.probe,
            "status": self.status.value,
            "tls": self.tls,
            "tls_info": self.tls_info,
            "error": self.error,
            "truncated": self.truncated,
            "closed_by_peer": self.closed_by_peer,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 6),
            "exchanges": [e.to_dict() for e in self.exchanges],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Transcript":
        return cls(
            ip=str(d["ip"]),
            port=int(d["port"]),
            probe=str(d["probe"]),
            status=Status(d["status"]),
            exchanges=tuple(Exchange.from_dict(e) for e in d.get("exchanges", ())),
            tls=bool(d.get("tls", False)),
            tls_info=d.get("tls_info"),
            error=d.get("error"),
            truncated=bool(d.get("truncated", False)),
            closed_by_peer=bool(d.get("closed_by_peer", False)),
            started_at=float(d.get("started_at", 0.0)),
            duration_s=float(d.get("duration_s", 0.0)),
        )



def _slot_setters(cls: type, names: tuple[str, ...]) -> list[Any] | None:
    """The slot setters of a frozen, slotted dataclass whose fields are exactly ``names`` (in that order) and
    that has no ``__post_init__``; None when it is not so (then :func:`make_exchange`/:func:`make_transcript`
    call the plain constructors)."""
    import dataclasses

    if (getattr(cls, "__slots__", None) != names or tuple(f.name for f in dataclasses.fields(cls)) != names
            or hasattr(cls, "__post_init__")):
        return None
    return [getattr(cls, n).__set__ for n in names]


# Every probe records 2-8 Exchanges and one Transcript, and every store read rebuilds them: a frozen
# dataclass's __init__ sets each field through ``object.__setattr__``; setting the slots directly gives the same
# object (==, hash, repr) for ~0.25-1 us less per Exchange and ~0.9-2.8 us per Transcript (2 cores, 2026-11-29,
# issue 8). Guarded by _slot_setters: should the classes gain a field or a __post_init__, the plain
# constructors are used.
_E = _slot_setters(Exchange, ("t", "dir", "data"))
_T = _slot_setters(Transcript, ("ip", "port", "probe", "status", "exchanges", "tls", "tls_info", "error",
                                "truncated", "closed_by_peer", "started_at", "duration_s"))
_new = object.__new__
if _E is not None:
    def make_exchange(t: float, dir: str, data: bytes, _cls: type = Exchange, _s: list = _E) -> Exchange:
        """``Exchange(t, dir, data)``, built faster (see :func:`_slot_setters`)."""
        e = _new(_cls)
        _s[0](e, t)
        _s[1](e, dir)
        _s[2](e, data)
        return e
else:  # pragma: no cover - only if Exchange changes shape
    make_exchange = Exchange
if _T is not None:
    def make_transcript(ip: str, port: int, probe: str, status: Status, exchanges: tuple, tls: bool,
                        tls_info: Any, error: Any, truncated: bool, closed_by_peer: bool, started_at: float,
                        duration_s: float, _cls: type = Transcript, _s: list = _T) -> Transcript:
        """``Transcript(...)`` with every field, positionally, built faster (see :func:`_slot_setters`)."""
        t = _new(_cls)
        _s[0](t, ip)
        _s[1](t, port)
        _s[2](t, probe)
        _s[3](t, status)
        _s[4](t, exchanges)
        _s[5](t, tls)
        _s[6](t, tls_info)
        _s[7](t, error)
        _s[8](t, truncated)
        _s[9](t, closed_by_peer)
        _s[10](t, started_at)
        _s[11](t, duration_s)
        return t
else:  # pragma: no cover - only if Transcript changes shape
    make_transcript = Transcript


@dataclass(frozen=True, slots=True)
class Verdict:
    """The interpretation of all transcripts of one ip:port.

    is_pool: True (a mining pool), False (not a pool: a known non-pool or nothing pool-like), None (can't
      tell: e.g. a silent port).
    protocol: ``stratum1``, ``ethstratum``, ``ethproxy``, ``cryptonote``, ``getwork``, ``stratum2``, or a
      protocol family label from the fingerprints (e.g. ``grin-stratum``), or None.
    software: lowercase slug (``ckpool``, ``nomp``, ...) or None when not determinable.
    coin: ticker (``BTC``, ``XMR``, ...) or None; algo: usual name (``sha256d``, ``randomx``...) or None.
    confidence: in [0, 1], the confidence of ``is_pool`` (of the software label when it is set).
    label: for non-pools, what the service is instead (``electrum``, ``bitcoind-rpc``, ``http`` ...).
    evidence: short human-readable strings, each naming the rule and what it saw.
    fingerprints_version: a hash of the fingerprint set that produced this verdict.
    """

    is_pool: bool | None = None
    protocol: str | None = None
    software: str | None = None
    coin: str | None = None
    algo: str | None = None
    confidence: float = 0.0
    label: str | None = None
    evidence: tuple[str, ...] = ()
    fingerprints_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_pool": self.is_pool,
            "protocol": self.protocol,
            "software": self.software,
            "coin": self.coin,
            "algo": self.algo,
            "confidence": round(float(self.confidence), 4),
            "label": self.label,
            "evidence": list(self.evidence),
            "fingerprints_version": self.fingerprints_version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Verdict":
        return cls(
            is_pool=d.get("is_pool"),
            protocol=d.get("protocol"),
            software=d.get("software"),
            coin=d.get("coin"),
            algo=d.get("algo"),
            confidence=float(d.get("confidence") or 0.0),
            label=d.get("label"),
            evidence=tuple(d.get("evidence") or ()),
            fingerprints_version=str(d.get("fingerprints_version") or ""),
        )


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """All probes of one ip:port and the verdict drawn from them (the probe stage's output).

    ``status`` summarises the connection outcomes: ``success`` when any probe got bytes back, otherwise
    the most informative failure (refused, timeout...). ``tls`` is True when a TLS dialogue succeeded.
    ``enrichment`` holds what the enrich stage added (asn, country, cert names, favicon hash...).
    """

    ip: str
    port: int
    status: Status
    verdict: Verdict
    transcripts: tuple[Transcript, ...] = ()
    tls: bool = False
    enrichment: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The one-line JSON object of ``poolscan probe --json`` (keys fixed by issue #2)."""
        v = self.verdict
        out = {
            "ip": self.ip,
            "port": self.port,
            "status": self.status.value,
            "tls": self.tls,
            "is_pool": v.is_pool,
            "protocol": v.protocol,
            "software": v.software,
            "coin": v.coin,
            "algo": v.algo,
            "confidence": round(float(v.confidence), 4),
            "evidence": list(v.evidence),
            "label": v.label,
        }
        if self.enrichment:
            out["enrichment"] = self.enrichment
        return out

    def to_dict(self) -> dict[str, Any]:
        d = self.summary()
        d["verdict"] = self.verdict.to_dict()
        d["transcripts"] = [t.to_dict() for t in self.transcripts]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProbeResult":
        return cls(
            ip=str(d["ip"]),
            port=int(d["port"]),
            status=Status(d["status"]),
            verdict=Verdict.from_dict(d.get("verdict") or d),
            transcripts=tuple(Transcript.from_dict(t) for t in d.get("transcripts", ())),
            tls=bool(d.get("tls", False)),
            enrichment=dict(d.get("enrichment") or {}),
        )


def dumps(obj: Any) -> str:
    """One compact JSON line for a record (anything with ``to_dict``) or a plain value."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=False)


def read_jsonl(lines: Iterable[str], cls: type) -> Iterable[Any]:
    """Parse JSON lines into records of ``cls`` (blank lines skipped). Raises ``ValueError`` with the line
    number on a malformed line."""
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            yield cls.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {n}: not a {cls.__name__} record: {exc}") from None
