"""The only module that opens sockets: run one sans-IO dialogue over TCP or TLS, within its limits.

``run_dialogue`` connects (plain or TLS with verification off — a pool's certificate is evidence to record,
not something to trust), drives the dialogue (``scanner.probes.dialogue``), records every write and read
with its time offset, and ends with a :class:`~scanner.model.Status`. It never raises for anything the peer
does: refused, silent, reset, slow, endless or garbage peers all end as a status with the partial transcript.
Bounds enforced here: connect timeout (TCP + TLS handshake), per-wait read timeout chosen by the dialogue, a
hard session deadline, and a total byte cap (``Limits.max_bytes``) past which reading stops and the transcript
is flagged ``truncated``.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import socket
import ssl
import time
import warnings
from typing import Any, Callable

from scanner.model import Exchange, Status, Transcript
from scanner.probes.dialogue import Dialogue
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


def _tls_info(writer: asyncio.StreamWriter) -> dict[str, Any] | None:
    obj = writer.get_extra_info("ssl_object")
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
    ``asyncio.CancelledError`` propagates, so Ctrl-C still stops a run).
    """
    started = time.time()
    t0 = time.monotonic()
    exchanges: list[Exchange] = []
    status = Status.SUCCESS
    error: str | None = None
    truncated = False
    closed_by_peer = False
    tls_info: dict[str, Any] | None = None
    writer: asyncio.StreamWriter | None = None
    received = 0

    def record(direction: str, data: bytes, t_conn: float) -> None:
        exchanges.append(Exchange(t=time.monotonic() - t_conn, dir=direction, data=data))

    def finish() -> Transcript:
        return Transcript(
            ip=ip, port=port, probe=dialogue.probe_id, status=status, exchanges=tuple(exchanges), tls=tls,
            tls_info=tls_info, error=error, truncated=truncated, closed_by_peer=closed_by_peer,
            started_at=started, duration_s=time.monotonic() - t0,
        )

    # Connect (and TLS handshake) within connect_s.
    try:
        async with asyncio.timeout(limits.connect_s):
            reader, writer = await asyncio.open_connection(
                ip, port, ssl=tls_context() if tls else None,
                server_hostname=(server_name or "") if tls else None,
                limit=limits.read_chunk,
            )
    except TimeoutError:
        status, error = (Status.TLS_ERROR, "TLS handshake timed out") if tls else (
            Status.CONNECTION_TIMEOUT, f"no answer to connect within {limits.connect_s:g} s")
        return finish()
    except (OSError, ssl.SSLError, ValueError) as exc:
        status, error = _status_for(exc)
        if tls and status not in (Status.CONNECTION_REFUSED, Status.CONNECTION_TIMEOUT):
            status, error = Status.TLS_ERROR, f"TLS handshake failed: {str(exc)[:150]}"
        return finish()

    t_conn = time.monotonic()
    deadline = t0 + limits.session_s
    if tls:
        tls_info = _tls_info(writer)
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass

    try:
        step = dialogue.start()
        while True:
            if step.optional and enough is not None and enough(finish()):
                break
            if step.send:
                writer.write(step.send)
                record("send", step.send, t_conn)
                if writer.transport.get_write_buffer_size():  # only a peer that does not read makes us wait
                    async with asyncio.timeout(max(0.01, deadline - time.monotonic())):
                        await writer.drain()
            if step.done:
                if step.error:
                    status, error = Status.READ_LIMIT if "too long" in step.error else Status.PROTOCOL_ERROR, step.error
                    truncated = truncated or "too long" in step.error
                break
            left = deadline - time.monotonic()
            if left <= 0:
                status, error = Status.IO_TIMEOUT, f"session deadline of {limits.session_s:g} s reached"
                break
            wait = min(step.wait, left)
            try:
                async with asyncio.timeout(wait):
                    data = await reader.read(limits.read_chunk)
            except TimeoutError:
                if step.wait > left:  # the deadline, not the dialogue's wait, ran out
                    status, error = Status.IO_TIMEOUT, f"session deadline of {limits.session_s:g} s reached"
                    break
                step = dialogue.expire()
                continue
            if not data:
                closed_by_peer = True
                dialogue.feed(b"")  # the dialogue sees EOF; nothing can be sent any more
                break
            room = limits.max_bytes - received
            if len(data) > room:
                data = data[:room]
                truncated = True
            received += len(data)
            record("recv", data, t_conn)
            if truncated:
                status, error = Status.READ_LIMIT, f"byte cap of {limits.max_bytes} bytes reached"
                break
            step = dialogue.feed(data)
    except TimeoutError:
        status, error = Status.IO_TIMEOUT, "write timed out"
    except (OSError, ssl.SSLError) as exc:
        status, error = _status_for(exc)
        closed_by_peer = status is Status.CONNECTION_RESET
    finally:
        await _close(writer)

    if status is Status.SUCCESS and received == 0:
        status = Status.CLOSED if closed_by_peer else Status.NO_REPLY
        error = "peer closed without sending anything" if closed_by_peer else "peer sent nothing"
    return finish()


async def _close(writer: asyncio.StreamWriter | None) -> None:
    """Close a probe connection. Plain TCP: close and go (the kernel finishes the FIN). TLS: wait at most 1 s
    for the close_notify exchange. Never raises: a peer that broke the connection is already recorded."""
    if writer is None:
        return
    try:
        is_tls = writer.get_extra_info("ssl_object") is not None
        writer.close()
        if is_tls:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
    except (OSError, ssl.SSLError, TimeoutError, RuntimeError, AttributeError):
        try:
            writer.transport.abort()
        except Exception:  # pragma: no cover - best effort
            pass
