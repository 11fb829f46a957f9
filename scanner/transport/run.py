"""The only module that opens sockets: run one sans-IO dialogue over TCP or TLS, within its limits.

``run_dialogue`` connects (plain or TLS with verification off — a pool's certificate is evidence to record,
not something to trust), drives the dialogue (``scanner.probes.dialogue``), records every write and read
with its time offset, and ends with a :class:`~scanner.model.Status`. It never raises for anything the peer
does: refused, silent, reset, slow, endless or garbage peers all end as a status with the partial transcript.
Bounds enforced here: connect timeout (TCP + TLS handshake), per-wait read timeout chosen by the dialogue, a
hard session deadline, and a total byte cap (``Limits.max_bytes``) past which reading stops and the transcript
is flagged ``truncated``.

Implementation: an ``asyncio.Protocol`` (no streams). The dialogue is fed from ``data_received`` and its next
line is written in the same callback, so a round trip costs one event-loop callback and no task switch; one
lazily re-armed timer serves the connect timeout, every wait and the session deadline (a wait that ends later
than the armed timer does not re-arm it: the timer re-checks when it fires). While connecting, the timer
cancels the connecting task when ``connect_s`` is up, exactly as ``asyncio.timeout`` would (a cancellation
from elsewhere still propagates), without that context manager's own timer and bookkeeping per probe.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import ssl
import time
import warnings
from typing import Any, Callable

from scanner.model import Exchange, Status, Transcript, make_exchange, make_transcript
from scanner.probes.dialogue import Dialogue, Step
from scanner.transport.limits import Limits

_TLS_CTX: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """A client TLS context that accepts any certificate (pools use self-signed ones) and any TLS version
    the local OpenSSL allows; ALPN is not sent (stratum+ssl servers do not negotiate it)."""
    global _TLS_CTX
    if _TLS_CTX is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with warnings.catch_warnings():  # old pools still run TLS 1.0; poolscan records, never trusts
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):  # pragma: no cover - depends on the OpenSSL build
            pass
        _TLS_CTX = ctx
    return _TLS_CTX


def _tls_info(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    obj = transport.get_extra_info("ssl_object")
    if obj is None:
        return None
    info: dict[str, Any] = {"version": obj.version(), "cipher": (obj.cipher() or (None,))[0]}
    der = obj.getpeercert(binary_form=True)
    if der:
        info["cert_der_b64"] = base64.b64encode(der).decode("ascii")
        info["sha256"] = hashlib.sha256(der).hexdigest()
        try:
            from cryptography import x509

            cert = x509.load_der_x509_certificate(der)
            cns = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
            info["subject_cn"] = str(cns[0])[:256] if cns else None
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                info["san"] = [str(v)[:256] for v in san.get_values_for_type(x509.DNSName)][:50]
            except x509.ExtensionNotFound:
                info["san"] = []
        except Exception as exc:  # a malformed certificate is data, not a crash
            info["cert_error"] = str(exc)[:200]
    return info


def _status_for(exc: BaseException) -> tuple[Status, str]:
    if isinstance(exc, ConnectionRefusedError):
        return Status.CONNECTION_REFUSED, "connection refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return Status.CONNECTION_RESET, "connection reset by peer"
    if isinstance(exc, ssl.SSLError):
        return Status.TLS_ERROR, f"TLS: {exc.reason or exc}"[:200]
    if isinstance(exc, OSError):
        if exc.errno in (errno.ECONNREFUSED,):
            return Status.CONNECTION_REFUSED, "connection refused"
        if exc.errno in (errno.ECONNRESET, errno.EPIPE):
            return Status.CONNECTION_RESET, "connection reset by peer"
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
            return Status.CONNECTION_TIMEOUT, (exc.strerror or str(exc))[:200]
        return Status.UNKNOWN_ERROR, f"{type(exc).__name__}: {exc}"[:200]
    return Status.UNKNOWN_ERROR, f"{type(exc).__name__}: {exc}"[:200]


class _Probe(asyncio.Protocol):
    """One probe connection: feeds the dialogue from ``data_received``, writes its answers, and ends in
    ``self.over`` (a future resolved with nothing; the outcome is in the attributes). Every callback is
    bounded work: at most one chunk (the loop's read size, <= 256 KiB) is recorded and fed per call.

    ``connect_task`` (the task awaiting the connect) is cancelled by the timer when the connect deadline
    passes before ``connection_made``; ``connect_expired`` then says the cancellation was the timeout's."""

    # Starting values shared by every probe (immutable; an instance attribute replaces one when it changes).
    transport: asyncio.Transport | None = None
    status = Status.SUCCESS
    error: str | None = None
    truncated = False
    closed_by_peer = False
    tls_info: dict[str, Any] | None = None
    received = 0
    t_conn = 0.0
    wait_until = 0.0
    wait_is_deadline = False
    timer: asyncio.TimerHandle | None = None
    timer_at = 0.0
    connect_task: "asyncio.Task[Any] | None" = None
    connect_expired = False

    def __init__(self, loop: asyncio.AbstractEventLoop, dialogue: Dialogue, limits: Limits, tls: bool,
                 t0: float, enough: Callable[[Transcript], bool] | None, partial: Callable[[], Transcript]) -> None:
        self.loop = loop
        self.dialogue = dialogue
        self.limits = limits
        self.tls = tls
        self.enough = enough
        self.partial = partial
        self.over: asyncio.Future[None] = loop.create_future()
        # TLS only: closing waits for the close_notify exchange (connection_lost), at most 1 s.
        self.lost: asyncio.Future[None] | None = loop.create_future() if tls else None
        self.exchanges: list[Exchange] = []
        self.deadline = t0 + limits.session_s

    # -- asyncio callbacks ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.t_conn = time.monotonic()
        if self.tls:
            self.tls_info = _tls_info(transport)
        self._guard(self.dialogue.start)

    def data_received(self, data: bytes) -> None:
        if self.over.done():
            return
        room = self.limits.max_bytes - self.received
        if room <= 0:  # the cap was reached exactly by the last chunk: nothing of this one fits
            self.truncated = True
            self._end(Status.READ_LIMIT, f"byte cap of {self.limits.max_bytes} bytes reached")
            return
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.received += len(data)
        self.exchanges.append(make_exchange(time.monotonic() - self.t_conn, "recv", data))
        if self.truncated:
            self._end(Status.READ_LIMIT, f"byte cap of {self.limits.max_bytes} bytes reached")
            return
        self._guard(self.dialogue.feed, data)

    def eof_received(self) -> bool:
        if not self.over.done():
            self.closed_by_peer = True
            try:
                self.dialogue.feed(b"")  # the dialogue sees EOF; nothing can be sent any more
            except Exception:  # pragma: no cover - a dialogue bug must not lose the transcript
                pass
            self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.over.done():
            if exc is None:
                self.closed_by_peer = True
                self._end()
            else:
                status, error = _status_for(exc)
                self.closed_by_peer = status is Status.CONNECTION_RESET
                self._end(status, error)
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    # -- driving the dialogue ------------------------------------------------------------------------
    def _guard(self, fn: Callable[..., Step], *args: Any) -> None:
        """Call a dialogue method and act on its step; a dialogue bug ends the probe, never the run."""
        try:
            step = fn(*args)
        except Exception as exc:
            self._end(Status.UNKNOWN_ERROR, f"dialogue failed: {type(exc).__name__}: {exc}"[:200])
            return
        self._advance(step)

    def _advance(self, step: Step) -> None:
        if step.optional and self.enough is not None:
            try:
                stop = self.enough(self.partial())
            except Exception:  # the caller's judgement failed: not confident, so the step goes ahead
                stop = False
            if stop:
                self._end()
                return
        if step.send:
            assert self.transport is not None
            self.transport.write(step.send)
            now = time.monotonic()
            self.exchanges.append(make_exchange(now - self.t_conn, "send", step.send))
        else:
            now = time.monotonic()
        if step.done:
            if step.error:
                too_long = "too long" in step.error
                self.truncated = self.truncated or too_long
                self._end(Status.READ_LIMIT if too_long else Status.PROTOCOL_ERROR, step.error)
            else:
                self._end()
            return
        left = self.deadline - now
        if left <= 0:
            self._end(Status.IO_TIMEOUT, f"session deadline of {self.limits.session_s:g} s reached")
            return
        self.wait_is_deadline = step.wait > left
        self.wait_until = now + min(step.wait, left)
        if self.timer is None or self.wait_until < self.timer_at:
            self._arm(self.wait_until)

    def _arm(self, when: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = when
        # call_later, not call_at: ``when`` is time.monotonic(); a loop's own clock may differ (uvloop's is
        # libuv's cached millisecond clock).
        self.timer = self.loop.call_later(max(0.0, when - time.monotonic()), self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.over.done():
            return
        if self.transport is None:  # still connecting (TCP, or the TLS handshake): connect_s is up
            if self.connect_task is not None and not self.connect_expired:
                self.connect_expired = True
                self.connect_task.cancel()
            return
        now = time.monotonic()
        if now < self.wait_until - 0.0005:  # the wait was extended by data after the timer was armed
            self._arm(self.wait_until)
            return
        if self.wait_is_deadline or now >= self.deadline:
            self._end(Status.IO_TIMEOUT, f"session deadline of {self.limits.session_s:g} s reached")
            return
        self._guard(self.dialogue.expire)

    def _end(self, status: Status | None = None, error: str | None = None) -> None:
        if self.over.done():
            return
        if status is not None:
            self.status, self.error = status, error
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.over.set_result(None)


async def run_dialogue(
    ip: str,
    port: int,
    dialogue: Dialogue,
    limits: Limits,
    *,
    tls: bool = False,
    server_name: str | None = None,
    enough: Callable[[Transcript], bool] | None = None,
) -> Transcript:
    """Run ``dialogue`` against ``ip:port`` and return its transcript.

    Args:
      ip, port: the peer (an IP literal; no name resolution happens here).
      dialogue: a fresh :class:`~scanner.probes.dialogue.Dialogue` (one connection per dialogue).
      limits: seconds and bytes bounds (:class:`~scanner.transport.limits.Limits`).
      tls: wrap the connection in TLS (certificate recorded in ``tls_info``, never verified).
      server_name: SNI to send in TLS, when a name is known.
      enough: called with the partial transcript before an ``optional`` step (one that only gathers extra
        evidence); when it returns True the step is skipped and the dialogue ends (the engine passes "the
        verdict is already confident").

    Returns a :class:`~scanner.model.Transcript`; never raises for peer behaviour (only
    ``asyncio.CancelledError`` propagates, so Ctrl-C still stops a run, and the connection is aborted).
    """
    started = time.time()
    t0 = time.monotonic()
    loop = asyncio.get_running_loop()
    proto: _Probe

    def finish() -> Transcript:
        return make_transcript(ip, port, dialogue.probe_id, proto.status, tuple(proto.exchanges), tls,
                               proto.tls_info, proto.error, proto.truncated, proto.closed_by_peer, started,
                               time.monotonic() - t0)

    proto = _Probe(loop, dialogue, limits, tls, t0, enough, finish)

    # Connect (and TLS handshake) within connect_s: the probe's timer cancels this task when time is up,
    # as asyncio.timeout() would (the same task.cancel()/uncancel() accounting).
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("run_dialogue must run inside a task")
    cancelling = task.cancelling()
    proto.connect_task = task
    proto._arm(t0 + limits.connect_s)
    try:
        transport, _ = await loop.create_connection(
            lambda: proto, ip, port, ssl=tls_context() if tls else None,
            server_hostname=(server_name or "") if tls else None,
        )
    except (asyncio.CancelledError, TimeoutError) as exc:
        # TimeoutError raised by the connect itself (an OSError with ETIMEDOUT) counts as the timeout, as
        # it did under asyncio.timeout().
        if isinstance(exc, asyncio.CancelledError) and (not proto.connect_expired or task.uncancel() > cancelling):
            proto._end()  # cancelled from elsewhere (Ctrl-C, the engine's stop): no timer left behind
            raise
        proto._end(*((Status.TLS_ERROR, "TLS handshake timed out") if tls else (
            Status.CONNECTION_TIMEOUT, f"no answer to connect within {limits.connect_s:g} s")))
        proto.exchanges.clear()
        return finish()
    except (OSError, ssl.SSLError, ValueError) as exc:
        status, error = _status_for(exc)
        if tls and status not in (Status.CONNECTION_REFUSED, Status.CONNECTION_TIMEOUT):
            status, error = Status.TLS_ERROR, f"TLS handshake failed: {str(exc)[:150]}"
        proto._end(status, error)
        proto.exchanges.clear()
        return finish()

    proto.connect_task = None
    try:
        await proto.over
    except BaseException:  # cancelled (Ctrl-C, the engine's stop): drop the connection at once
        transport.abort()
        raise
    await _close(transport, proto.lost, tls)

    if proto.status is Status.SUCCESS and proto.received == 0:
        proto.status = Status.CLOSED if proto.closed_by_peer else Status.NO_REPLY
        proto.error = "peer closed without sending anything" if proto.closed_by_peer else "peer sent nothing"
    return finish()


async def _close(transport: asyncio.BaseTransport, lost: "asyncio.Future[None] | None", tls: bool) -> None:
    """Close a probe connection. Plain TCP: close and go (the kernel finishes the FIN); abort when bytes we
    wrote are still buffered (a peer that does not read). TLS: wait at most 1 s for the close_notify
    exchange, then abort. Never raises for the peer (a peer that broke the connection is already recorded);
    a cancellation during the TLS wait aborts the connection and propagates."""
    try:
        if transport.get_write_buffer_size():  # type: ignore[attr-defined]
            # A peer that does not read would keep the socket open until our bytes drain: drop it now.
            transport.abort()  # type: ignore[attr-defined]
            return
        transport.close()
        if tls and lost is not None and not lost.done():
            async with asyncio.timeout(1.0):
                await asyncio.shield(lost)
    except asyncio.CancelledError:  # cancelled while waiting for close_notify: never leave the socket open
        transport.abort()  # type: ignore[attr-defined]
        raise
    except (OSError, ssl.SSLError, TimeoutError, RuntimeError, AttributeError):
        try:
            transport.abort()  # type: ignore[attr-defined]
        except Exception:  # pragma: no cover - best effort
            pass
