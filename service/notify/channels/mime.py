"""The email Herald sends, as MIME: the same bytes go out over SMTP and through Graph.

multipart/alternative with text and HTML (and, for invitations, a text/calendar part whose
`method=` repeats the calendar's METHOD, REQUEST or CANCEL, which Outlook, Google and Apple show as
a meeting or its cancellation). Our own Message-ID (stored on the row, so replies can be matched and a retried copy folds into the first), Reply-To with the page's token,
and headers that keep out-of-office robots quiet.
"""
from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from . import Outgoing

SENDER_NAME = "Herald"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def build_email(message: Outgoing, mail_from: str) -> EmailMessage:
    payload = message.payload
    mail = EmailMessage(policy=policy.SMTP)
    mail["Subject"] = _one_line(payload["subject"])
    mail["From"] = formataddr((SENDER_NAME, mail_from))
    mail["To"] = formataddr((_one_line(message.recipient_name), message.recipient))
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message.message_id or make_msgid(domain=mail_from.rpartition("@")[2] or None)
    if payload.get("reply_to"):
        mail["Reply-To"] = payload["reply_to"]
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: robots must not answer
    mail["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # Exchange: no out-of-office replies to us
    mail["X-Herald-Kind"] = message.kind
    mail.set_content(payload["text"])
    mail.add_alternative(payload["html"], subtype="html")
    if payload.get("calendar"):
        mail.add_alternative(payload["calendar"], subtype="calendar",
                             params={"method": calendar_method(payload["calendar"])})
    return mail


def calendar_method(ics: str) -> str:
    """The iTIP METHOD of the calendar (REQUEST, CANCEL, …); RFC 6047 wants it on the MIME part too."""
    for line in ics.splitlines():
        name, _, value = line.partition(":")
        if name.strip().upper() == "METHOD" and value.strip():
            return value.strip().upper()
    return "REQUEST"
