"""Email over SMTP: `HERALD_SMTP_URL` = smtp://[user:pass@]host[:port][?starttls=1] or smtps://…

Each sending thread keeps its connection open and reuses it (checked with NOOP when it has been
idle); a dropped connection is reopened on the next message. Optional query parameters:
`starttls=1` (required STARTTLS on smtp://), `cafile=/path/ca.pem` (trust a private CA),
`timeout=SECONDS` (default 20).
"""
from __future__ import annotations

import smtplib
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from . import Outgoing, PermanentError, Receipt, RetryableError
from .mime import build_email

IDLE_CHECK_SECONDS = 10


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    cafile: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str) -> "SmtpSettings":
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("HERALD_SMTP_URL must look like smtp://[user:pass@]host[:port][?starttls=1] or smtps://…")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=not implicit and query.get("starttls", "0").lower() in ("1", "true", "yes"),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            cafile=query.get("cafile"),
            timeout=float(query.get("timeout", 20)),
        )

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)


class _Connection:
    def __init__(self, smtp: smtplib.SMTP):
        self.smtp = smtp
        self.last_used = time.monotonic()


class SmtpChannel:
    name = "email"

    def __init__(self, url: str, mail_from: str):
        self.settings = SmtpSettings.from_url(url)
        self.mail_from = mail_from
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[_Connection] = []

    def _open(self) -> _Connection:
        s = self.settings
        if s.implicit_tls:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=s.tls_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.starttls:
                smtp.starttls(context=s.tls_context())
        if s.username:
            smtp.login(s.username, s.password or "")
        connection = _Connection(smtp)
        with self._lock:
            self._all.append(connection)
        return connection

    def _connection(self) -> _Connection:
        connection = getattr(self._local, "connection", None)
        if connection is not None and time.monotonic() - connection.last_used > IDLE_CHECK_SECONDS:
            try:
                if connection.smtp.noop()[0] != 250:
                    raise smtplib.SMTPServerDisconnected("NOOP refused")
            except (smtplib.SMTPException, OSError):
                self._drop(connection)
                connection = None
        if connection is None:
            connection = self._local.connection = self._open()
        return connection

    def _drop(self, connection: _Connection) -> None:
        self._local.connection = None
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)
        try:
            connection.smtp.close()
        except Exception:
            pass

    def send(self, message: Outgoing) -> Receipt:
        mail = build_email(message, self.mail_from)
        connection = None
        try:
            connection = self._connection()
            refused = connection.smtp.send_message(mail, from_addr=self.mail_from, to_addrs=[message.recipient])
            connection.last_used = time.monotonic()
        except smtplib.SMTPRecipientsRefused as exc:
            self._reset(connection)
            code, text = next(iter(exc.recipients.values()))
            raise _by_code(code, f"recipient refused: {code} {_text(text)}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            self._drop_quietly(connection)
            raise RetryableError(f"SMTP login failed: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPResponseException as exc:
            self._reset(connection)
            raise _by_code(exc.smtp_code, f"SMTP server answered {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop_quietly(connection)
            raise RetryableError(f"SMTP connection failed: {type(exc).__name__}: {exc}") from exc
        if refused:  # only with several recipients; kept for completeness of the contract
            code, text = next(iter(refused.values()))
            raise _by_code(code, f"recipient refused: {code} {_text(text)}")
        return Receipt(mail["Message-ID"])

    def _reset(self, connection: _Connection | None) -> None:
        """After a refused transaction the session may continue; RSET it, or drop it when that fails."""
        if connection is None:
            return
        try:
            connection.smtp.rset()
        except (smtplib.SMTPException, OSError):
            self._drop_quietly(connection)

    def _drop_quietly(self, connection: _Connection | None) -> None:
        if connection is not None:
            self._drop(connection)
        else:
            self._local.connection = None

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            try:
                connection.smtp.quit()
            except Exception:
                try:
                    connection.smtp.close()
                except Exception:
                    pass


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _by_code(code: int, message: str):
    return PermanentError(message) if 500 <= code < 600 else RetryableError(message)
