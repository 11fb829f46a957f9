"""Apply the rules to the transcripts of one ip:port and combine the hits into a :class:`~scanner.model.Verdict`.

Combination (``../shared/design.md`` principle 6):

* is_pool: the strongest rule saying ``is_pool: true`` against the strongest saying ``false``; pool
  evidence wins ties (a protocol answer is positive evidence, a generic HTTP/JSON-RPC answer is not). No
  rule deciding and no byte received, or only a neutral label (``tarpit``, ``tls``) => None (can't tell);
  bytes received but nothing recognised => False, label ``unknown``, low confidence.
* protocol/software/coin/algo: among the hits that agree with the final is_pool (or do not speak about it),
  the value with the highest confidence; a coin/algo read from the job (``fingerprints/coins``) counts as a
  hit too. Non-pools get no protocol/software/coin/algo, only a ``label``.
* software, own replies before relayed job content: a stratum proxy passes its upstream's jobs on unchanged
  (coinbase tags, job ids), so a rule that only reads job content (``Rule.relayed``) names the upstream's
  software. When any software hit rests on the server's own replies (subscribe/login/error shapes, pushes,
  HTTP), the software comes from those hits; relayed hits name it only when nothing else does, and a
  relayed software that differs is kept in the evidence (``verdict.relayed-software``). Source:
  tests/transcripts/real/aiostratum-proxy-upstream-fresh.jsonl (aiostratum-proxy relaying ckpool's
  ``\nckpool`` coinbase); coin/algo still come from the relayed job.
* confidence: of the software label when set, else of is_pool.

Pure and total: never raises on transcript content.
"""

from __future__ import annotations

import datetime
import functools
import math
import re

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

from scanner.fingerprint.loader import FingerprintSet, Rule
from scanner.fingerprint.observe import Observation, observe, preview
from scanner.fingerprint.rules import FAIL, _as_text, compile_condition, compile_regex, compile_when, match_all, value_key
from scanner.model import Transcript, Verdict
from scanner.protocols import altjobs

FIELDS = ("protocol", "software", "coin", "algo", "label")
MAX_EVIDENCE = 24
UNKNOWN_CONFIDENCE = 0.2


@dataclass(slots=True)
class Hit:
    """One rule (or coin-table entry) that matched: what it supports, how strongly, and why. Treat as
    immutable (not frozen only because a frozen dataclass costs ~1 us more to build, and every transcript
    makes several: issue 8)."""

    rule_id: str
    probe: str
    verdict: dict[str, Any]
    confidence: float
    evidence: str
    relayed: bool = False


def _evidence(rule_id: str, template: str, witnesses: list[Any], probe: str) -> str:
    args = [preview(w) for w in witnesses]
    try:
        text = template.format(*args)
    except (IndexError, KeyError, ValueError, AttributeError):
        text = template
    return f"{rule_id}: {text} ({probe})"


def rule_hits(rule: Rule, observations: Sequence[Observation]) -> list[Hit]:
    """The hits of one rule over the observations of one ip:port (at most one per transcript)."""
    out = []
    for o in observations:
        if rule.probes is not None and o.probe not in rule.probes:
            continue
        w = match_all(list(rule.when), o)
        if w is not None:
            out.append(Hit(rule.id, o.probe, rule.verdict, rule.confidence, _evidence(rule.id, rule.evidence, w, o.probe),
                           relayed=rule.relayed))
    return out


def _in(v: Any, rng: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and rng[0] <= v <= rng[1]


DAY_S = 86400
# Scan days beyond ~year 4700 are no date a transcript can carry: no window (and no float overflow).
_MAX_DAY = 1_000_000
_EMPTY = (1, 0)


def scan_day(started_at: Any) -> int | None:
    """The UTC day number (``started_at // 86400``) of a transcript's ``started_at`` (Unix seconds), or None
    when it is no usable time (0/missing for synthetic data, negative, NaN/inf, bool, not a number): then the
    static ``height`` windows of ``fingerprints/coins`` apply."""
    if isinstance(started_at, bool) or not isinstance(started_at, (int, float)):
        return None
    if not math.isfinite(started_at) or started_at <= 0:
        return None
    return int(started_at // DAY_S)


@functools.lru_cache(maxsize=4096)
def timed_window(clock: tuple[int, int, float, float, float, int], day: int) -> tuple[int, int]:
    """The height window ``(low, high)`` of one chain on scan day ``day`` (:func:`scan_day`), from its clock
    ``(anchor height, anchor unix time, nominal block time s, drift lo, drift hi, margin blocks)`` (the
    ``clock`` of a ``fingerprints/coins`` window, see ``coins.schema.json``): n = (noon of the day - anchor
    time) / block time nominal blocks have passed, the chain made between n*(1+lo) and n*(1+hi) of them
    (bounds swapped before the anchor), plus/minus ``margin``. A window wholly below 0 (a date before the
    chain) or a day past ``_MAX_DAY`` is empty (``(1, 0)``). Cached per (chain, day): classification calls it
    once per distinct day, not per transcript."""
    h0, t0, spacing, lo, hi, margin = clock
    if not 0 <= day <= _MAX_DAY:
        return _EMPTY
    n = (day * DAY_S + DAY_S // 2 - t0) / spacing
    a, b = n * (1 + lo), n * (1 + hi)
    if n < 0:
        a, b = b, a
    high = math.ceil(h0 + b + margin)
    if high < 0:
        return _EMPTY
    return max(0, math.floor(h0 + a - margin)), high


def height_window(entry: dict[str, Any], day: int | None) -> tuple[int, int]:
    """The height window of one coin-table entry (``bip34_heights``, ``layout_heights``, ``cryptonote_chains``)
    for a transcript recorded on ``day``: from the entry's clock (``_clock``, set by the loader) when it has
    one and the day is known, else its static ``height`` range."""
    clock = entry.get("_clock")
    if clock is None or day is None:
        return entry["height"]
    return timed_window(clock, day)


def fit_heights(entries: Sequence[dict[str, Any]], h: int, day: int | None) -> tuple[list[dict[str, Any]], bool]:
    """The coin-table entries a job height ``h`` fits, and whether the scan date decided.

    The static ``height`` windows decide membership. When they leave more than one coin (LTC and VTC share
    2.4M-3.7M over 2023-2030) and the transcript has a date, only the entries whose dated window
    (:func:`height_window`) holds ``h`` are kept — if any are. The date only breaks ties: a pool whose job
    carries a height its chain reached months ago (a stalled daemon, a replayed recording) still names its
    chain when no other chain fits. Returns ``(entries, dated)``."""
    cands = [c for c in entries if _in(h, c["height"])]
    if day is not None and len({c["coin"] for c in cands}) > 1:
        dated = [c for c in cands if _in(h, height_window(c, day))]
        if dated and len(dated) < len(cands):
            return dated, True
    return cands, False


def _on(day: int | None) -> str:
    """``", windows of YYYY-MM-DD"`` for evidence (the scan date whose height windows were used), or ``""`` for
    the static windows."""
    if day is None:
        return ""
    try:
        return ", windows of " + (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()
    except (OverflowError, ValueError):
        return ""


def coin_hits(observations: Sequence[Observation], coins: dict[str, Any]) -> list[Hit]:
    """Coin/algo hits read from jobs with the tables of ``fingerprints/coins`` (BIP34 height windows,
    coinbase tags, ethash epochs, CryptoNote algo names and height windows). A table entry only yields a
    coin when it is the only candidate.

    Heights: the static windows decide, and where they leave several chains the scan date breaks the tie
    (:func:`fit_heights`): each transcript's own ``started_at`` picks the dated windows of that day
    (deterministic, never the current clock), so a stored transcript classifies the same forever."""
    hits: list[Hit] = []
    ports = {o.transcript.port for o in observations if isinstance(o.transcript.port, int)}
    for p in coins.get("ports", ()):
        if p["port"] in ports:  # weak: evidence only, never a verdict field
            hits.append(Hit("coins.port", "-", {}, 0.05, f"coins.port: port {p['port']} is a convention of {p['hint']} (weak)"))
    for o in observations:
        f = o.facts
        h = f.get("job.height")
        layout = f.get("job.layout")
        day = scan_day(getattr(o.transcript, "started_at", None))
        if isinstance(h, int) and layout == "bitcoin":
            wc = f.get("job.witness_commitment") is True
            cands, dated = fit_heights([c for c in coins.get("bip34_heights", ()) if c["segwit"] or not wc], h, day)
            day_note = _on(day) if dated else ""
            coins_set = {c["coin"] for c in cands}
            algos = {_bip34_algo(c, f) for c in cands}
            why = f"BIP34 height {h}" + (" + witness commitment" if wc else "")
            if len(coins_set) == 1:
                c = cands[0]
                algo = _bip34_algo(c, f)
                if algo is not None and "version_algos" in c:
                    why += f" + version {preview(f.get('job.version'))} algo bits"
                hits.append(Hit("coins.bip34-height", o.probe, {"coin": c["coin"], **({"algo": algo} if algo else {})},
                                0.8, f"coins.bip34-height: {why} -> {c['coin']}{day_note} ({o.probe})"))
            elif len(algos) == 1 and None not in algos:
                hits.append(Hit("coins.bip34-height", o.probe, {"algo": next(iter(algos))}, 0.5,
                                f"coins.bip34-height: {why} fits {', '.join(sorted(coins_set))}{day_note} ({o.probe})"))
        elif isinstance(layout, str) and layout != "bitcoin":
            hits += _layout_hits(o, layout, coins, day)
        text = f.get("job.coinbase_text")
        if isinstance(text, str) and text:
            for t in coins.get("coinbase_tags", ()):
                if compile_regex(t["regex"]).search(text):
                    v = {k: t[k] for k in ("coin", "algo", "software") if k in t}
                    hits.append(Hit(f"coins.tag.{t['id']}", o.probe, v, 0.6 if v else 0.3,
                                    f"coins.tag.{t['id']}: coinbase tag of {t['pool']} ({o.probe})",
                                    relayed="software" in t))
        ep = f.get("eth.epoch")
        if isinstance(ep, int):
            cands = [c for c in coins.get("ethash_epochs", ()) if _in(ep, c["epochs"])]
            coins_set = {c["coin"] for c in cands}
            if len(coins_set) == 1:
                algos = {c["algo"] for c in cands}
                v = {"coin": cands[0]["coin"]}
                if len(algos) == 1:
                    v["algo"] = cands[0]["algo"]
                hits.append(Hit("coins.ethash-epoch", o.probe, v, 0.7,
                                f"coins.ethash-epoch: seed hash is epoch {ep} -> {v['coin']} ({o.probe})"))
            else:
                hits.append(Hit("coins.ethash-epoch", o.probe, {}, 0.1,
                                f"coins.ethash-epoch: seed hash is epoch {ep}, valid on {', '.join(sorted(coins_set)) or 'no known chain'} ({o.probe})"))
        algo_name = f.get("cn.algo")
        cn_algo = coins.get("cryptonote_algos", {}).get(algo_name) if isinstance(algo_name, str) else None
        if cn_algo:
            coin = coins.get("cryptonote_algo_coins", {}).get(algo_name)
            v = {"algo": cn_algo, **({"coin": coin} if coin else {})}
            hits.append(Hit("coins.cryptonote-algo", o.probe, v, 0.85,
                            f"coins.cryptonote-algo: job algo {preview(algo_name)} -> {cn_algo}"
                            + (f", a {coin}-only algorithm" if coin else "") + f" ({o.probe})"))
        ch = f.get("cn.height")
        if isinstance(ch, int):
            seed = f.get("cn.seed_hash") is True
            cands, dated = fit_heights([c for c in coins.get("cryptonote_chains", ())
                                        if (c.get("seed_hash") is None or c["seed_hash"] == seed)
                                        and (cn_algo is None or c["algo"] == cn_algo)], ch, day)
            if len({c["coin"] for c in cands}) == 1:
                c = cands[0]
                hits.append(Hit("coins.cryptonote-height", o.probe, {"coin": c["coin"], "algo": c["algo"]}, 0.75,
                                f"coins.cryptonote-height: height {ch}{' + seed_hash' if seed else ''} -> {c['coin']}{_on(day) if dated else ''} "
                                f"({o.probe})"))
    return hits


def _bip34_algo(c: dict[str, Any], f: dict[str, Any]) -> str | None:
    """The algorithm of a BIP34 chain entry: its ``algo``, or for a multi-algo chain (``version_algos``) the one
    whose bits the job's block version carries (None when they match none)."""
    algo = c.get("algo")
    va = c.get("version_algos")
    if algo is None and isinstance(va, dict):
        bits = altjobs.version_algo_bits(f.get("job.version"), va["mask"])
        if bits is not None:
            for x in va["algos"]:
                if x["bits"] == bits:
                    return x["algo"]
    return algo


def _layout_hits(o: Observation, layout: str, coins: dict[str, Any], day: int | None = None) -> list[Hit]:
    """Coin/algo hits of a non-Bitcoin job (facts ``job.*`` of :func:`scanner.fingerprint.observe._alt_job_facts`):
    the layout's algorithm (``job_layouts``), Equihash block version and personalization, and the height windows
    of KawPow/Ergo chains (``layout_heights``; a KawPow height counts only when the seed hash is that height's
    epoch). Only runs for transcripts whose job matched such a layout."""
    f = o.facts
    p = o.probe
    out: list[Hit] = []
    for e in coins.get("job_layouts", ()):
        if e["layout"] == layout:
            v = {"algo": e["algo"], **({"coin": e["coin"]} if "coin" in e else {})}
            out.append(Hit("coins.job-layout", p, v, 0.6,
                           f"coins.job-layout: {layout} job -> {e['algo']}" + (f", {e['coin']}" if "coin" in e else "")
                           + f" ({p})"))
    if layout == altjobs.EQUIHASH:
        ver = f.get("job.version_int")
        cands = [e for e in coins.get("equihash_versions", ()) if _in(ver, e["version"])]
        if len({e["coin"] for e in cands}) == 1:
            e = cands[0]
            out.append(Hit("coins.equihash-version", p, {"coin": e["coin"], **({"algo": e["algo"]} if "algo" in e else {})},
                           0.75, f"coins.equihash-version: block version {ver} -> {e['coin']} ({p})"))
        pers = f.get("job.personalization")
        if isinstance(pers, str):
            for e in coins.get("equihash_personalizations", ()):
                if e["personalization"] == pers:
                    out.append(Hit("coins.equihash-personalization", p,
                                   {"algo": e["algo"], **({"coin": e["coin"]} if "coin" in e else {})}, 0.95,
                                   f"coins.equihash-personalization: {preview(pers)} -> {e['algo']}"
                                   + (f", {e['coin']}" if "coin" in e else "") + f" ({p})"))
                    break
        return out
    h = f.get("job.height")
    if not isinstance(h, int):
        return out
    cands, dated = fit_heights([e for e in coins.get("layout_heights", ()) if e["layout"] == layout], h, day)
    why = f"{layout} height {h}"
    if layout == altjobs.KAWPOW:
        ep = f.get("job.seed_epoch")
        cands = [e for e in cands if isinstance(ep, int) and ep == h // e.get("epoch_length", altjobs.KAWPOW_EPOCH_LENGTH)]
        why += f" + seed epoch {ep}"
    if len({e["coin"] for e in cands}) == 1:
        e = cands[0]
        out.append(Hit("coins.layout-height", p, {"coin": e["coin"], "algo": e["algo"]}, 0.75,
                       f"coins.layout-height: {why} -> {e['coin']}{_on(day) if dated else ''} ({p})"))
    else:
        out.append(Hit("coins.layout-height", p, {}, 0.1,
                       f"coins.layout-height: {why} fits {', '.join(sorted({e['coin'] for e in cands})) or 'no known chain'}"
                       f"{_on(day) if dated else ''} ({p})"))
    return out


def _major_version_algo(observations: Sequence[Observation], coins: dict[str, Any], coin: str) -> Hit | None:
    for o in observations:
        mv = o.facts.get("cn.major_version")
        if isinstance(mv, int) and o.facts.get("cn.algo") is None:
            for m in coins.get("major_versions", ()):
                if m["coin"] == coin and _in(mv, m["major"]):
                    return Hit("coins.major-version", o.probe, {"algo": m["algo"]}, 0.6,
                               f"coins.major-version: {coin} blob major version {mv} -> {m['algo']} ({o.probe})")
    return None


def _best(hits: Sequence[Hit], key: str) -> tuple[Any, float]:
    best: Any = None
    conf = 0.0
    for h in hits:
        v = h.verdict.get(key)
        if v is not None and h.confidence > conf:
            best, conf = v, h.confidence
    return best, conf


_PROBE_SUFFIX = re.compile(r"^(.*) \(([a-z0-9+_-]+)\)$", re.S)


_PROBE_ID = re.compile(r"[a-z0-9+_-]+")


@functools.lru_cache(maxsize=256)
def _suffix_of(probe: Any) -> str | None:
    """``" (probe)"`` when ``probe`` is an id :data:`_PROBE_SUFFIX` would read back, else None."""
    return f" ({probe})" if isinstance(probe, str) and _PROBE_ID.fullmatch(probe) else None


def _split_probe(evidence: str, probe: Any = None) -> tuple[str, str | None]:
    """``"rule: what (stratum1)"`` -> (``"rule: what"``, ``"stratum1"``). ``probe``: the hit's own probe id, whose
    suffix is cut without the regex when the evidence ends with it (the same split: the regex takes the text
    after the last " (", and a probe id holds no "(")."""
    if probe is not None:
        try:
            suffix = _suffix_of(probe)
        except TypeError:  # an unhashable probe id
            suffix = None
        if suffix is not None and evidence.endswith(suffix) and len(evidence) > len(suffix):
            return evidence[: -len(suffix)], probe
    m = _PROBE_SUFFIX.match(evidence)
    return (m.group(1), m.group(2)) if m else (evidence, None)


def combine(hits: Sequence[Hit], observations: Sequence[Observation], fps: FingerprintSet) -> Verdict:
    """Fold hits into one Verdict (rules in the module docstring)."""
    pool_conf = max((h.confidence for h in hits if h.verdict.get("is_pool") is True), default=0.0)
    non_conf = max((h.confidence for h in hits if h.verdict.get("is_pool") is False), default=0.0)
    received = any(o.facts.get("bytes", 0) > 0 for o in observations)
    if pool_conf > 0 and pool_conf >= non_conf:
        is_pool: bool | None = True
        conf = pool_conf
    elif non_conf > 0:
        is_pool, conf = False, non_conf
    elif any("is_pool" in h.verdict and h.verdict["is_pool"] is None
             and not (received and h.verdict.get("label") == "tarpit") for h in hits):
        # A neutral label (tarpit, tls): can't tell yet. Silence on one probe is no tarpit when other probes
        # of the same port got bytes back: those bytes decide (below).
        is_pool, conf = None, 0.0
    elif received:
        is_pool, conf = False, UNKNOWN_CONFIDENCE
    else:
        is_pool, conf = None, 0.0
    agree = [h for h in hits if h.verdict.get("is_pool", is_pool) is is_pool or "is_pool" not in h.verdict]
    out: dict[str, Any] = {k: None for k in FIELDS}
    confs: dict[str, float] = {}
    notes: list[str] = []
    if is_pool is True:
        for k in ("protocol", "software", "coin", "algo"):
            out[k], confs[k] = _best(agree, k)
        own = [h for h in agree if not h.relayed and h.verdict.get("software") is not None]
        if own:
            relayed_sw, _ = _best([h for h in agree if h.relayed], "software")
            out["software"], _ = _best(own, "software")
            # own replies and relayed content that agree corroborate each other: the strongest of them counts
            confs["software"] = max(h.confidence for h in agree if h.verdict.get("software") == out["software"])
            if relayed_sw is not None and relayed_sw != out["software"]:
                notes.append(f"verdict.relayed-software: the job names {relayed_sw} (content a proxy relays from "
                             f"its upstream); the server's own replies name {out['software']}")
        if out["coin"] is not None and out["algo"] is None:
            extra = _major_version_algo(observations, fps.coins, out["coin"])
            if extra is not None:
                hits = list(hits) + [extra]
                agree.append(extra)
                out["algo"] = extra.verdict["algo"]
    else:
        labelled = [h for h in hits if h.verdict.get("is_pool", is_pool) is is_pool]
        out["label"], _ = _best(labelled, "label")
        if is_pool is False and out["label"] is None:
            out["label"] = "unknown" if conf <= UNKNOWN_CONFIDENCE else None
            if out["label"] == "unknown":
                # Say why: bytes came back, and no rule knows them (poolscan unknowns groups such services).
                answered = [o for o in observations if o.facts.get("bytes", 0) > 0]
                total = sum(int(o.facts.get("bytes", 0)) for o in answered)
                notes.append(f"verdict.unrecognised: {total} bytes answered to "
                             f"{', '.join(sorted({o.probe for o in answered}))}; no pool or service rule matched")
    if out["software"] is not None:
        conf = confs.get("software", conf)
    used = sorted(agree if is_pool is True else [h for h in hits if h.verdict.get("is_pool", is_pool) is is_pool],
                  key=lambda h: (-h.confidence, "software" not in h.verdict))
    evidence: list[str] = list(notes)
    # One line per fact: the same rule and value seen by several probes becomes "... (stratum1, cryptonote)".
    merged: dict[str, list[str]] = {}
    for h in used:
        text, probe = _split_probe(h.evidence, h.probe)
        if text not in merged:
            if len(merged) + len(notes) >= MAX_EVIDENCE:
                continue
            merged[text] = []
        if probe and probe not in merged[text]:
            merged[text].append(probe)
    evidence += [f"{t} ({', '.join(p)})" if p else t for t, p in merged.items()]
    return Verdict(is_pool=is_pool, protocol=out["protocol"], software=out["software"], coin=out["coin"],
                   algo=out["algo"], confidence=round(float(conf), 4), label=out["label"],
                   evidence=tuple(evidence), fingerprints_version=fps.version)


class _Compiled:
    """One rule ready to run: its index in ``fps.rules``, the rule, its compiled ``when`` (observation ->
    witnesses or None) and its needs (keys of :meth:`Observation.present` that must all be there)."""

    __slots__ = ("index", "rule", "match", "needs", "single", "rest")

    def __init__(self, index: int, rule: Rule) -> None:
        self.index = index
        self.rule = rule
        self.rest: frozenset[Any] = frozenset()  # needs left to check once indexed (set by _ProbeRules)
        self.single = None  # for a one-condition rule: the condition (observation -> witness or FAIL)
        try:
            self.match, self.needs = compile_when(rule.when)
            if len(rule.when) == 1:
                self.single = compile_condition(rule.when[0])[0]
        except Exception:  # noqa: BLE001 - a rule shape the compiler does not know: interpret it
            when = list(rule.when)
            self.match, self.needs = (lambda o: match_all(when, o)), frozenset()
            self.single = None


# Facts every observation has (observe sets them unconditionally): useless to select rules by.
_ALWAYS_FACTS = frozenset(("probe", "status", "tls", "closed", "bytes", "silent", "text", "lines", "json_messages",
                           "malformed", "echo", "error_codes", "error_texts"))


def _key_rank(key: Any) -> tuple[int, str]:
    if isinstance(key, tuple):
        if key[0] == "=":
            return (0, repr(key))
        return (1 if key[0] == "reply-error" else 2 if key[1] != "any" else 3, repr(key))
    return (4, str(key))


def _selective(c: _Compiled) -> list[Any]:
    """A rule's needs that some observation may lack, most selective first (:func:`_key_rank`)."""
    return sorted((k for k in c.needs if k not in _ALWAYS_FACTS), key=_key_rank)


_GLOBAL_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")
_BACKREF = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")  # backreferences and conditionals name groups by number


def _banner_pairs(rule: Rule) -> list[tuple[str, str]] | None:
    """``[(fact, regex), ...]`` when the rule is one condition that holds exactly when one of those facts matches
    its regex (a ``fact: X, regex: R`` leaf, or ``any`` of such leaves: the banner rules tried on every
    observation), else None."""
    if len(rule.when) != 1 or not isinstance(rule.when[0], dict):
        return None
    cond = rule.when[0]
    leaves = cond.get("any") if set(cond) == {"any"} else [cond]
    if not isinstance(leaves, list) or not leaves:
        return None
    if not all(isinstance(c, dict) and set(c) == {"fact", "regex"} and isinstance(c["regex"], str) for c in leaves):
        return None
    return [(str(c["fact"]), c["regex"]) for c in leaves]


def _anchored_body(pattern: str) -> str | None:
    """``pattern`` without its leading ``^`` (kept in a group with the pattern's global flags made local) when the
    whole pattern is anchored at the start of the text, else None."""
    import re._parser as sre_parse  # the stdlib parser behind re.compile (Python 3.11+)

    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, OverflowError, RecursionError):
        return None
    if not len(parsed) or parsed[0] != (sre_parse.AT, sre_parse.AT_BEGINNING):
        return None
    m = _GLOBAL_FLAGS.match(pattern)
    if m and ("m" in m.group(1) or "x" in m.group(1)):  # ^ at every line start; verbose layout: keep apart
        return None
    rest = pattern[m.end():] if m else pattern
    if not rest.startswith("^"):
        return None
    return f"(?{m.group(1)}:{rest[1:]})" if m else f"(?:{rest[1:]})"


def _prefilter(patterns: list[str]) -> list[Any] | None:
    """Searches that together find a match wherever one of ``patterns`` does: one ``^(?:a|b|...)`` for the
    patterns anchored at the start (tried at position 0 only, like each of them), and each other pattern on its
    own (an alternation would lose their literal-prefix scan). None when that cannot be built faithfully
    (backreferences or clashing group names would change meaning when patterns are joined)."""
    anchored, loose = [], []
    for p in patterns:
        body = _anchored_body(p)
        if body is None:
            loose.append(p)
        elif _BACKREF.search(p):
            return None
        else:
            anchored.append(body)
    try:
        out = [re.compile("^(?:" + "|".join(anchored) + ")").search] if anchored else []
        return out + [compile_regex(p).search for p in loose]
    except (re.error, OverflowError, RecursionError):
        return None


class _ProbeRules:
    """The rules that apply to one probe id: ``always`` (no selective need: tested on every observation,
    their needs being facts every observation has), ``by_key`` (each other rule under its most selective
    need, ``keys`` = those needs; the rule's other selective needs are its ``rest``, checked before it runs),
    and ``banner``: the always-rules that are regexes on facts (``text``, ``http.body``), run only when one
    alternation per fact (``prefilter``) finds something — a match of any of them is a match of the
    alternation, so nothing is skipped that could hold (issue 8: seven banner regexes per transcript became one
    or two searches)."""

    __slots__ = ("always", "by_key", "keys", "banner", "prefilter", "value_facts")

    def __init__(self, compiled: list[_Compiled]) -> None:
        self.always: list[_Compiled] = []
        self.by_key: dict[Any, list[_Compiled]] = {}
        self.banner: list[_Compiled] = []
        by_fact: dict[str, list[str]] = {}
        for c in compiled:
            selective = _selective(c)
            if selective:
                self.by_key.setdefault(selective[0], []).append(c)
                continue
            pairs = _banner_pairs(c.rule)
            if pairs is None:
                self.always.append(c)
                continue
            self.banner.append(c)
            for fact, rx in pairs:
                by_fact.setdefault(fact, []).append(rx)
        self.keys = frozenset(self.by_key)
        # the facts whose value keys can matter here: in an index key or a rule's rest
        self.value_facts = frozenset(k[1] for k in (*self.keys, *(r for cs in self.by_key.values() for c in cs
                                                                   for r in c.rest))
                                     if isinstance(k, tuple) and k[0] == "=")
        pre: list[tuple[str, Any]] | None = []
        for fact, patterns in by_fact.items():
            searches = _prefilter(patterns)
            if searches is None:
                pre = None
                break
            pre += [(fact, search) for search in searches]
        self.prefilter: tuple[tuple[str, Any], ...] | None = tuple(pre) if pre is not None else None
        if self.prefilter is None:  # no faithful alternation: the banner rules run on every observation
            self.always += self.banner
            self.banner = []

    def banner_may_hold(self, facts: dict[str, Any]) -> bool:
        """False when no banner rule can hold on ``facts`` (no alternation matches its fact)."""
        for fact, search in self.prefilter or ():
            v = facts.get(fact)
            if v is None or isinstance(v, bool):
                continue
            s = v if isinstance(v, str) else _as_text(v)
            if s is not None and search(s[:65536]) is not None:
                return True
        return False


class _Plan:
    """The rules of one fingerprint set, compiled once and indexed by probe id: ``for_probe(p)`` gives the
    rules that apply to probe ``p`` (``probe: any`` ones included), indexed by what they need."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self.compiled = [_Compiled(i, r) for i, r in enumerate(rules)]
        for c in self.compiled:
            c.rest = frozenset(_selective(c)[1:])
        self._by_probe: dict[Any, _ProbeRules] = {}
        self.silent_memo: dict[Any, tuple[list[tuple[int, Hit]], list[tuple[int, str]]]] = {}

    @staticmethod
    def present(o: Observation, pr: _ProbeRules) -> set[Any]:
        """The observation's keys (:meth:`Observation.present_keys`) plus the :func:`value_key` of each fact whose
        value the rules of ``pr`` (one probe) index by (``pr.value_facts``)."""
        facts = o.facts
        keys = o.present_keys()
        for name in facts.keys() & pr.value_facts:
            k = value_key(name, facts[name])
            if k is not None:
                keys.add(k)
        return keys

    def for_probe(self, probe: Any) -> _ProbeRules:
        try:
            return self._by_probe[probe]
        except KeyError:
            pass
        except TypeError:  # an unhashable probe id: no caching
            return _ProbeRules([c for c in self.compiled if c.rule.probes is None or probe in c.rule.probes])
        out = _ProbeRules([c for c in self.compiled if c.rule.probes is None or probe in c.rule.probes])
        if len(self._by_probe) < 256:
            self._by_probe[probe] = out
        return out


_PLANS: dict[int, _Plan] = {}


def _plan(fps: FingerprintSet) -> _Plan:
    """The compiled plan of ``fps.rules`` (cached by the identity of the rules tuple, which the plan keeps
    alive so the id is not reused)."""
    rules = fps.rules
    plan = _PLANS.get(id(rules))
    if plan is None or plan.rules is not rules:
        plan = _Plan(rules)
        if len(_PLANS) >= 16:
            _PLANS.clear()
        _PLANS[id(rules)] = plan
    return plan


def _observation_hits(plan: _Plan, o: Observation) -> tuple[list[tuple[int, Hit]], list[tuple[int, str]]]:
    """The rules of ``plan`` run on one observation: ``([(rule index, hit)], [(rule index, exception name)])``,
    rules in index order within each key of the plan's index (the caller sorts)."""
    out: list[tuple[int, Hit]] = []
    errors: list[tuple[int, str]] = []
    probe = o.probe
    pr = plan.for_probe(probe)
    try:
        present: Any = plan.present(o, pr)
    except Exception:  # noqa: BLE001 - no gating: the rules themselves meet the failure (and note it)
        present = None
    if present is None:
        todo: Any = pr.always + pr.banner + [c for cs in pr.by_key.values() for c in cs]
    else:
        # ``always`` rules need only facts every observation has; an indexed rule needs its key (present
        # here) and its ``rest``
        todo = pr.always
        if pr.banner and pr.banner_may_hold(o.facts):
            todo = todo + pr.banner
        keys = pr.keys & present
        if keys:
            by_key = pr.by_key
            todo = todo + [c for k in keys for c in by_key[k] if not c.rest or c.rest <= present]
    for c in todo:
        try:
            if c.single is not None:
                w = c.single(o)
                if w is FAIL:
                    continue
                w = [w]
            else:
                w = c.match(o)
                if w is None:
                    continue
            rule = c.rule
            out.append((c.index, Hit(rule.id, probe, rule.verdict, rule.confidence,
                                     _evidence(rule.id, rule.evidence, w, probe), rule.relayed)))
        except Exception as exc:  # noqa: BLE001
            errors.append((c.index, type(exc).__name__))
    return out, errors


_SILENT_MEMO_MAX = 1024


def _silent_key(o: Observation) -> Any:
    """The memo key of an observation that received nothing, or None. With no byte received there is no
    message, no HTTP response and no text: every rule input is a fact, so the facts (which include the probe id,
    status, TLS names and the requests' ``silent_after``/``answered``) determine the hits."""
    f = o.facts
    if f.get("bytes") != 0 or o.messages or o.http is not None or type(o.probe) is not str:
        return None  # (a probe id that is not a str: 1, True and 1.0 are one dict key)
    try:
        key = tuple(f.items())
        hash(key)
    except TypeError:
        return None
    return key


def _all_rule_hits(plan: _Plan, observations: Sequence[Observation], notes: list[str]) -> list[Hit]:
    """The hits of every rule of ``plan``, in the order ``[rule_hits(r, observations) for r in rules]``
    gives them (rule order, then observation order). A rule that fails on any observation contributes no
    hit and one ``classify.error`` note (in rule order), as :func:`rule_hits` under ``classify`` would.

    Silent transcripts (open, nothing received: a quarter of the bench corpus, most ports of a real sweep that
    do not speak any probed protocol) have one of few fact sets; their hits are memoised on the plan by those
    facts (:func:`_silent_key`; at most ``_SILENT_MEMO_MAX`` sets, then the memo starts again). An observation
    keeps its own hits (``Observation._hits``), so the probe engine, which re-classifies its growing list of
    transcripts after every probe (``classify(memo=)``), runs the rules once per transcript, not once per
    re-classification."""
    found: dict[int, list[Hit]] = {}
    failed: dict[int, str] = {}
    memo = plan.silent_memo
    for o in observations:
        mine = o._hits
        if mine is not None and mine[0] is plan:  # an observation classified again (classify(memo=))
            got = mine[1]
        else:
            key = _silent_key(o)
            got = memo.get(key) if key is not None else None
            if got is None:
                got = _observation_hits(plan, o)
                if key is not None:
                    if len(memo) >= _SILENT_MEMO_MAX:
                        memo.clear()
                    memo[key] = got
            o._hits = (plan, got)
        out, errors = got
        for i, name in errors:
            failed.setdefault(i, name)
        for i, hit in out:
            lst = found.get(i)
            if lst is None:
                found[i] = [hit]
            else:
                lst.append(hit)
    hits: list[Hit] = []
    for i in sorted(found):
        if i not in failed:
            hits += found[i]
    for i in sorted(failed):
        notes.append(f"classify.error: rule {plan.rules[i].id} failed: {failed[i]}")
    return hits


def classify(transcripts: Sequence[Transcript], fps: FingerprintSet,
             memo: dict[int, tuple[Transcript, Observation]] | None = None) -> Verdict:
    """The Verdict for the transcripts of ONE ip:port under fingerprint set ``fps``. Pure and total: never
    raises on transcript content (an internal failure on one transcript drops that transcript and is noted
    in the evidence).

    ``memo``: an optional dict the caller keeps while it classifies a growing list of the same transcripts
    (the probe engine re-classifies after every probe that ends, to stop early): each transcript object is
    observed once (keyed by ``id()``, the object kept alongside so that the id cannot be reused).

    Speed: the rules are compiled once per fingerprint set (:func:`scanner.fingerprint.rules.compile_when`)
    and a rule runs only on the transcripts of its probes whose observation has every reply, push and fact
    the rule needs; the result is the same as running :func:`rule_hits` for every rule."""
    observations: list[Observation] = []
    notes: list[str] = []
    for t in transcripts:
        if memo is not None:
            seen = memo.get(id(t))
            if seen is not None and seen[0] is t:
                observations.append(seen[1])
                continue
        try:
            o = observe(t)
        except Exception as exc:  # noqa: BLE001 - totality: hostile input must never crash a run
            notes.append(f"classify.error: transcript {getattr(t, 'probe', '?')} skipped: {type(exc).__name__}")
            continue
        observations.append(o)
        if memo is not None:
            memo[id(t)] = (t, o)
    hits = _all_rule_hits(_plan(fps), observations, notes)
    try:
        hits += coin_hits(observations, fps.coins)
    except Exception as exc:  # noqa: BLE001
        notes.append(f"classify.error: coin tables failed: {type(exc).__name__}")
    v = combine(hits, observations, fps)
    if notes:
        v = dataclasses.replace(v, evidence=v.evidence + tuple(notes))
    return v


def is_confident(verdict: Verdict) -> bool:
    """True when probing more cannot change ``verdict`` much: a pool whose protocol and software are both
    identified, the software with confidence >= 0.8 (a software named by an error to a foreign dialect, e.g.
    miningcore's ``Unsupported request login``, still leaves the protocol to find); or a non-pool with a
    specific label (not ``unknown``/``http``/``json-rpc``) at >= 0.8."""
    if verdict.is_pool is True:
        return verdict.software is not None and verdict.protocol is not None and verdict.confidence >= 0.8
    if verdict.is_pool is False:
        return verdict.label not in (None, "unknown", "http", "json-rpc") and verdict.confidence >= 0.8
    return False
