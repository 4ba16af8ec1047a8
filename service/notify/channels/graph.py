"""Email through Microsoft Graph: `POST /users/{mailbox}/sendMail` with the MIME message.

Sending MIME (base64, Content-Type text/plain) rather than Graph's JSON message keeps our
Message-ID, Reply-To, Auto-Submitted and calendar part exactly as built for SMTP. Graph answers
202; throttling (429/503/504) is retried by the outbox after Retry-After, a malformed message
(400) is final, anything else is retried.
"""
from __future__ import annotations

import base64
from urllib.parse import quote

from ...microsoft import GraphError, microsoft
from . import Outgoing, PermanentError, Receipt, RetryableError
from .mime import build_email


class GraphMailChannel:
    name = "email"

    def __init__(self, cfg):
        self.cfg = cfg
        self.mailbox = cfg.graph_mailbox

    def send(self, message: Outgoing) -> Receipt:
        mail = build_email(message, self.mailbox)
        body = base64.b64encode(mail.as_bytes())
        try:
            response = microsoft(self.cfg).post(f"/users/{quote(self.mailbox)}/sendMail", data=body,
                                                content_type="text/plain", retries=0)
        except GraphError as exc:
            if exc.status == 400:
                raise PermanentError(f"Graph refused the message: {exc}") from exc
            raise RetryableError(f"Graph sendMail failed: {exc}", retry_after=exc.retry_after) from exc
        return Receipt(response.headers.get("request-id") or mail["Message-ID"])

    def close(self) -> None:
        pass
