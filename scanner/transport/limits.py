"""The bounds of one probe connection: seconds and bytes.

Every read poolscan makes is bounded twice: in time (connect timeout, wait for the first reply, idle wait
for follow-up messages, a hard session deadline) and in size (a total byte cap per connection and a line
cap for line-framed protocols). Defaults are tuned on the lab transcripts (``../shared/transcripts``):
real pools answer a subscribe or a login within milliseconds, push the first job within ~300 ms of
authorize, and ckpool/NOMP answer an unknown method with silence, so short idle waits are enough.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds for one probe connection.

    connect_s: TCP connect (and TLS handshake) timeout, seconds.
    reply_s: how long to wait for the peer's reply to a request, seconds.
    job_s: how long to wait for a first job (``mining.notify``) after authorize, seconds.
    idle_s: how long to wait for more after the last message when silence is itself the answer, seconds.
    session_s: hard deadline of the whole connection, seconds (the connection is closed at this time).
    max_bytes: total bytes read per connection; past it the transcript is truncated (status read-limit).
    max_line: longest line accepted from a line-framed protocol, bytes.
    read_chunk: bytes asked per read call.
    """

    connect_s: float = 3.0
    reply_s: float = 3.0
    job_s: float = 2.0
    idle_s: float = 0.7
    session_s: float = 10.0
    max_bytes: int = 256 * 1024
    max_line: int = 64 * 1024
    read_chunk: int = 64 * 1024

    def scaled(self, factor: float) -> "Limits":
        """The same limits with every time multiplied by ``factor`` (``--timeout`` scaling)."""
        return replace(
            self,
            connect_s=self.connect_s * factor,
            reply_s=self.reply_s * factor,
            job_s=self.job_s * factor,
            idle_s=self.idle_s * factor,
            session_s=self.session_s * factor,
        )
