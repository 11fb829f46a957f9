"""The fingerprint files are valid data: schema, ids, regexes; errors name file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from scanner.errors import FingerprintError
from scanner.fingerprint import load_fingerprints, load_uncached
from scanner.fingerprint.loader import DEFAULT_ROOT, validate

RULE_FILES = sorted(p for d in ("software", "protocols", "nonpools") for p in (DEFAULT_ROOT / d).glob("*.yaml"))
COIN_FILES = sorted((DEFAULT_ROOT / "coins").glob("*.yaml"))

REQUIRED_SOFTWARE = {"ckpool", "nomp", "miningcore", "yiimp", "btcpool", "public-pool", "stratum-mining",
                     "open-ethereum-pool", "nodejs-pool", "moneroocean", "cryptonote-nodejs-pool", "xmrig-proxy",
                     "nicehash", "ocean", "sri-translator", "grin"}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rule_file_matches_schema(path: Path) -> None:
    text = path.read_text()
    validate(yaml.safe_load(text), yaml.compose(text), path.name, "rules.schema.json")


@pytest.mark.parametrize("path", COIN_FILES, ids=lambda p: p.name)
def test_coin_file_matches_schema(path: Path) -> None:
    text = path.read_text()
    validate(yaml.safe_load(text), yaml.compose(text), path.name, "coins.schema.json")


def test_default_set_loads_with_all_required_families() -> None:
    fps = load_fingerprints()
    assert len(fps.version) == 12 and int(fps.version, 16) >= 0
    softwares = {r.verdict.get("software") for r in fps.rules} - {None}
    assert REQUIRED_SOFTWARE <= softwares
    assert {"electrum", "bitcoind-rpc", "ethereum-node", "http", "redis", "json-rpc", "echo", "tarpit"} <= {
        r.verdict.get("label") for r in fps.rules}
    assert load_fingerprints() is fps  # cached


def test_every_software_file_cites_a_source() -> None:
    for path in RULE_FILES:
        refs = yaml.safe_load(path.read_text())["info"]["references"]
        assert refs and all(r["source"] for r in refs), path


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "fingerprints"
    shutil.copytree(DEFAULT_ROOT, root)
    return root


def test_schema_error_names_file_and_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "software" / "nomp.yaml"
    lines = p.read_text().splitlines()
    i = next(n for n, x in enumerate(lines) if "confidence: 0.9" in x)
    lines[i] = lines[i].replace("0.9", "1.7")
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(FingerprintError) as exc:
        load_uncached(root)
    msg = str(exc.value)
    assert msg.startswith(f"fingerprints/software/nomp.yaml:{i + 1}: "), msg
    assert "1.7" in msg


def test_id_must_equal_file_stem(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "software" / "ocean.yaml").rename(root / "software" / "oceanx.yaml")
    with pytest.raises(FingerprintError, match=r"^fingerprints/software/oceanx.yaml:\d+: id 'ocean' must equal"):
        load_uncached(root)


def test_bad_regex_is_reported_with_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "software" / "ocean.yaml"
    text = p.read_text().replace('regex: "OCEAN\\\\.XYZ"', 'regex: "OCEAN(["')
    assert "OCEAN([" in text
    p.write_text(text)
    line = next(n for n, x in enumerate(text.splitlines(), 1) if "OCEAN([" in x)
    with pytest.raises(FingerprintError, match=rf"^fingerprints/software/ocean.yaml:{line}: bad regex"):
        load_uncached(root)


def test_invalid_yaml_is_reported_with_line(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "nonpools" / "redis.yaml").write_text("id: redis\nkind: nonpool\ninfo: [unclosed\n")
    with pytest.raises(FingerprintError, match=r"^fingerprints/nonpools/redis.yaml:\d+: invalid YAML"):
        load_uncached(root)


def test_nonpool_file_cannot_claim_a_pool(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "nonpools" / "redis.yaml"
    p.write_text(p.read_text().replace("is_pool: false", "is_pool: true"))
    with pytest.raises(FingerprintError, match=r"redis.yaml:\d+: a nonpool rule cannot say is_pool: true"):
        load_uncached(root)


def test_duplicate_rule_id(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    p = root / "software" / "grin.yaml"
    data = yaml.safe_load(p.read_text())
    data["rules"].append(dict(data["rules"][0]))
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(FingerprintError, match=r"grin.yaml:\d+: rule id 'grin.login-ok' already defined"):
        load_uncached(root)


def test_version_changes_with_content(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    v1 = load_uncached(root).version
    p = root / "software" / "ocean.yaml"
    p.write_text(p.read_text().replace("confidence: 0.9", "confidence: 0.91"))
    assert load_uncached(root).version != v1


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FingerprintError, match=r":1: fingerprint directory not found"):
        load_uncached(tmp_path / "nope")
