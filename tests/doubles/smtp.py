"""A real SMTP server (aiosmtpd) on 127.0.0.1 and an ephemeral port that keeps what it accepts.

Options: implicit TLS (SMTPS), STARTTLS required, AUTH required (over TLS only), refusals per
recipient (`refuse["x@y"] = "550 5.1.1 No such user"`), and a delay per message (to catch a worker
mid-send).
"""
from __future__ import annotations

import asyncio
import threading
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class _Controller(Controller):
    def __init__(self, *args, on_connect=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_connect = on_connect

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]  # we asked for port 0: learn the real one
        super()._trigger_server()

    def factory(self):
        if self._on_connect is not None:
            self._on_connect()
        return super().factory()


class _Handler:
    def __init__(self, sink: "SmtpSink"):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.sink.refuse:
            return self.sink.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        return f"250 2.0.0 Ok: queued as Q{self.sink.accept(envelope)}"


class SmtpSink:
    def __init__(self, *, smtps=None, starttls=None, login: tuple[str, str] | None = None, delay: float = 0.0):
        self.raw: list[bytes] = []        # each accepted message as it came over the wire
        self.envelopes: list[tuple[str, list[str]]] = []
        self.arrived: list[float] = []    # time.time() of each accepted message
        self.refuse: dict[str, str] = {}
        self.connections = 0
        self.delay = delay
        self._lock = threading.Lock()
        kwargs = {}
        if smtps is not None:
            kwargs["ssl_context"] = smtps.server_context()
        if starttls is not None:
            kwargs.update(tls_context=starttls.server_context(), require_starttls=True)
        if login is not None:
            def authenticate(server, session, envelope, mechanism, auth_data):
                ok = (auth_data.login.decode(), auth_data.password.decode()) == login
                return AuthResult(success=ok, handled=False)
            # Over SMTPS the whole session is TLS already; aiosmtpd only tracks STARTTLS for auth_require_tls.
            kwargs.update(authenticator=authenticate, auth_required=True, auth_require_tls=smtps is None)
        # aiosmtpd inspects its handler's members on every connection: give it one with nothing costly on it.
        self.controller = _Controller(_Handler(self), hostname="127.0.0.1", port=0, on_connect=self._connected,
                                      ready_timeout=10, **kwargs)

    def _connected(self):
        with self._lock:
            self.connections += 1

    @property
    def port(self) -> int:
        return self.controller.port

    def start(self) -> "SmtpSink":
        self.controller.start()
        with self._lock:
            self.connections = 0  # not counting the controller's own readiness probe
        return self

    def stop(self) -> None:
        self.controller.stop()

    def accept(self, envelope) -> int:
        with self._lock:
            self.raw.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.arrived.append(time.time())
            return len(self.raw)

    @property
    def messages(self) -> list:
        """The accepted messages, parsed (email.message.EmailMessage); parsing waits until a test asks."""
        with self._lock:
            raw = list(self.raw)
        return [message_from_bytes(data, policy=policy.default) for data in raw]
