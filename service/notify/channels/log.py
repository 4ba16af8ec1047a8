"""The `log` channel: nothing leaves Herald; the rendered message stays in the outbox and the log."""
from __future__ import annotations

import logging

from . import Outgoing, Receipt

log = logging.getLogger("herald.notify.log")


class LogChannel:
    name = "log"

    def send(self, message: Outgoing) -> Receipt:
        log.info("%s for %s <%s>: %s", message.kind, message.recipient_name, message.recipient,
                 message.payload.get("subject", ""))
        return Receipt("log")

    def close(self) -> None:
        pass
