"""One run of a campaign at a time: an ``flock`` on a lock file next to the database.

The lock file is ``<db>.<campaign>.lock`` (e.g. ``results/poolscan.db.nightly-eu.lock``) and holds one JSON
line ``{"pid", "since", "campaign", "host"}`` written by the holder. The kernel lock (``fcntl.flock``,
exclusive, non-blocking) is the authority: it is released when the holder exits for any reason, including
``kill -9``, so a lock file left behind by a dead process is simply taken over (and the takeover is
reported). Another live run of the campaign makes :meth:`CampaignLock.acquire` raise
:class:`CampaignLocked` (a :class:`scanner.errors.RunError`, exit code 1) naming the holder's pid and start.

The file is never deleted (deleting a lock file under ``flock`` opens a race between a third process and
the one that deleted it); on release its content is emptied.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from scanner.errors import RunError


class CampaignLocked(RunError):
    """Another process holds the campaign's lock. ``holder`` is what its lock file says (may be {})."""

    def __init__(self, campaign: str, holder: dict[str, Any]) -> None:
        pid = holder.get("pid", "?")
        since = holder.get("since", "?")
        super().__init__(f"campaign {campaign} is already running (pid {pid}, since {since})")
        self.holder = holder


def lock_path(db_path: str | os.PathLike[str], campaign: str) -> Path:
    """The lock file of ``campaign`` whose store is ``db_path``: ``<db>.<campaign>.lock``."""
    db = Path(db_path)
    return db.with_name(f"{db.name}.{campaign}.lock")


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a lock file says (``{}`` when missing, empty or not JSON). Reads at most 4096 bytes."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(4096)
    except OSError:
        return {}
    try:
        data = json.loads(raw.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class CampaignLock:
    """An exclusive, non-blocking lock on ``path`` for ``campaign``. Use as a context manager.

    After :meth:`acquire`, ``stale`` is the content of a lock file left by a process that is gone (its
    pid no longer exists or it no longer held the lock), or None.
    """

    def __init__(self, path: str | os.PathLike[str], campaign: str) -> None:
        self.path = Path(path)
        self.campaign = campaign
        self.fd: int | None = None
        self.stale: dict[str, Any] | None = None

    def acquire(self) -> "CampaignLock":
        """Take the lock or raise :class:`CampaignLocked`. Raises :class:`RunError` when the lock file
        cannot be created (e.g. the results directory is not writable)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise RunError(f"{self.path}: cannot create the campaign lock file ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder: dict[str, Any] = {}
            for _ in range(20):  # the holder may be between flock() and writing its pid
                holder = read_lock(self.path)
                if holder.get("pid"):
                    break
                time.sleep(0.05)
            raise CampaignLocked(self.campaign, holder) from None
        previous = read_lock(self.path)
        if previous.get("pid"):
            # The kernel released the previous holder's lock: it exited (kill -9, crash, reboot).
            self.stale = previous
        info = {"pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "campaign": self.campaign, "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file and release the lock (idempotent)."""
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass
        try:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "CampaignLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["CampaignLock", "CampaignLocked", "lock_path", "read_lock"]
