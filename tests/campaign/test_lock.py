"""The campaign lock: one run of a campaign at a time; a live holder is named (pid, since); the lock of a
dead process (kill -9) is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from scanner.campaign import CampaignLock, CampaignLocked, lock_path, read_lock
from scanner.errors import RunError


def test_lock_path_is_next_to_the_db(tmp_path):
    assert lock_path(tmp_path / "r" / "poolscan.db", "nightly") == tmp_path / "r" / "poolscan.db.nightly.lock"


def test_second_holder_is_refused_with_pid_and_since(tmp_path):
    path = tmp_path / "x.lock"
    with CampaignLock(path, "nightly") as lock:
        info = read_lock(path)
        assert info["pid"] == os.getpid() and info["campaign"] == "nightly"
        assert lock.stale is None
        with pytest.raises(CampaignLocked) as ei:
            CampaignLock(path, "nightly").acquire()  # a second open file description: flock conflicts
        assert str(ei.value) == f"campaign nightly is already running (pid {os.getpid()}, since {info['since']})"
        assert isinstance(ei.value, RunError) and ei.value.exit_code == 1
    assert path.read_text() == ""  # released: emptied, not deleted
    with CampaignLock(path, "nightly") as again:  # free again
        assert again.stale is None


HOLDER = """
import sys, time
from scanner.campaign import CampaignLock
lock = CampaignLock(sys.argv[1], "nightly").acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "x.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CampaignLocked, match=rf"^campaign nightly is already running \(pid {holder.pid}, since "):
            CampaignLock(path, "nightly").acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    # The dead holder's pid is still in the file, but the kernel released its lock.
    assert json.loads(path.read_text())["pid"] == holder.pid
    with CampaignLock(path, "nightly") as lock:
        assert lock.stale["pid"] == holder.pid
        assert read_lock(path)["pid"] == os.getpid()


def test_stale_lock_file_of_dead_pid_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "x.lock"
    path.write_text(json.dumps({"pid": dead.pid, "since": "2026-01-01T00:00:00Z", "campaign": "nightly"}))
    with CampaignLock(path, "nightly") as lock:
        assert lock.stale == {"pid": dead.pid, "since": "2026-01-01T00:00:00Z", "campaign": "nightly"}
        assert read_lock(path)["pid"] == os.getpid()


def test_garbage_lock_file_is_harmless(tmp_path):
    path = tmp_path / "x.lock"
    path.write_bytes(b"\xff\x00not json" * 1000)
    with CampaignLock(path, "nightly") as lock:
        assert lock.stale is None
        assert read_lock(path)["pid"] == os.getpid()


def test_unwritable_lock_directory_is_a_run_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RunError, match="cannot create the campaign lock file"):
        CampaignLock(blocker / "sub" / "x.lock", "nightly").acquire()
