"""The shipped ethash seed table equals the keccak chain it stands for."""

from scanner.protocols.ethstratum import MAX_EPOCH, SEED_TABLE, seed_epoch
from scanner.protocols.keccak import keccak256


def test_table_is_the_keccak_chain():
    lines = [x for x in SEED_TABLE.read_text().splitlines() if x and not x.startswith("#")]
    assert len(lines) == MAX_EPOCH + 1
    cur = bytes(32)
    assert lines[0] == cur.hex()
    for n in range(1, MAX_EPOCH + 1):
        cur = keccak256(cur)
        assert lines[n] == cur.hex(), n


def test_lookup():
    assert seed_epoch("0x" + "00" * 32) == 0
    assert seed_epoch("290decd9548b62a8d60345a988386fc84ba6bc95484008f6362f93160ef3e563") == 1
    assert seed_epoch("ff" * 32) is None
    assert seed_epoch("not hex") is None
