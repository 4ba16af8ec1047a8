"""The inbound SMTP listener (HERALD_INBOUND_SMTP): takes replies for the reply address's domain, relays nothing.

Started beside the ticker by `herald serve` and `herald worker`. A message Herald cannot store
right now gets a 451 so the sending server keeps it and tries again: nothing is lost.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller

from .. import db
from .inbound import Incoming, NotAMessage, act, read

log = logging.getLogger("herald.acks.smtp")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # replies are small; phone signatures with images still fit
MAX_RECIPIENTS = 20


class ReplyHandler:
    """aiosmtpd handler: RCPT only for `domain`, DATA into the one reply pipeline."""

    def __init__(self, app, domain: str):
        self.app = app
        self.domain = domain.lower()
        # One message parsed at a time, whatever arrives at once: parsing is CPU under the GIL, and
        # the API's threads must keep their share (each parse is bounded by replies.check_limits).
        self.parsing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-parse")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.rpartition("@")[2].lower() != self.domain:
            return "550 5.7.1 Relaying denied: this server only takes replies to Herald"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        loop = asyncio.get_running_loop()
        try:
            incoming = await loop.run_in_executor(self.parsing, self._read, envelope)
        except NotAMessage as exc:  # permanent: the sender must not retry it for days
            log.info("refused a message from %s: %s", envelope.mail_from, exc)
            return f"554 5.6.0 {_one_line(str(exc))}"
        try:
            await loop.run_in_executor(None, self._act, incoming)
        except Exception:
            log.exception("could not process a message from %s", envelope.mail_from)
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 Message accepted"

    def _read(self, envelope) -> Incoming:
        return read(envelope.original_content or envelope.content, envelope_sender=envelope.mail_from,
                    envelope_recipients=tuple(envelope.rcpt_tos))

    def _act(self, incoming: Incoming) -> None:
        with self.app.app_context(), db.transaction() as s:
            act(s, incoming, source="smtp")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


class ListenerController(Controller):
    """aiosmtpd's Controller, able to listen on port 0 (tests) and report the port it got."""

    def _trigger_server(self):
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def listen_address(value: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:2525`) from HERALD_INBOUND_SMTP."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"HERALD_INBOUND_SMTP must be host:port, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def accepted_domain(settings) -> str:
    """Mail is taken for the reply address's domain (or, without one, the From address's)."""
    return (settings.reply_address or settings.mail_from).rpartition("@")[2].lower()


def start_listener(app) -> ListenerController | None:
    settings = app.config["HERALD"]
    if not settings.inbound_smtp:
        return None
    host, port = listen_address(settings.inbound_smtp)
    controller = ListenerController(ReplyHandler(app, accepted_domain(settings)), hostname=host, port=port,
                                    data_size_limit=MAX_MESSAGE_BYTES, ident="Herald reply listener")
    controller.start()
    log.info("accepting replies for @%s over SMTP on %s:%s", accepted_domain(settings), host, controller.port)
    return controller


def stop_listener(controller: ListenerController) -> None:
    controller.stop()
    controller.handler.parsing.shutdown(wait=False, cancel_futures=True)

