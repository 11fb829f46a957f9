"""Campaign files: the shipped examples load, defaults and path resolution, and every kind of mistake is
one line naming file, line, table and key (exit code 2 through the real CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from campaign_helpers import ROOT, poolscan

from scanner.config import Campaign, load_campaign
from scanner.errors import UsageError

MINIMAL = """\
name = "t1"
[targets]
cidrs = ["127.0.0.1"]
[ports]
explicit = [3333]
[exclusions]
allow_reserved = true
"""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_example_and_lab_campaigns_are_valid():
    ex = load_campaign(ROOT / "campaigns" / "example.toml")
    assert ex.name == "example-nightly"
    assert ex.ports.named == ("pool",) and ex.ports.explicit == ("8545", "14000-14010")
    assert ex.sweep.engine == "connect" and ex.sweep.rate == 2000 and ex.sweep.seed is None
    assert ex.exports.formats == ("jsonl", "csv", "stix") and ex.exports.report is True
    assert ex.store.db == str(ROOT / "results" / "poolscan.db")  # relative to the campaign file
    lab = load_campaign(ROOT / "campaigns" / "lab.toml")
    assert lab.name == "lab" and lab.exclusions.allow_reserved is True
    assert 3333 in [int(p) for p in lab.ports.explicit]
    assert lab.store.db == str(ROOT / "results" / "lab.db")


def test_minimal_campaign_defaults_and_paths(tmp_path):
    c = load_campaign(write(tmp_path, MINIMAL))
    assert isinstance(c, Campaign)
    assert c.path == str(tmp_path / "c.toml")
    assert c.sweep.engine == "connect" and c.sweep.rate == 1000 and c.sweep.shards is None
    assert c.probe.concurrency == 200 and c.probe.tls == "auto" and c.probe.fast is False
    assert c.enrich.enabled is True and c.enrich.mmdb == ()
    assert c.store.db == str(tmp_path / "results" / "poolscan.db")
    assert c.exports.out_dir == str(tmp_path / "results" / "t1")
    assert c.exports.formats == ("jsonl", "csv") and c.exports.delta_only is False and c.exports.push is None
    assert len(c.source_hash) == 64
    with pytest.raises(AttributeError):
        c.name = "x"  # frozen


def test_full_campaign_values(tmp_path):
    (tmp_path / "t.txt").write_text("127.0.0.2\n# comment\n127.0.0.3\n")
    (tmp_path / "geo.mmdb").write_bytes(b"x")
    c = load_campaign(write(tmp_path, MINIMAL.replace('cidrs = ["127.0.0.1"]', 'cidrs = ["127.0.0.1"]\nfiles = ["t.txt"]')
                            + """
[sweep]
engine = "masscan"
netns = "poolscan-lab"
rate = 20000
seed = 77
shards = "2/3"
wait_s = 5
passes = 2
tarpit_threshold = 10
[probe]
concurrency = 50
fast = true
tls = "never"
timeout_scale = 2.0
reply_s = 1.5
max_bytes = 4096
[enrich]
mmdb = ["geo.mmdb"]
web = false
[store]
db = "/tmp/x/p.db"
[exports]
formats = ["stix", "misp"]
out_dir = "nightly"
delta_only = true
history = 10
[exports.push]
taxii_url = "http://127.0.0.1:5000/api1/"
collection = "c1"
username_env = "TAXII_USER"
password_env = "TAXII_PASS"
"""))
    assert c.targets.files == (str(tmp_path / "t.txt"),)
    assert c.sweep == c.sweep.__class__(engine="masscan", rate=20000, seed=77, shards=(2, 3), netns="poolscan-lab",
                                        production=False, wait_s=5.0, passes=2, tarpit_threshold=10)
    lim = c.probe.limits()
    assert lim.reply_s == 1.5 and lim.max_bytes == 4096 and lim.connect_s == 6.0  # scaled default 3.0 x 2
    assert c.enrich.mmdb == (str(tmp_path / "geo.mmdb"),) and c.enrich.web is False
    assert c.store.db == "/tmp/x/p.db" and c.exports.out_dir == str(tmp_path / "nightly")
    assert c.exports.push.collection == "c1" and c.exports.push.password_env == "TAXII_PASS"


# (toml body appended to MINIMAL or replacing it, expected message after "c.toml:")
BAD = [
    ('[sweep]\nrate = "fast"\n', '9: [sweep] rate: must be an integer 1..10000000, got "fast"'),
    ("[sweep]\nrate = 0\n", "9: [sweep] rate: must be an integer 1..10000000, got 0"),
    ("[sweep]\nrate = 10.5\n", "9: [sweep] rate: must be an integer 1..10000000, got 10.5"),
    ('[sweep]\nengine = "zmap"\n', '9: [sweep] engine: must be one of connect, masscan, got "zmap"'),
    ('[sweep]\nshards = "3/2"\n', '9: [sweep] shards: must be "i/n" with 1 <= i <= n (e.g. "1/4"), got "3/2"'),
    ('[sweep]\nnetns = "lab"\n', '9: [sweep] netns: only applies to engine = "masscan"'),
    ('[sweep]\nengine = "masscan"\n', '8: [sweep] netns: engine = "masscan" needs exactly one of netns = '
                                      '"<lab namespace>" or production = true'),
    ("[sweep]\nseed = -1\n", "9: [sweep] seed: must be an integer 0..2147483647, got -1"),
    ("[sweep]\npasses = 2\n", '9: [sweep] passes: only applies to engine = "masscan"'),
    ("[sweep]\ntarpit_threshold = 1\n", "9: [sweep] tarpit_threshold: must be an integer 2..65535, got 1"),
    ("[sweep]\nspeed = 3\n", "9: [sweep] speed: unknown key (expected one of: engine, rate, seed, shards, netns, "
                             "production, wait_s, passes, connect_timeout_s, concurrency, tarpit_threshold)"),
    ("[probe]\nconcurrency = 0\n", "9: [probe] concurrency: must be an integer 1..20000, got 0"),
    ('[probe]\ntls = "maybe"\n', '9: [probe] tls: must be one of auto, always, never, got "maybe"'),
    ('[probe]\nfast = "yes"\n', '9: [probe] fast: must be true or false, got "yes"'),
    ("[probe]\nsession_s = 0\n", "9: [probe] session_s: must be a number 0.1..600 seconds, got 0"),
    ("[probe]\ntimeout_scale = nan\n", "9: [probe] timeout_scale: must be a number 0.1..20, got nan"),
    ('[enrich]\nmmdb = ["nope.mmdb"]\n', "9: [enrich] mmdb: file not found: {dir}/nope.mmdb"),
    ('[exports]\nformats = ["pdf"]\n', '9: [exports] formats: unknown format (known: {formats}), got "pdf"'),
    ("[exports]\nhistory = 1\n", "9: [exports] history: must be an integer 2..1000, got 1"),
    ('[exports.push]\ncollection = "c"\n', "8: [exports.push] taxii_url: missing (the TAXII 2.1 API root or "
                                           "collection URL)"),
    ('[exports.push]\ntaxii_url = "ftp://x"\ncollection = "c"\n',
     '9: [exports.push] taxii_url: must be an http(s) URL, got "ftp://x"'),
    ('[exports.push]\ntaxii_url = "http://x/"\ncollection = "c"\nusername_env = "A B"\n',
     '11: [exports.push] username_env: must be an environment variable name, got "A B"'),
    ("[reports]\nx = 1\n", "8: [reports]: unknown table (expected one of: name, description, targets, ports, "
                           "exclusions, sweep, probe, enrich, store, exports)"),
    ('[store]\ndb = ""\n', '9: [store] db: must be a file path, got ""'),
    ('[exports]\npush = "http://x/"\n', '9: [exports] push: must be a table ([exports.push]), got "http://x/"'),
    ('[exports.pushh]\nx = 1\n', "8: [exports.pushh]: unknown table (expected one of: formats, out_dir, delta_only, "
                                  "report, history, push)"),
    ('[sweep]\nrate = 5\n[sweep.x]\n', "10: [sweep.x]: unknown table (expected one of: engine, rate, seed, shards, "
                                        "netns, production, wait_s, passes, connect_timeout_s, concurrency, tarpit_threshold)"),
]


@pytest.mark.parametrize("extra,expected", BAD, ids=[b[1].split(":")[1].strip() + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_values_name_file_line_table_key(tmp_path, extra, expected):
    from scanner.config import _exporter_formats

    p = write(tmp_path, MINIMAL + extra)
    with pytest.raises(UsageError) as ei:
        load_campaign(p)
    want = f"{p}:" + expected.format(dir=tmp_path, formats=", ".join(_exporter_formats()))
    assert str(ei.value) == want
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("text,expected", [
    ("", "a: name: missing (a campaign needs a name, e.g. name = \"nightly\")"),
    ('name = "bad name!"\n', "1: name: must be a name of letters, digits, '.', '_', '-' (1-64), got \"bad name!\""),
    ('name = "a"\n', "a: targets: missing table [targets] (cidrs and/or files)"),
    ('name = "a"\n[targets]\ncidrs = ["127.0.0.1"]\n', "a: ports: missing table [ports] (e.g. named = [\"pool\"])"),
    ('name = "a"\n[targets]\ncidrs = []\n[ports]\nnamed = ["pool"]\n', "2: [targets]: needs at least one of cidrs or files"),
    ('name = "a"\n[targets]\ncidrs = ["10.0.0.300/24"]\n[ports]\nnamed = ["pool"]\n',
     "3: [targets] cidrs: '10.0.0.300/24' is not an IP address or network"),
    ('name = "a"\n[targets]\ncidrs = ["127.0.0.1"]\n[ports]\nnamed = ["pool"]\n',
     "3: [targets] cidrs: 127.0.0.1 is reserved/excluded"),
    ('name = "a"\n[targets]\ncidrs = ["127.0.0.1"]\n[ports]\nexplicit = [70000]\n',
     "5: [ports] explicit: port must be 1..65535, got 70000"),
    ('name = "a"\n[targets]\ncidrs = ["127.0.0.1"]\n[ports]\nnamed = ["web"]\n',
     '5: [ports] named: unknown port list (known: pool, pools), got "web"'),
    ('name = "a"\n[targets]\nfiles = ["missing.txt"]\n[ports]\nnamed = ["pool"]\n',
     "3: [targets] files: file not found: {dir}/missing.txt"),
    ('name = "a"\nsweep = 5\n[targets]\ncidrs = ["127.0.0.1"]\n[ports]\nexplicit = [1]\n[exclusions]\n'
     'allow_reserved = true\n', "2: sweep: must be a table ([sweep]), got 5"),
    ('name = "a"\n[targets\ncidrs = 1\n', "2: invalid TOML: "),
    ('name = "a"\nname = "b"\n', "2: invalid TOML: "),
])
def test_structural_mistakes(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(UsageError) as ei:
        load_campaign(p)
    msg = str(ei.value)
    want = expected.format(dir=tmp_path)
    if want.startswith("a: "):  # no line: the key is missing
        assert msg == f"{p}: {want[3:]}"
    else:
        assert msg.startswith(f"{p}:{want}"), msg
    if "reserved" in want:
        assert "[exclusions] allow_reserved = true" in msg


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(UsageError, match=r"nope.toml: campaign file not found$"):
        load_campaign(tmp_path / "nope.toml")
    p = tmp_path / "bin.toml"
    p.write_bytes(b'name = "a"\n\xff\xfe\n')
    with pytest.raises(UsageError, match=r"bin.toml:2: not UTF-8 text$"):
        load_campaign(p)


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    p = write(tmp_path, MINIMAL + '[sweep]\nrate = "fast"\n', "x.toml")
    for cmd in (("campaign", "check", str(p)), ("campaign", "run", str(p))):
        r = poolscan(*cmd)
        assert r.returncode == 2, r.stderr
        assert r.stderr == f'poolscan: error: {p}:9: [sweep] rate: must be an integer 1..10000000, got "fast"\n'
        assert r.stdout == ""
    assert not (tmp_path / "results").exists()  # nothing was created, nothing was sent


def test_cli_check_ok(tmp_path):
    r = poolscan("campaign", "check", str(write(tmp_path, MINIMAL)))
    assert r.returncode == 0, r.stderr
    assert "ok — campaign t1: 1 addresses x 1 ports = 1 probes, connect sweep at 1000/s" in r.stdout


def test_push_credentials_must_be_set_before_the_run(tmp_path, monkeypatch):
    from scanner.campaign import check_push_credentials

    p = write(tmp_path, MINIMAL + '[exports.push]\ntaxii_url = "http://127.0.0.1:9/"\ncollection = "c"\n'
                                  'password_env = "POOLSCAN_TEST_TAXII_PW"\n')
    c = load_campaign(p)
    monkeypatch.delenv("POOLSCAN_TEST_TAXII_PW", raising=False)
    with pytest.raises(UsageError, match=r"\[exports.push\] password_env: environment variable "
                                         r"POOLSCAN_TEST_TAXII_PW is not set$"):
        check_push_credentials(c)
    monkeypatch.setenv("POOLSCAN_TEST_TAXII_PW", "s3cret")
    check_push_credentials(c)
