"""poolscan's exception tree.

Only two kinds of error reach a user: :class:`UsageError` (bad input: one line, exit code 2) and
:class:`RunError` (the run itself failed: one line, exit code 1). Peer misbehaviour is never an exception
outside the transport: it becomes a :class:`scanner.model.Status` on the transcript.
"""

from __future__ import annotations


class PoolscanError(Exception):
    """Base of poolscan's own errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(PoolscanError):
    """Bad user input: a malformed CIDR, a port out of range, a missing file, a bad config key.

    The message says what and where in one line (``targets.txt:3: '10.0.0.300/24' is not an IP network``).
    """

    exit_code = 2


class RunError(PoolscanError):
    """The run failed for a reason outside the user's input (masscan could not start, disk full...)."""

    exit_code = 1


class FingerprintError(PoolscanError):
    """A fingerprint file is invalid. The message starts with ``file:line:``."""

    exit_code = 2
