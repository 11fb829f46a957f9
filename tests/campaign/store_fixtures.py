"""Build campaign runs directly in a real SQLite store (for diff and report tests)."""

from __future__ import annotations

from typing import Any

from scanner.model import Exchange, ProbeResult, Status, Transcript, Verdict


def pool(ip: str, port: int, *, software: str | None = "ckpool", coin: str | None = "BTC", protocol: str = "stratum1",
         algo: str | None = "sha256d", tls_sha: str | None = None, cert_names: list[str] | None = None,
         country: str | None = None, asn: int | None = None, as_org: str | None = None,
         evidence: tuple[str, ...] = ("stratum1.subscribe-result: ok",), banner: bytes = b'{"id":1,"result":[]}\n',
         is_pool: bool | None = True) -> ProbeResult:
    """A probed endpoint with one transcript (TLS when ``tls_sha`` is given) and the verdict given."""
    tls_info = ({"version": "TLSv1.3", "cipher": "TLS_AES_128_GCM_SHA256", "subject_cn": (cert_names or ["x"])[0],
                 "san": cert_names or [], "sha256": tls_sha} if tls_sha else None)
    t = Transcript(ip=ip, port=port, probe="stratum1", status=Status.SUCCESS, tls=bool(tls_sha), tls_info=tls_info,
                   exchanges=(Exchange(0.0, "send", b'{"id":1,"method":"mining.subscribe","params":[]}\n'),
                              Exchange(0.01, "recv", banner)), started_at=1.7e9, duration_s=0.02)
    enr: dict[str, Any] = {}
    if cert_names is not None:
        enr["cert_names"] = cert_names
    if country:
        enr["country"] = country
    if asn:
        enr["asn"] = asn
    if as_org:
        enr["as_org"] = as_org
    v = Verdict(is_pool=is_pool, protocol=protocol if is_pool else None, software=software if is_pool else None,
                coin=coin if is_pool else None, algo=algo if is_pool else None, confidence=0.9, evidence=evidence,
                label=None if is_pool else "http")
    return ProbeResult(ip=ip, port=port, status=Status.SUCCESS, verdict=v, transcripts=(t,), tls=bool(tls_sha),
                       enrichment=enr)


def add_run(store: Any, campaign: str, results: list[ProbeResult], status: str = "ok", seed: int = 1) -> str:
    """One campaign run holding ``results``; finished with ``status`` unless it is ``running``."""
    run_id = store.start_run(kind="campaign", args={}, campaign=campaign, seed=seed)
    for r in results:
        store.save_result(run_id, r)
    if status != "running":
        store.finish_run(run_id, status=status, counts={})
    return run_id
