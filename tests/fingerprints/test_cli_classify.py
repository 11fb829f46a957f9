"""`poolscan classify FILE.jsonl|-` re-labels stored ProbeResults without sending a packet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import fpdata
import scanner.cli.classify  # noqa: F401 - registers the command
from scanner.cli import cli
from scanner.errors import UsageError
from scanner.model import ProbeResult, Status, Verdict, dumps

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", "classify", *args], input=stdin, capture_output=True,
                          text=True, cwd=REPO, timeout=60)


def _records() -> str:
    stale = ProbeResult(ip="127.0.0.1", port=3008, status=Status.SUCCESS,
                        verdict=Verdict(is_pool=True, protocol="stratum1", confidence=0.9),
                        transcripts=tuple(fpdata.port_transcripts("nomp", 3008)))
    same = ProbeResult(ip="127.0.0.1", port=7, status=Status.SUCCESS,
                       verdict=Verdict(is_pool=False, label="echo", confidence=0.9),
                       transcripts=tuple(fpdata.SYNTHETIC["echo"]))
    return dumps(stale) + "\n\n" + dumps(same) + "\n"


def _invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["classify", *args], input=stdin)


def test_text_reports_changes(tmp_path: Path) -> None:
    f = tmp_path / "results.jsonl"
    f.write_text(_records())
    r = _invoke(str(f))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "127.0.0.1:3008  software: None -> nomp, coin: None -> BTC, algo: None -> sha256d"
    assert lines[-1].startswith("2 records, 1 changed (fingerprints ")


def test_json_from_stdin_round_trips() -> None:
    r = _invoke("-", "--json", stdin=_records())
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.output.splitlines()]
    assert [d["changed"] for d in out] == [{"software": [None, "nomp"], "coin": [None, "BTC"], "algo": [None, "sha256d"]}, {}]
    back = ProbeResult.from_dict(out[0])
    assert back.verdict.software == "nomp" and len(back.transcripts) == len(fpdata.port_transcripts("nomp", 3008))


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    """Through the real entry point: one line on stderr, exit code 2."""
    r = _run(str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and r.stderr.strip() == f"poolscan: error: {tmp_path / 'missing.jsonl'}: no such file"
    assert r.stdout == ""


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_records() + "{not json\n")
    r = _invoke(str(bad))
    assert isinstance(r.exception, UsageError) and r.exception.exit_code == 2
    assert str(r.exception).startswith(f"{bad}:4: not a ProbeResult record")


def test_record_without_transcripts_is_refused() -> None:
    r = _invoke("-", stdin='{"ip":"192.0.2.1","port":1,"status":"success","is_pool":null}\n')
    assert isinstance(r.exception, UsageError)
    assert "<stdin>:1:" in str(r.exception) and "--transcripts" in str(r.exception)
