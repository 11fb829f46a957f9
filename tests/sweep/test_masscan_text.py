"""masscan's output and stderr as text: the parser (case C40) and the error lines (cases C36, C38).

No packets: these tests feed recorded text (the cases, and stderr captured from masscan 1.3.2 on this
machine inside a lab namespace) to the pure functions. tests/netns provokes the same failures for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.sweep.masscan import diagnose, parse_output_line

ROOT = Path(__file__).resolve().parents[2]
CASE_FILES = (ROOT / "scanner" / "lab" / "data" / "cases.jsonl", ROOT.parent / "shared" / "cases" / "cases.jsonl")


def case(cid: str) -> dict:
    for f in CASE_FILES:
        if f.exists():
            for line in f.read_text().splitlines():
                d = json.loads(line)
                if d["id"] == cid:
                    return d
    pytest.fail(f"case {cid} not found in {CASE_FILES}")


def recv_text(c: dict) -> list[str]:
    return [e["data"] for e in c["transcript"] if e["dir"] == "recv"]


# ------------------------------------------------------------------------------------------ C40: parser

def test_c40_every_json_shape_parses():
    r1, r2 = recv_text(case("C40"))
    got1 = [parse_output_line(ln) for ln in r1.splitlines()]
    # 1.0.x: "[", a status record with trailing comma, a banner record, "]"
    assert [g for g in got1 if g] == [("192.0.2.4", 22, 1501607463.0), ("192.0.2.4", 22, 1501607463.0)]
    assert got1[0] is None and got1[-1] is None
    # 2014: unquoted keys, {finished: 1}
    got2 = [parse_output_line(ln) for ln in r2.splitlines()]
    assert got2 == [("192.0.2.15", 80, None), None]


@pytest.mark.parametrize("line,want", [
    ("Discovered open port 3333/tcp on 10.77.0.20                                    ", ("10.77.0.20", 3333, None)),
    ("open tcp 14444 10.77.0.10 1795937959", ("10.77.0.10", 14444, 1795937959.0)),
    ('{   "ip": "10.77.0.11",   "timestamp": "1795937956", "ports": [ {"port": 14444, "proto": "tcp", '
     '"status": "open", "reason": "syn-ack", "ttl": 64} ] }', ("10.77.0.11", 14444, 1795937956.0)),
    (',{"ip": "10.77.0.12", "timestamp": "1795937956", "ports": [ {"port": 4444, "proto": "tcp", "status": "open"}]}',
     ("10.77.0.12", 4444, 1795937956.0)),
    ('{"ip":"10.77.0.13","timestamp":"1795937956","port":3334,"proto":"tcp","rec_type":"status",'
     '"data":{"status":"open","reason":"syn-ack","ttl":64}}', ("10.77.0.13", 3334, 1795937956.0)),
    ("Timestamp: 1795937965\tHost: 10.77.0.10 ()\tPorts: 4444/open/tcp//unknown//", ("10.77.0.10", 4444, 1795937965.0)),
    ('<host endtime="1795937962"><address addr="10.77.0.12" addrtype="ipv4"/><ports><port protocol="tcp" '
     'portid="14444"><state state="open" reason="syn-ack" reason_ttl="64"/></port></ports></host>',
     ("10.77.0.12", 14444, 1795937962.0)),
    ("Discovered open port 443/tcp on 2001:db8::5", ("2001:db8::5", 443, None)),
])
def test_output_shapes(line, want):
    assert parse_output_line(line) == want


@pytest.mark.parametrize("line", [
    "", "[", "]", ",", "#masscan", "# end", "{finished: 1}", "open udp 53 10.77.0.10 1795937959",
    "Discovered open port 99999/tcp on 10.77.0.1", "Discovered open port 80/tcp on 10.77.0.999",
    '{"ip": "10.77.0.1", "ports": [{"port": 80, "proto": "tcp", "status": "closed"}]}',
    '{"ip": "10.77.0.1", "port": 80, "proto": "tcp", "rec_type": "status", "data": {"status": "closed"}}',
    '{"ip": "not-an-ip", "ports": [{"port": 80, "proto": "tcp", "status": "open"}]}',
    "\x1b[2J garbage \xff", "rate:  0.00-kpps, 100.00% done, waiting 1-secs, found=2",
])
def test_noise_is_ignored(line):
    assert parse_output_line(line) is None


# ------------------------------------------------------------------------------------------ stderr

def test_c36_router_detection_failure():
    text = recv_text(case("C36"))[0]
    msg = diagnose(text.splitlines())
    assert msg.startswith("masscan could not find the router MAC")
    assert "--router-mac" in msg and "--router-ip" in msg and "\n" not in msg


def test_c36_soft_failure_has_no_fail_line():
    """The verbose 'found=0' run of C36 prints no FAIL: only a canary can tell it from 'nothing open'."""
    text = recv_text(case("C36"))[1]
    assert diagnose(text.splitlines()) is None


def test_c38_no_default_interface():
    text = recv_text(case("C38"))[0]
    msg = diagnose(text.splitlines())
    assert msg.startswith("masscan could not determine the default interface")
    assert "--adapter" in msg and "\n" not in msg


# stderr captured from masscan 1.3.2 on this machine (inside a lab namespace), one per failure kind
CAPTURED = {
    "no-libpcap": ("[-] FAIL: failed to load libpcap shared library\n    [hint]: you must install libpcap or WinPcap\n"
                   "[-] FAIL: could not determine default interface\n    [hint] try \"--interface ethX\"\n",
                   "masscan cannot load libpcap: install it (apt-get install -y libpcap0.8)"),
    "not-root": ("[-] FAIL: permission denied\n    [hint] need to sudo or run as root or something\n"
                 "[-] if:psl-s0:init: failed\n", "masscan has no permission to open a raw socket"),
    "bad-range": ("ERROR: bad IP address/range: 10.78.0.300\nFAIL: target IP address list empty\n"
                  " [hint] try something like \"--range 10.0.0.0/8\"\n",
                  "masscan rejected the target range (bad IP address/range: 10.78.0.300)"),
    "bad-port": ("[-] FAIL: bad target port: 70000\n    Hint: a port is a number [0..65535]\n",
                 "masscan rejected the port list (bad target port: 70000)"),
    "no-adapter": ("[-] if(nosuch0): activate:-5: No such device exists\n[-] if:nosuch0:init: failed\n",
                   "masscan could not open the network adapter"),
    "loopback": ("[-] FAIL: failed to detect MAC address of interface: \"lo\"\n"
                 " [hint] try something like \"--source-mac 00-11-22-33-44-55\"\n",
                 "masscan could not read the adapter's MAC address"),
    "too-big": ("FAIL: range too big, need confirmation\n [hint] to prevent acccidents, at least one --exclude "
                "must be specified\n", "masscan refuses a target range this big"),
    "arp": ("[-] FAIL: ARP timed-out resolving MAC address for router lo: \"0.0.0.0\"\n",
            "masscan could not find the router MAC"),
    "unknown-fail": ("[-] FAIL: something new \x1b[31m\n", "masscan failed: something new \\x1b[31m"),
}


@pytest.mark.parametrize("kind", sorted(CAPTURED))
def test_captured_failures(kind):
    text, start = CAPTURED[kind]
    msg = diagnose(text.splitlines())
    assert msg is not None and msg.startswith(start), msg
    assert "\n" not in msg and "\x1b" not in msg


def test_verbose_noise_is_not_a_failure():
    text = ("[-] pcap: failed to load: libpcap.so\n[+] pcap: found library: libpcap.so.0.8\n"
            "[+] interface = psl-s0\nrate:  0.00-kpps, 100.00% done, waiting 0-secs, found=2\n")
    assert diagnose(text.splitlines()) is None
