"""The probe engine: which probes run against one open port, in which order, and when to stop.

The plan is data (``fingerprints/probes/*.yaml``): each probe has a phase and a condition. Probes of one
phase run concurrently (one fresh connection each: many servers close or go silent on the first method they do
not speak, ``../shared/cases/README.md``); after each phase the transcripts so far are classified and the
engine stops as soon as the verdict is confident (``scanner.fingerprint.is_confident``), so a pool that
answers the first subscribe costs one or two connections.

Phases:
  1. ``stratum1`` and ``cryptonote`` (the two big families); on known TLS ports also their TLS variants.
  2. ``ethproxy``, ``ethstratum``, ``http``, ``stratum2``.
  3. Conditional: TLS variants when TLS is suspected (the plaintext probes got silence, a close without a
     byte, or a TLS alert record), ``getwork``/``web3`` when the port speaks HTTP, ``electrum`` when a
     JSON-RPC service answered but is not a pool.
A port where every probe was refused or timed out at connect is reported closed after phase 1.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from scanner.errors import FingerprintError
from scanner.model import ProbeResult, Status, Transcript, Verdict
from scanner.probes.dialogue import DIALOGUES
from scanner.protocols import jsonrpc
from scanner.protocols.framing import split_lines
from scanner.transport.limits import Limits
from scanner.transport.run import run_dialogue

PROBES_DIR = Path(__file__).resolve().parents[2] / "fingerprints" / "probes"
CONDITIONS = ("always", "http-seen", "jsonrpc-nonpool", "tls-suspected")
FINAL_PHASE = 99


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """One probe of the plan (a ``fingerprints/probes/<id>.yaml`` file)."""

    id: str
    dialogue: str
    phase: int
    when: str
    tls_variant: bool
    source: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbePlan:
    probes: tuple[ProbeSpec, ...]
    tls_ports: frozenset[int]


@functools.lru_cache(maxsize=4)
def load_plan(directory: Path = PROBES_DIR) -> ProbePlan:
    """Read the probe plan. Raises :class:`~scanner.errors.FingerprintError` (``file: message``) on a bad file."""
    specs: list[ProbeSpec] = []
    tls_ports: frozenset[int] = frozenset()
    for path in sorted(directory.glob("*.yaml")):
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise FingerprintError(f"{path}{line}: invalid YAML: {exc}") from None
        if not isinstance(doc, dict) or doc.get("id") != path.stem:
            raise FingerprintError(f"{path}:1: 'id' must equal the file name ({path.stem!r})")
        if path.stem == "_tls":
            tls_ports = frozenset(int(p) for p in doc.get("tls_ports", ()))
            continue
        if doc.get("dialogue") not in DIALOGUES:
            raise FingerprintError(f"{path}:1: unknown dialogue {doc.get('dialogue')!r} (known: {sorted(DIALOGUES)})")
        if doc.get("when", "always") not in CONDITIONS:
            raise FingerprintError(f"{path}:1: 'when' must be one of {CONDITIONS}")
        if not doc.get("source"):
            raise FingerprintError(f"{path}:1: every probe names its source")
        specs.append(ProbeSpec(
            id=doc["id"], dialogue=doc["dialogue"], phase=int(doc.get("phase", 1)), when=doc.get("when", "always"),
            tls_variant=bool(doc.get("tls_variant", False)), source=tuple(doc["source"]),
        ))
    return ProbePlan(tuple(sorted(specs, key=lambda s: (s.phase, s.id))), tls_ports)


@dataclass(frozen=True)
class ProbeOptions:
    """How to probe one port.

    limits: per-connection bounds. fast: skip the unknown-method steps (fewer round trips, less evidence).
    tls: ``auto`` (TLS variants when the port is a TLS port or the plaintext probes suggest TLS),
      ``always`` (TLS variants from phase 1), ``never``.
    only: restrict to these probe ids (``None`` = the whole plan).
    fingerprints: a loaded fingerprint set (``None`` = the default set).
    """

    limits: Limits = field(default_factory=Limits)
    fast: bool = False
    tls: str = "auto"
    only: tuple[str, ...] | None = None
    fingerprints: Any = None


def _fingerprints(options: ProbeOptions) -> Any:
    from scanner.fingerprint import load_fingerprints

    return options.fingerprints if options.fingerprints is not None else load_fingerprints()


def _received_any(ts: Iterable[Transcript]) -> bool:
    return any(e.dir == "recv" for t in ts for e in t.exchanges)


def _tls_suspected(port: int, plain: list[Transcript], plan: ProbePlan, options: ProbeOptions) -> bool:
    if options.tls == "never":
        return False
    if options.tls == "always" or port in plan.tls_ports:
        return True
    connected = [t for t in plain if t.status.connected]
    if not connected:
        return False
    if any(t.received[:2] in (b"\x15\x03", b"\x16\x03") for t in connected):
        return True  # a TLS alert or handshake record in answer to plaintext
    return not _received_any(connected)


def _http_seen(ts: Iterable[Transcript]) -> bool:
    return any(t.received.startswith(b"HTTP/") for t in ts)


def _jsonrpc_seen(ts: Iterable[Transcript]) -> bool:
    for t in ts:
        for line in split_lines(t.received[:65536])[:20]:
            if isinstance(jsonrpc.decode(line), jsonrpc.Response):
                return True
    return False


def summarise_status(transcripts: Iterable[Transcript]) -> Status:
    """One status for a port: ``success`` when any probe got bytes back, else the most telling failure."""
    ts = list(transcripts)
    if not ts:
        return Status.UNKNOWN_ERROR
    if any(t.received for t in ts):
        return Status.SUCCESS
    order = [Status.READ_LIMIT, Status.IO_TIMEOUT, Status.CONNECTION_RESET, Status.TLS_ERROR, Status.CLOSED,
             Status.NO_REPLY, Status.PROTOCOL_ERROR, Status.UNKNOWN_ERROR, Status.CONNECTION_TIMEOUT,
             Status.CONNECTION_REFUSED, Status.EXCLUDED]
    present = {t.status for t in ts}
    for s in order:
        if s in present:
            return s
    return ts[0].status


async def probe_port(ip: str, port: int, options: ProbeOptions | None = None,
                     server_name: str | None = None) -> ProbeResult:
    """Probe one open port with the plan and classify what it answered.

    Args:
      ip: IP literal of the peer. port: TCP port. server_name: SNI for TLS probes, when a name is known.
    Returns a :class:`~scanner.model.ProbeResult` holding every transcript and the verdict. Never raises for
    peer behaviour; raises :class:`~scanner.errors.FingerprintError` if the fingerprint files are broken.
    """
    from scanner.fingerprint import classify, is_confident

    options = options or ProbeOptions()
    fps = _fingerprints(options)
    plan = load_plan()
    specs = [s for s in plan.probes if options.only is None or s.id in options.only]
    transcripts: list[Transcript] = []
    verdict = Verdict()
    done_ids: set[tuple[str, bool]] = set()
    tls_started = False
    memo: dict[int, Any] = {}  # each finished transcript is observed once, however often we re-classify

    def enough(partial: Transcript) -> bool:
        # Before an evidence-only step (the unknown-method question): stop if what we have is conclusive.
        return is_confident(classify([*transcripts, partial], fps, memo))

    async def run(spec: ProbeSpec, tls: bool) -> Transcript:
        dialogue = DIALOGUES[spec.dialogue](options.limits, host=ip, port=port, fast=options.fast)
        done_ids.add((spec.id, tls))
        return await run_dialogue(ip, port, dialogue, options.limits, tls=tls, server_name=server_name,
                                  enough=enough)

    # A last pass after the plan's phases runs the conditional probes that phase 3's answers call for (e.g. the
    # electrum probe for a JSON-RPC service that answered only inside TLS).
    phases = sorted({s.phase for s in specs} | {FINAL_PHASE})
    for phase in phases:
        batch: list[tuple[ProbeSpec, bool]] = []
        plain = [t for t in transcripts if not t.tls]
        suspect_tls = (not tls_started) and options.tls != "never" and (
            (phase == 1 and (options.tls == "always" or port in plan.tls_ports))
            or (phase >= 3 and plain and _tls_suspected(port, plain, plan, options)))
        for spec in specs:
            if spec.phase == phase and spec.when == "always":
                batch.append((spec, False))
            elif phase >= 3 and spec.phase <= phase:
                if spec.when == "http-seen" and _http_seen(transcripts):
                    batch.append((spec, False))
                elif spec.when == "jsonrpc-nonpool" and verdict.is_pool is not True:
                    # Ask in the channel where the JSON-RPC service answered: plain, TLS, or both
                    # (ElectrumX serves 50001 plain and 50002 TLS).
                    for tls in (False, True):
                        if _jsonrpc_seen(t for t in transcripts if t.tls is tls):
                            batch.append((spec, tls))
        if suspect_tls:
            tls_started = True
            batch += [(s, True) for s in specs if s.tls_variant and s.when == "always" and (s.id, True) not in done_ids]
        batch = [(s, tls) for s, tls in batch if (s.id, tls) not in done_ids]
        if not batch:
            continue
        # Probes of a phase run at once; as soon as the verdict is confident the others are cancelled (a
        # pool that answered its own dialect in milliseconds does not wait for another probe's silence).
        # The probe that speaks the verdict's own protocol is always awaited: its job carries the coin and algo.
        tasks = {asyncio.ensure_future(run(s, tls)): s.id for s, tls in batch}
        pending = set(tasks)
        confident = False
        try:
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                transcripts += [f.result() for f in finished]
                if any(t.status.connected for t in transcripts):
                    verdict = classify(transcripts, fps, memo)
                    if is_confident(verdict):
                        confident = True
                        own = {f for f in pending if tasks[f] == verdict.protocol}
                        for f in pending - own:
                            f.cancel()
                        pending = own
        finally:
            for f in pending:
                f.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if confident or not any(t.status.connected for t in transcripts):
            break  # conclusive, or closed/filtered: nothing (more) to talk to
    if transcripts and verdict == Verdict():
        verdict = classify(transcripts, fps, memo)
    status = summarise_status(transcripts)
    tls_ok = any(t.tls and t.status.connected and t.status is not Status.TLS_ERROR and t.received for t in transcripts)
    return ProbeResult(ip=ip, port=port, status=status, verdict=verdict, transcripts=tuple(transcripts), tls=tls_ok)
