"""_KsslSocket: the TCP socket asyncio's plain socket transport runs on,
its recv()/send()/shutdown()/close() going through the libkssl
connection (kernel TLS where libkssl put a direction, OpenSSL otherwise)."""
import asyncio
import errno
import logging
import os
import socket
import ssl as _ssl

from . import _cpython

logger = logging.getLogger("kssl.asyncio")

_MAX_RECORD = 16384               # largest TLS plaintext record
_KICK_DELAY = 0.05                # see _KsslSocket._kssl_kick


def _would_block():
    return BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))


class _KsslSocket(socket.socket):
    """A TCP socket carrying a libkssl connection (internal).

    asyncio's socket transport calls recv()/recv_into()/send() (and
    shutdown()/close()) on it; they go through the libkssl connection, so
    the records are the kernel's where it took a direction and OpenSSL's
    where it did not. Everything that could move plaintext past libkssl is
    overridden or refused.
    """

    _kssl_obj = None

    def _kssl_attach(self, obj, loop, shutdown_timeout):
        self._kssl_obj = obj
        self._kssl_loop = loop
        self._kssl_shutdown_timeout = (
            _cpython.SSL_SHUTDOWN_TIMEOUT if shutdown_timeout is None
            else shutdown_timeout)
        self._kssl_tx_kernel = False
        self._kssl_rx_kernel = False
        self._kssl_eof = None            # "close_notify" | "ragged"
        self._kssl_failed = False        # a TLS/socket error was raised
        self._kssl_notified = False      # our close_notify is out
        self._kssl_aborted = False       # transport.abort(): no goodbye
        self._kssl_deferred = None       # [actions] waiting for POLLOUT
        self._kssl_timer = None
        self._kssl_transport = None      # weakref, for _kssl_kick
        self._kssl_kick_handle = None
        # A bare TCP FIN must raise SSLEOFError (not read as b"") so that
        # kssl_eof can tell it from close_notify; recv maps both to b"".
        # _raw_eof: libkssl's own mapping (an RST is ConnectionResetError),
        # not the stdlib SSLSocket's EOF sequence.
        obj._ignore_eof = 0
        obj._raw_eof = 1

    def _kssl_handshake_done(self, offload):
        self._kssl_tx_kernel = offload.tx == "kernel"
        self._kssl_rx_kernel = offload.rx == "kernel"

    @property
    def kssl_eof(self):
        """How the peer ended: None (not yet), "close_notify", "ragged"."""
        return self._kssl_eof

    # -- reading ---------------------------------------------------------

    @staticmethod
    def _check_flags(flags, name):
        if flags:
            raise ValueError("non-zero flags not allowed in calls to %s() "
                             "on a kssl socket" % name)

    def _kssl_read(self, n, buf=None):
        """One libkssl read: data (or a count), empty at EOF, None if it
        would block."""
        obj = self._kssl_obj
        if obj is None:
            raise OSError(errno.EBADF, "kssl socket is closed")
        try:
            r = obj.read(n) if buf is None else obj.read(n, buf)
        except (_ssl.SSLWantReadError, _ssl.SSLWantWriteError):
            return None
        except _ssl.SSLEOFError:
            self._kssl_eof = "ragged"
            self._kssl_failed = True
            return b"" if buf is None else 0
        except OSError:
            self._kssl_failed = True
            raise
        if not r:
            self._kssl_eof = self._kssl_eof or "close_notify"
        return r

    def _kssl_sizes(self, want, got):
        """Next read size, or 0 to stop. With userspace RX, OpenSSL keeps
        the rest of a record it could not hand out; the selector cannot
        see that, so only read less than a record when nothing else was
        read (and then _kssl_kick takes over)."""
        pending = self._kssl_obj.pending()
        if pending:
            return min(want, pending)
        if got and want < _MAX_RECORD:
            return 0
        return want

    def recv(self, bufsize, flags=0):
        self._check_flags(flags, "recv")
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._kssl_eof or bufsize == 0:
            return b""
        if self._kssl_rx_kernel:
            data = self._kssl_read(bufsize)
            if data is None:
                raise _would_block()
            return data
        chunks, got = [], 0
        while got < bufsize:
            n = self._kssl_sizes(bufsize - got, got)
            if not n:
                break
            data = self._kssl_read(n)
            if not data:
                break
            chunks.append(data)
            got += len(data)
        self._kssl_after_user_read(bool(chunks))
        if not chunks:
            if self._kssl_eof:
                return b""
            raise _would_block()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._check_flags(flags, "recv_into")
        view = memoryview(buffer).cast("B")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0 or nbytes > len(view):
            nbytes = len(view)
        if self._kssl_eof or nbytes == 0:
            return 0
        if self._kssl_rx_kernel:
            n = self._kssl_read(nbytes, view[:nbytes])
            if n is None:
                raise _would_block()
            return n
        got = 0
        while got < nbytes:
            n = self._kssl_sizes(nbytes - got, got)
            if not n:
                break
            r = self._kssl_read(n, view[got:got + n])
            if not r:
                break
            got += r
        self._kssl_after_user_read(got > 0)
        if not got and not self._kssl_eof:
            raise _would_block()
        return got

    def _kssl_after_user_read(self, returned_data=False):
        # Two things the selector cannot signal: plaintext OpenSSL holds,
        # and a close_notify read in the same call as the last data (the
        # data is returned now, the EOF must still reach the protocol; the
        # peer may keep the TCP stream open, waiting for ours).
        obj = self._kssl_obj
        if obj is None or self._kssl_kick_handle is not None:
            return
        if (obj.pending() and not self._kssl_eof) or (
                self._kssl_eof and returned_data):
            self._kssl_kick_handle = self._kssl_loop.call_soon(self._kssl_kick)

    def _kssl_kick(self):
        # Run the transport's read callback as if the fd were readable:
        # it gets the held plaintext, or b"" for the EOF. While the
        # transport is paused, look again a little later.
        self._kssl_kick_handle = None
        obj = self._kssl_obj
        tr = self._kssl_transport() if self._kssl_transport else None
        if (obj is None or tr is None or tr.is_closing()
                or not (self._kssl_eof or obj.pending())):
            return
        if tr.is_reading() and _cpython.has_read_ready(tr):
            _cpython.read_ready(tr)
        else:
            self._kssl_kick_handle = self._kssl_loop.call_later(
                _KICK_DELAY, self._kssl_kick)

    # -- writing ---------------------------------------------------------

    def send(self, data, flags=0):
        self._check_flags(flags, "send")
        obj = self._kssl_obj
        if obj is None:
            raise OSError(errno.EBADF, "kssl socket is closed")
        try:
            n = obj.write(data)
        except (_ssl.SSLWantWriteError, _ssl.SSLWantReadError):
            raise _would_block() from None
        except OSError:
            self._kssl_failed = True
            raise
        if n == 0 and len(memoryview(data)):
            # libkssl with userspace TX: a write that fails after the
            # peer's close_notify comes back as 0 bytes (OpenSSL calls it
            # SSL_ERROR_ZERO_RETURN). Retrying would spin: fail as the
            # stdlib does for that case.
            self._kssl_failed = True
            raise _ssl.SSLZeroReturnError(
                _ssl.SSL_ERROR_ZERO_RETURN,
                "TLS/SSL connection has been closed (EOF)")
        return n

    def sendall(self, data, flags=0):
        view = memoryview(data).cast("B")
        while view:
            n = self.send(view, flags)
            view = view[n:]

    def sendmsg(self, buffers, ancdata=(), flags=0, address=None):
        # Python >= 3.12 asyncio writes its buffer with sendmsg().
        if ancdata or address is not None:
            raise NotImplementedError("sendmsg with ancillary data or an "
                                      "address on a kssl socket")
        return self.send(b"".join(bytes(memoryview(b).cast("B"))
                                  for b in buffers), flags)

    def sendfile(self, file, offset=0, count=None):
        if self._kssl_tx_kernel:
            return super().sendfile(file, offset, count)
        return self._sendfile_use_send(file, offset, count)

    def _refused(self, *args, **kwargs):
        raise NotImplementedError("not available on a kssl socket (it "
                                  "would bypass TLS)")

    sendto = recvfrom = recvfrom_into = recvmsg = recvmsg_into = _refused

    def dup(self):
        raise NotImplementedError("a kssl socket cannot be duplicated")

    # -- ending ------------------------------------------------------------

    def _kssl_alert_kernel(self):
        # libkssl's kssl_shutdown: the alert record through kernel TLS.
        try:
            self._kssl_obj._send_close_notify()
        except _ssl.SSLWantWriteError:
            raise BlockingIOError(errno.EAGAIN, "socket buffer full") from None

    def _kssl_close_notify(self):
        """Send close_notify once. False if the socket buffer is full."""
        if self._kssl_notified or self._kssl_obj is None:
            return True
        if self._kssl_failed:
            # libkssl already failed the connection (and told the peer
            # with a fatal alert where it could): nothing more to say.
            self._kssl_notified = True
            return True
        if self._kssl_tx_kernel:
            # The alert record, straight through kernel TLS. Only that:
            # reads stay with the application (write_eof() is a
            # half-close, and close() must not wait for the peer).
            try:
                self._kssl_alert_kernel()
            except (BlockingIOError, InterruptedError):
                return False
            except OSError as exc:
                logger.debug("kssl.asyncio: no close_notify sent: %s", exc)
        else:
            # Userspace TX: only OpenSSL can write the record. The
            # binding's shutdown() sends close_notify, then reads (and
            # drops) what has arrived until the peer's close_notify,
            # stopping at SSLWantReadError (non-blocking).
            try:
                self._kssl_obj.shutdown()
            except _ssl.SSLWantWriteError:
                return False
            except _ssl.SSLWantReadError:
                pass
            except (_ssl.SSLError, OSError, ValueError) as exc:
                # Failed connection or handshake never done.
                logger.debug("kssl.asyncio: no close_notify sent: %s", exc)
        self._kssl_notified = True
        return True

    def _kssl_defer(self, action):
        """Wait (without blocking the loop) until close_notify fits into
        the socket buffer, then do `action`. False if there is no loop."""
        if self._kssl_deferred is not None:
            self._kssl_deferred.append(action)
            return True
        loop = getattr(self, "_kssl_loop", None)
        if loop is None or loop.is_closed():
            return False
        try:
            if asyncio.get_running_loop() is not loop:
                return False
        except RuntimeError:
            return False
        self._kssl_deferred = [action]
        # The private variant: during write_eof() the fd still belongs to
        # a live transport, and the public add_writer() refuses that.
        _cpython.add_writer(loop, self.fileno(), self._kssl_retry)
        self._kssl_timer = loop.call_later(self._kssl_shutdown_timeout,
                                           self._kssl_give_up)
        return True

    def _kssl_retry(self):
        if not self._kssl_close_notify():
            return
        self._kssl_run_deferred()

    def _kssl_give_up(self):
        logger.debug("kssl.asyncio: close_notify not sent within %ss",
                     self._kssl_shutdown_timeout)
        self._kssl_notified = True
        self._kssl_run_deferred()

    def _kssl_run_deferred(self):
        actions, self._kssl_deferred = self._kssl_deferred, None
        if self._kssl_timer is not None:
            self._kssl_timer.cancel()
            self._kssl_timer = None
        loop = self._kssl_loop
        if self.fileno() >= 0 and not loop.is_closed():
            _cpython.remove_writer(loop, self.fileno())
        for action in actions or ():
            try:
                if action == "close":
                    self.close()
                else:
                    super().shutdown(action)
            except OSError:
                pass

    def shutdown(self, how):
        if self._kssl_obj is not None and how in (socket.SHUT_WR,
                                                  socket.SHUT_RDWR):
            if self._kssl_deferred is not None or not self._kssl_close_notify():
                if self._kssl_defer(how):
                    return
        super().shutdown(how)

    def close(self):
        if self._kssl_obj is not None and self.fileno() >= 0:
            if self._kssl_aborted:
                # As asyncio's ssl transports: abort() closes at once,
                # without close_notify (the peer sees a truncation).
                self._kssl_notified = True
                if self._kssl_deferred is not None:
                    self._kssl_deferred = ["close"]
                    self._kssl_run_deferred()
                    return
            if self._kssl_deferred is not None:
                if "close" not in self._kssl_deferred:
                    self._kssl_deferred.append("close")
                return
            if not self._kssl_close_notify() and self._kssl_defer("close"):
                return
            if self._kssl_kick_handle is not None:
                self._kssl_kick_handle.cancel()
                self._kssl_kick_handle = None
            self._kssl_obj = None
        super().close()
