"""Reading a transcript in the light of what was sent: framing quirks, id matching, silence."""

from __future__ import annotations

from scanner.fingerprint.observe import observe, preview, split_objects
from scanner.model import Exchange, Status, Transcript
from scanner.protocols.jsonrpc import Response

SUB = b'{"id":2,"method":"mining.subscribe","params":["poolscan/0.1.0"]}\n'
UNKNOWN = b'{"id":4,"method":"mining.poolscan","params":[]}\n'


def _t(*ex: tuple[str, bytes], probe: str = "stratum1") -> Transcript:
    return Transcript(ip="192.0.2.1", port=3333, probe=probe, status=Status.SUCCESS,
                      exchanges=tuple(Exchange(0.1 * i, d, b) for i, (d, b) in enumerate(ex)))


def test_split_objects() -> None:
    assert split_objects(b'{"a":1}{"b":2} {"c":3}') == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
    assert split_objects(b'{"a":1}{"b":') == [b'{"a":1}', b'{"b":']  # truncated tail kept apart
    assert split_objects(b'{"a":"}{"}') == [b'{"a":"}{"}']  # braces inside a string: one object
    assert split_objects(b"not json}{") == [b"not json}{"]


def test_reply_split_across_reads_matched_by_string_id() -> None:
    o = observe(_t(("send", SUB), ("recv", b'{"id":"2","result":[[["mining.notify","ab"]],'), ("recv", b'"0a0b0c0d",4],"error":null}')))
    (r,) = o.replies("mining.subscribe")
    assert isinstance(r, Response) and r.id == "2"
    assert o.facts["s1.shape"] == "classic" and o.facts["s1.id_type"] == "str"


def test_notification_before_reply_and_several_per_read() -> None:
    o = observe(_t(("send", SUB), ("recv", b'{"id":null,"method":"mining.set_difficulty","params":[16383.75]}\n'
                                          b'{"id":2,"result":[[["mining.notify","1e0a00001"]],"1e0a0000",8],"error":null}\n')))
    assert o.facts["s1.sub_ids"] == "1e0a00001"
    assert len(o.notifications("mining.set_difficulty")) == 1


def test_silence_after_unknown_method() -> None:
    o = observe(_t(("send", SUB), ("recv", b'{"id":2,"result":[[["mining.notify","ab"]],"0a0b0c0d",4],"error":null}\n'),
                   ("send", UNKNOWN)))
    assert o.facts["silent_after.mining.poolscan"] is True
    assert o.facts["silent_after.mining.subscribe"] is False and o.facts["answered.mining.subscribe"] is True


def test_http_post_body_is_read_as_the_request() -> None:
    body = b'{"id":1,"jsonrpc":"2.0","method":"web3_clientVersion","params":[]}'
    o = observe(_t(("send", b"POST / HTTP/1.1\r\nContent-Type: application/json\r\n\r\n" + body),
                   ("recv", b'HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{"jsonrpc":"2.0","id":1,"result":"Geth/v1"}'), probe="web3"))
    assert o.facts["http.status"] == 200 and o.facts["http.path"] == "/"
    assert o.replies("web3_clientVersion")[0].result == "Geth/v1"


def test_preview_escapes_control_characters() -> None:
    assert preview("a\x1b[31mb\nc") == "a\\x1b[31mb\\nc"
    assert len(preview("x" * 500)) == 80
