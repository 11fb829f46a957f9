"""Campaign files: TOML (``tomllib``) -> frozen dataclasses, every field validated.

A campaign is what a nightly ``poolscan campaign run FILE`` scans and where the results go. The format is
documented key by key in ``campaigns/example.toml``; in short::

    name = "nightly-eu"                      # required: [A-Za-z0-9][A-Za-z0-9._-]{0,63}
    [targets]    cidrs = [...], files = [...]            # at least one target item
    [ports]      named = ["pool"], explicit = [3333, "14000-14010"], files = [...]
    [exclusions] files = [...], ranges = [...], allow_reserved = false
    [sweep]      engine = "connect"|"masscan", rate = 1000, seed = 42, shards = "1/4", netns = "..." |
                 production = true, wait_s = 10, passes = 1, connect_timeout_s = 1.5, concurrency = 512,
                 tarpit_threshold = 64
    [probe]      concurrency = 200, fast = false, tls = "auto"|"always"|"never", timeout_scale = 1.0,
                 connect_s / reply_s / job_s / idle_s / session_s (seconds), max_bytes (bytes)
    [enrich]     enabled = true, mmdb = [...], web = true
    [store]      db = "results/poolscan.db"
    [exports]    formats = ["jsonl", "csv"], out_dir = "results/nightly-eu", delta_only = false,
                 report = true, history = 30
    [exports.push]  taxii_url = "...", collection = "...", username_env = "VAR", password_env = "VAR"

Relative paths (targets/exclusion/port files, mmdb, db, out_dir) are resolved against the directory of the
campaign file, so a cron job or a systemd unit finds the same files whatever its working directory.

Errors: :func:`load_campaign` raises :class:`scanner.errors.UsageError` (exit code 2) with one line that
names the file, the line when it can be found, the table and the key::

    campaigns/x.toml:12: [sweep] rate: must be an integer 1..10000000, got "fast"

Unknown tables and keys are errors too (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import UsageError

#: Campaign names: used in run rows, lock file names and report titles.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
ENGINES = ("connect", "masscan")
TLS_MODES = ("auto", "always", "never")
#: Export formats accepted when ``scanner.export.EXPORTERS`` cannot be imported (it names the real set).
FALLBACK_FORMATS = ("jsonl", "csv", "stix", "misp")
MAX_RATE = 10_000_000
MAX_FILE_BYTES = 1 << 20  # a campaign file larger than 1 MiB is a mistake


@dataclass(frozen=True, slots=True)
class TargetsConfig:
    """``[targets]``: ``cidrs`` items (IP, CIDR, ``a-b`` range, ``ip:port``) and ``files`` (absolute paths)
    of such items, one per line. At least one of the two is non-empty."""

    cidrs: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def spec(self) -> list[str]:
        """The list handed to :func:`scanner.targets.parse_targets` (files as ``@path``)."""
        return list(self.cidrs) + [f"@{f}" for f in self.files]


@dataclass(frozen=True, slots=True)
class PortsConfig:
    """``[ports]``: ``named`` lists (``pool`` = ``seeds/ports.txt``), ``explicit`` ports or ``"a-b"`` ranges,
    ``files`` of ports (absolute paths). The union is swept, first occurrence order."""

    named: tuple[str, ...] = ()
    explicit: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def spec(self) -> list[str]:
        """The list handed to :func:`scanner.targets.parse_ports`."""
        return list(self.named) + list(self.explicit) + [f"@{f}" for f in self.files]


@dataclass(frozen=True, slots=True)
class ExclusionsConfig:
    """``[exclusions]``: extra exclude ``files`` and ``ranges`` (added to ``seeds/exclude.txt``, never
    replacing it); ``allow_reserved`` lifts only loopback/private/CGNAT (a lab or your own network)."""

    files: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    allow_reserved: bool = False


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """``[sweep]``: engine ``connect`` (any user) or ``masscan`` (root); ``rate`` packets/s; ``seed``
    (masscan's ``--seed``; None = a fresh one per run, saved with the run); ``shards`` ``(i, n)``;
    ``netns`` (masscan only: the project's own namespace) or ``production`` (masscan only: sweep the real
    network from this machine; exactly one of the two with masscan); ``wait_s`` (masscan's ``--wait``, seconds);
    ``passes`` (masscan: sweep this many times, results de-duplicated); ``connect_timeout_s`` (connect
    engine, seconds); ``concurrency`` (connect engine: connects at once); ``tarpit_threshold`` (a host with
    more open ports is flagged as a tarpit and probed lightly, :class:`scanner.sweep.TarpitGuard`)."""

    engine: str = "connect"
    rate: int = 1000
    seed: int | None = None
    shards: tuple[int, int] | None = None
    netns: str | None = None
    production: bool = False
    wait_s: float | None = None
    passes: int = 1
    connect_timeout_s: float | None = None
    concurrency: int | None = None
    tarpit_threshold: int = 64


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    """``[probe]``: ``concurrency`` ports probed at once; ``fast``; ``tls`` mode; ``timeout_scale`` (times
    every limit); explicit overrides in seconds (``connect_s``, ``reply_s``, ``job_s``, ``idle_s``,
    ``session_s``) and bytes (``max_bytes``) of :class:`scanner.transport.limits.Limits`."""

    concurrency: int = 200
    fast: bool = False
    tls: str = "auto"
    timeout_scale: float = 1.0
    connect_s: float | None = None
    reply_s: float | None = None
    job_s: float | None = None
    idle_s: float | None = None
    session_s: float | None = None
    max_bytes: int | None = None

    def limits(self) -> Any:
        """The :class:`~scanner.transport.limits.Limits` of this config (defaults scaled, then overrides)."""
        from dataclasses import replace

        from scanner.transport.limits import Limits

        lim = Limits().scaled(self.timeout_scale)
        over = {k: getattr(self, k) for k in ("connect_s", "reply_s", "job_s", "idle_s", "session_s", "max_bytes")
                if getattr(self, k) is not None}
        return replace(lim, **over) if over else lim


@dataclass(frozen=True, slots=True)
class EnrichConfig:
    """``[enrich]``: ``enabled``; ``mmdb`` MaxMind-format databases (absolute paths, must exist); ``web``
    (fetch the pool's web front/API from the pool's own address)."""

    enabled: bool = True
    mmdb: tuple[str, ...] = ()
    web: bool = True


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """``[store]``: ``db`` the SQLite file (absolute path)."""

    db: str = ""


@dataclass(frozen=True, slots=True)
class PushConfig:
    """``[exports.push]``: a TAXII 2.1 push. Credentials are never in the file: ``username_env`` and
    ``password_env`` name environment variables read at run time."""

    taxii_url: str
    collection: str
    username_env: str | None = None
    password_env: str | None = None


@dataclass(frozen=True, slots=True)
class ExportsConfig:
    """``[exports]``: ``formats`` (keys of ``scanner.export.EXPORTERS``); ``out_dir`` (absolute; each run
    writes ``out_dir/<run id>/``); ``delta_only`` (export only pools new or changed since the campaign's
    previous finished run); ``report`` (write ``report.html``); ``history`` (runs in the report's chart)."""

    formats: tuple[str, ...] = ("jsonl", "csv")
    out_dir: str = ""
    delta_only: bool = False
    report: bool = True
    history: int = 30
    push: PushConfig | None = None


@dataclass(frozen=True, slots=True)
class Campaign:
    """A validated campaign file. ``path`` is the file it came from (absolute); ``source_hash`` the sha256
    of its bytes (saved with each run)."""

    name: str
    path: str
    targets: TargetsConfig
    ports: PortsConfig
    description: str = ""
    exclusions: ExclusionsConfig = field(default_factory=ExclusionsConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    exports: ExportsConfig = field(default_factory=ExportsConfig)
    source_hash: str = ""

    @property
    def db_path(self) -> Path:
        return Path(self.store.db)

    @property
    def out_dir(self) -> Path:
        return Path(self.exports.out_dir)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (saved as the run's args)."""
        from dataclasses import asdict

        return asdict(self)


# ------------------------------------------------------------------------------------------ locating keys
_HEADER_RE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def _locate(text: str, table: str, key: str | None) -> int | None:
    """1-based line of ``key`` in ``[table]`` (``table`` "" = top level), or of the table header when
    ``key`` is None; None when not found (e.g. inline tables or dotted keys)."""
    current = ""
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER_RE.match(line)
        if m and not line.lstrip().startswith("[["):
            current = ".".join(p.strip().strip('"') for p in m.group(1).split("."))
            if key is None and current == table:
                return n
            continue
        if key is not None and current == table:
            k = _KEY_RE.match(line)
            if k and k.group(1).strip('"') == key:
                return n
    return None


class _Ctx:
    """Validation context: the file, its text, and how to word an error."""

    def __init__(self, path: Path, display: str, text: str) -> None:
        self.path, self.display, self.text = path, display, text
        self.base = path.resolve().parent

    def error(self, table: str, key: str | None, message: str) -> UsageError:
        line = _locate(self.text, table, key)
        if line is None and key is not None:
            line = _locate(self.text, table, None)
        where = f"{self.display}:{line}" if line else self.display
        what = f"[{table}] {key}" if table and key else (f"[{table}]" if table else str(key))
        return UsageError(f"{where}: {what}: {message}")


def _show(value: Any) -> str:
    """A value as the user wrote it, short and on one line."""
    if isinstance(value, str):
        s = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, dict):
        s = "a table"
    else:
        s = repr(value)
    s = "".join(ch if ch.isprintable() else "?" for ch in s)
    return s if len(s) <= 60 else s[:57] + "..."


class _Table:
    """One TOML table being read: typed getters that raise a located :class:`UsageError`."""

    def __init__(self, ctx: _Ctx, name: str, data: Any, allowed: tuple[str, ...]) -> None:
        self.ctx, self.name = ctx, name
        if data is None:
            data = {}
        if not isinstance(data, dict):
            parent, _, child = name.rpartition(".")
            raise ctx.error(parent, child, f"must be a table ([{name}]), got {_show(data)}")
        self.data = data
        for key in data:
            if key not in allowed:
                expected = f"(expected one of: {', '.join(allowed)})"
                if isinstance(data[key], dict):
                    raise ctx.error(f"{name}.{key}" if name else key, None, f"unknown table {expected}")
                raise ctx.error(name, key, f"unknown key {expected}")

    def err(self, key: str, message: str, value: Any = ...) -> UsageError:
        if value is not ...:
            message = f"{message}, got {_show(value)}"
        return self.ctx.error(self.name, key, message)

    def has(self, key: str) -> bool:
        return key in self.data

    def boolean(self, key: str, default: bool) -> bool:
        v = self.data.get(key, default)
        if not isinstance(v, bool):
            raise self.err(key, "must be true or false", v)
        return v

    def integer(self, key: str, lo: int, hi: int, default: int | None) -> int | None:
        if key not in self.data:
            return default
        v = self.data[key]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise self.err(key, f"must be an integer {lo}..{hi}", v)
        return v

    def number(self, key: str, lo: float, hi: float, default: float | None, unit: str = "") -> float | None:
        if key not in self.data:
            return default
        v = self.data[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            raise self.err(key, f"must be a number {lo:g}..{hi:g}{unit}", v)
        return float(v)

    def string(self, key: str, default: str | None, choices: tuple[str, ...] | None = None,
               pattern: re.Pattern[str] | None = None, what: str = "a string") -> str | None:
        if key not in self.data:
            return default
        v = self.data[key]
        if not isinstance(v, str) or not v.strip():
            raise self.err(key, f"must be {what}", v)
        if choices is not None and v not in choices:
            raise self.err(key, f"must be one of {', '.join(choices)}", v)
        if pattern is not None and not pattern.match(v):
            raise self.err(key, f"must be {what}", v)
        return v

    def strings(self, key: str, what: str = "a list of strings") -> tuple[str, ...]:
        if key not in self.data:
            return ()
        v = self.data[key]
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            raise self.err(key, f"must be {what}", v)
        return tuple(x.strip() for x in v)

    def path(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else (self.ctx.base / p)))

    def files(self, key: str, must_exist: bool = True) -> tuple[str, ...]:
        out = []
        for raw in self.strings(key, "a list of file paths"):
            p = self.path(raw)
            if must_exist and not p.is_file():
                raise self.err(key, f"file not found: {p}")
            out.append(str(p))
        return tuple(out)


def _exporter_formats() -> tuple[str, ...]:
    try:
        from scanner.export import EXPORTERS  # type: ignore[attr-defined]

        keys = tuple(EXPORTERS)
        return keys or FALLBACK_FORMATS
    except Exception:  # the export package may be absent or still empty
        return FALLBACK_FORMATS


# ------------------------------------------------------------------------------------------ loading
def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file.

    Returns a :class:`Campaign` (frozen; paths absolute). Raises :class:`UsageError` (exit 2) with one
    line ``file[:line]: [table] key: what is wrong, got VALUE`` for a missing/unreadable file, invalid TOML
    (tomllib's line and column), an unknown table or key, a wrong type or range, a missing required key,
    a missing file named by the campaign, or targets/ports that :mod:`scanner.targets` refuses.
    """
    p = Path(path)
    display = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{display}: campaign file not found") from None
    except OSError as exc:
        raise UsageError(f"{display}: cannot read campaign file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{display}: campaign file larger than {MAX_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UsageError(f"{display}:{line}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        where = f"{display}:{m.group(1)}" if m else display
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) + (f" (column {m.group(2)})" if m else "")
        raise UsageError(f"{where}: invalid TOML: {msg}") from None
    import hashlib

    ctx = _Ctx(p, display, text)
    return _build(ctx, data, hashlib.sha256(raw).hexdigest())


_TOP = ("name", "description", "targets", "ports", "exclusions", "sweep", "probe", "enrich", "store", "exports")


def _build(ctx: _Ctx, data: dict[str, Any], digest: str) -> Campaign:
    top = _Table(ctx, "", data, _TOP)
    if "name" not in data:
        raise ctx.error("", "name", 'missing (a campaign needs a name, e.g. name = "nightly")')
    name = top.string("name", None, pattern=NAME_RE, what="a name of letters, digits, '.', '_', '-' (1-64)")
    description = top.string("description", "") or ""
    assert name is not None

    # [targets]
    if "targets" not in data:
        raise ctx.error("", "targets", "missing table [targets] (cidrs and/or files)")
    t = _Table(ctx, "targets", data["targets"], ("cidrs", "files"))
    targets = TargetsConfig(cidrs=t.strings("cidrs", "a list of IPs, CIDRs or ranges"), files=t.files("files"))
    if not targets.cidrs and not targets.files:
        raise ctx.error("targets", None, "needs at least one of cidrs or files")

    # [ports]
    if "ports" not in data:
        raise ctx.error("", "ports", 'missing table [ports] (e.g. named = ["pool"])')
    pt = _Table(ctx, "ports", data["ports"], ("named", "explicit", "files"))
    from scanner.targets import NAMED_PORT_LISTS

    named = pt.strings("named")
    for n in named:
        if n.lower() not in NAMED_PORT_LISTS:
            raise pt.err("named", f"unknown port list (known: {', '.join(sorted(NAMED_PORT_LISTS))})", n)
    explicit: list[str] = []
    ev = pt.data.get("explicit", [])
    if not isinstance(ev, list):
        ev = [ev]
    for item in ev:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise pt.err("explicit", 'must list ports (3333) or ranges ("14000-14010")', item)
        if isinstance(item, int):
            if not 1 <= item <= 65535:
                raise pt.err("explicit", "port must be 1..65535", item)
        elif not re.fullmatch(r"\s*\d{1,5}\s*(-\s*\d{1,5}\s*)?", item):
            raise pt.err("explicit", 'must list ports (3333) or ranges ("14000-14010")', item)
        explicit.append(str(item).replace(" ", ""))
    ports = PortsConfig(named=tuple(n.lower() for n in named), explicit=tuple(explicit), files=pt.files("files"))
    if not ports.named and not ports.explicit and not ports.files:
        raise ctx.error("ports", None, "needs at least one of named, explicit or files")
    from scanner.targets import parse_ports

    try:
        parse_ports(ports.spec())
    except UsageError as exc:
        raise ctx.error("ports", "explicit" if explicit else None, str(exc).removeprefix("--ports: ")) from None

    # [exclusions]
    ex = _Table(ctx, "exclusions", data.get("exclusions"), ("files", "ranges", "allow_reserved"))
    exclusions = ExclusionsConfig(files=ex.files("files"), ranges=ex.strings("ranges", "a list of IP ranges"),
                                  allow_reserved=ex.boolean("allow_reserved", False))

    # [sweep]
    sw = _Table(ctx, "sweep", data.get("sweep"), ("engine", "rate", "seed", "shards", "netns", "production", "wait_s",
                                                  "passes", "connect_timeout_s", "concurrency", "tarpit_threshold"))
    engine = sw.string("engine", "connect", choices=ENGINES)
    rate = sw.integer("rate", 1, MAX_RATE, 1000)
    seed = sw.integer("seed", 0, 2**31 - 1, None)
    shards = None
    if sw.has("shards"):
        v = sw.data["shards"]
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", v) if isinstance(v, str) else None
        if not m or not 1 <= int(m.group(1)) <= int(m.group(2)) <= 65535:
            raise sw.err("shards", 'must be "i/n" with 1 <= i <= n (e.g. "1/4")', v)
        shards = (int(m.group(1)), int(m.group(2)))
    netns = sw.string("netns", None, pattern=re.compile(r"^[A-Za-z0-9_.-]{1,64}$"), what="a namespace name")
    production = sw.boolean("production", False)
    if netns is not None and engine != "masscan":
        raise sw.err("netns", 'only applies to engine = "masscan"')
    if production and engine != "masscan":
        raise sw.err("production", 'only applies to engine = "masscan"')
    if engine == "masscan" and (netns is None) == (not production):
        key = "netns" if netns is None else "production"
        raise sw.err(key, 'engine = "masscan" needs exactly one of netns = "<lab namespace>" or production = true')
    sweep = SweepConfig(
        engine=engine or "connect", rate=rate or 1000, seed=seed, shards=shards, netns=netns, production=production,
        wait_s=sw.number("wait_s", 0, 600, None, " seconds"),
        passes=sw.integer("passes", 1, 5, 1) or 1,
        connect_timeout_s=sw.number("connect_timeout_s", 0.05, 60, None, " seconds"),
        concurrency=sw.integer("concurrency", 1, 65535, None),
        tarpit_threshold=sw.integer("tarpit_threshold", 2, 65535, 64) or 64,
    )
    if sweep.passes != 1 and engine != "masscan":
        raise sw.err("passes", 'only applies to engine = "masscan"')

    # [probe]
    pr = _Table(ctx, "probe", data.get("probe"), ("concurrency", "fast", "tls", "timeout_scale", "connect_s",
                                                  "reply_s", "job_s", "idle_s", "session_s", "max_bytes"))
    probe = ProbeConfig(
        concurrency=pr.integer("concurrency", 1, 20000, 200) or 200,
        fast=pr.boolean("fast", False),
        tls=pr.string("tls", "auto", choices=TLS_MODES) or "auto",
        timeout_scale=pr.number("timeout_scale", 0.1, 20, 1.0) or 1.0,
        connect_s=pr.number("connect_s", 0.05, 120, None, " seconds"),
        reply_s=pr.number("reply_s", 0.05, 120, None, " seconds"),
        job_s=pr.number("job_s", 0.0, 120, None, " seconds"),
        idle_s=pr.number("idle_s", 0.0, 60, None, " seconds"),
        session_s=pr.number("session_s", 0.1, 600, None, " seconds"),
        max_bytes=pr.integer("max_bytes", 1024, 64 << 20, None),
    )

    # [enrich]
    en = _Table(ctx, "enrich", data.get("enrich"), ("enabled", "mmdb", "web"))
    enrich = EnrichConfig(enabled=en.boolean("enabled", True), mmdb=en.files("mmdb"), web=en.boolean("web", True))

    # [store]
    st = _Table(ctx, "store", data.get("store"), ("db",))
    db_raw = st.string("db", "results/poolscan.db", what="a file path") or "results/poolscan.db"
    db = st.path(db_raw)
    if db.is_dir():
        raise st.err("db", "is a directory, expected an SQLite file path", db_raw)
    store = StoreConfig(db=str(db))

    # [exports]
    xp = _Table(ctx, "exports", data.get("exports"), ("formats", "out_dir", "delta_only", "report", "history", "push"))
    known = _exporter_formats()
    formats = xp.strings("formats") if xp.has("formats") else ("jsonl", "csv")
    for f in formats:
        if f not in known:
            raise xp.err("formats", f"unknown format (known: {', '.join(known)})", f)
    out_raw = xp.string("out_dir", f"results/{name}", what="a directory path") or f"results/{name}"
    out_dir = xp.path(out_raw)
    if out_dir.exists() and not out_dir.is_dir():
        raise xp.err("out_dir", "exists and is not a directory", out_raw)
    push = None
    if xp.has("push"):
        pu = _Table(ctx, "exports.push", xp.data["push"], ("taxii_url", "collection", "username_env", "password_env"))
        url = pu.string("taxii_url", None, pattern=re.compile(r"^https?://[^\s]+$"), what="an http(s) URL")
        if url is None:
            raise pu.err("taxii_url", "missing (the TAXII 2.1 API root or collection URL)")
        coll = pu.string("collection", None, what="a collection id or title")
        if coll is None:
            raise pu.err("collection", "missing (the TAXII collection id or title)")
        push = PushConfig(
            taxii_url=url, collection=coll,
            username_env=pu.string("username_env", None, pattern=_ENV_RE, what="an environment variable name"),
            password_env=pu.string("password_env", None, pattern=_ENV_RE, what="an environment variable name"),
        )
    exports = ExportsConfig(formats=tuple(formats), out_dir=str(out_dir), delta_only=xp.boolean("delta_only", False),
                            report=xp.boolean("report", True), history=xp.integer("history", 2, 1000, 30) or 30,
                            push=push)

    campaign = Campaign(name=name, path=str(ctx.path.resolve()), description=description, targets=targets,
                        ports=ports, exclusions=exclusions, sweep=sweep, probe=probe, enrich=enrich, store=store,
                        exports=exports, source_hash=digest)
    _check_targets(ctx, campaign)
    return campaign


def _check_targets(ctx: _Ctx, c: Campaign) -> None:
    """Parse the targets with the real parser so a bad CIDR or an excluded range is a config error now,
    not a failure at 2 a.m. Errors from target files already name ``file:line``."""
    from scanner.targets import parse_targets

    try:
        ts = parse_targets(c.targets.spec(), allow_reserved=c.exclusions.allow_reserved,
                           extra_excludes=c.exclusions.ranges, exclude_files=c.exclusions.files)
    except UsageError as exc:
        msg = str(exc).replace("--allow-reserved", "[exclusions] allow_reserved = true")
        if msg.startswith("targets: "):
            raise ctx.error("targets", "cidrs", msg.removeprefix("targets: ")) from None
        if msg.startswith("--exclude-range: "):
            raise ctx.error("exclusions", "ranges", msg.removeprefix("--exclude-range: ")) from None
        raise ctx.error("targets", None, msg) from None
    if ts.count() == 0 and ts.pair_count == 0:
        raise ctx.error("targets", None, "no target left after exclusions")
