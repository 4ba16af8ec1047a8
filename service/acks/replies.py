"""Reading a reply to a page: who wrote it, what it answers, and whether its first word acknowledges.

Pure functions of the raw message: no database, no configuration. Every way a reply arrives
(SMTP, Graph, the inbound webhook) ends here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

ACK_WORDS = frozenset({"ack", "acked", "acknowledge", "acknowledged", "ok", "okay"})
AUTO_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
SUBJECT_TAG = re.compile(r"\b(INC-\d{8}-\d+)\b", re.IGNORECASE)
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
FIRST_WORD = re.compile(r"[^\W_]+")

# Every language mail-parser-reply knows: replies come from German, Swedish, French... clients.
_reply_parser = EmailReplyParser(languages=list(MAIL_LANGUAGES))


@dataclass(frozen=True)
class Reply:
    """What Herald needs from one inbound message."""

    sender: str                        # the From address, lower-cased ("" when there is none)
    sender_name: str
    subject: str
    message_id: str | None             # "<…>" as sent, or None
    answers: tuple[str, ...]           # Message-IDs it replies to: In-Reply-To first, then References, newest first
    recipients: tuple[str, ...]        # every address it was sent to (headers and SMTP envelope), as written
    automatic: str | None              # why it is an auto-reply, or None for a human reply
    text: str                          # the new text: quotes, headers of quoted mail and signature removed
    first_word: str                    # lower-cased

    @property
    def acknowledges(self) -> bool:
        return self.automatic is None and self.first_word in ACK_WORDS

    @property
    def incident_number(self) -> str | None:
        """The `[INC-YYYYMMDD-N]` tag of the subject, whatever Re:/AW:/SV: prefixes precede it."""
        found = SUBJECT_TAG.search(self.subject)
        return found.group(1).upper() if found else None


# Limits checked on the raw bytes before the email package sees them: its header parser is quadratic
# in a field's length (a 1.6 MB folded header took 62 s, a 128 KB To: 0.9 s) and it recurses into
# nested MIME parts. A reply to a page is small: Exchange's biggest headers are a few KB.
MAX_HEADER_BYTES = 256 * 1024
MAX_HEADER_FIELDS = 500
MAX_FIELD_BYTES = 32 * 1024
MAX_MIME_PARTS = 200
# Only the text above the quoted page matters: the rest is not handed to the reply parser.
MAX_TEXT_CHARS = 64 * 1024
MAX_HTML_CHARS = 256 * 1024


class NotAMessage(ValueError):
    """The bytes are not an RFC 822 message Herald can read (no header, over the limits, unparseable):
    sending it again cannot help (SMTP answers 5xx, the webhook 4xx)."""


def check_limits(raw: bytes) -> None:
    """Refuse, before parsing, a message whose header or MIME structure is beyond what a reply needs."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    if end > MAX_HEADER_BYTES:
        raise NotAMessage(f"the message header is {end:,} bytes; at most {MAX_HEADER_BYTES:,} are accepted")
    fields, longest, current = 0, 0, 0
    for line in raw[:end].splitlines():
        if line[:1] in (b" ", b"\t"):  # a folded continuation of the field above
            current += len(line)
        else:
            fields += 1
            current = len(line)
        longest = max(longest, current)
    if fields > MAX_HEADER_FIELDS:
        raise NotAMessage(f"the message has {fields:,} header fields; at most {MAX_HEADER_FIELDS} are accepted")
    if longest > MAX_FIELD_BYTES:
        raise NotAMessage(f"a header field of the message is {longest:,} bytes long; "
                          f"at most {MAX_FIELD_BYTES:,} are accepted")
    parts = raw.lower().count(b"content-type:")
    if parts > MAX_MIME_PARTS:
        raise NotAMessage(f"the message has {parts:,} MIME parts; at most {MAX_MIME_PARTS} are accepted")


def parse_message(raw: bytes) -> EmailMessage:
    check_limits(raw)
    return message_from_bytes(raw, policy=policy.default)


def read_reply(message: EmailMessage, envelope_recipients: tuple[str, ...] = (),
               envelope_sender: str | None = None) -> Reply:
    """Everything Herald reads from one message; `envelope_*` come from SMTP when it arrived that way."""
    sender_name, sender = _first_address(message, "From")
    recipients = set(envelope_recipients)
    for header in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        recipients.update(addr for _, addr in getaddresses(_all(message, header)) if addr)
    text = new_text(body_text(message))
    own_id = _message_ids(_header(message, "Message-ID"))
    return Reply(
        sender=sender.lower(),
        sender_name=sender_name,
        subject=_header(message, "Subject"),
        message_id=own_id[0] if own_id else None,
        answers=_answered_ids(message),
        recipients=tuple(sorted(recipients)),
        automatic=automatic_reason(message, envelope_sender),
        text=text,
        first_word=first_word(text),
    )


def automatic_reason(message: EmailMessage, envelope_sender: str | None = None) -> str | None:
    """Why a message is machine-made (RFC 3834 and the headers vacation responders use), else None.

    X-Auto-Response-Suppress is deliberately not a sign: Outlook puts it on mail people write.
    """
    auto_submitted = _header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    if message.get("X-Autoreply") is not None:
        return "X-Autoreply"
    if message.get_content_type() == "multipart/report":
        return "delivery or read report"
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return "null envelope sender"
    return None


def body_text(message: EmailMessage) -> str:
    """The message's text: its text/plain body, else its HTML body as text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = _decoded(part)
    if part.get_content_type() == "text/html":
        return html_to_text(content[:MAX_HTML_CHARS])[:MAX_TEXT_CHARS]
    return content[:MAX_TEXT_CHARS]


def new_text(body: str) -> str:
    """What the sender wrote above the quoted mail, without signature or `>` lines."""
    replies = _reply_parser.read(body).replies
    if not replies or replies[0].headers:
        # The message begins with the quoted mail's header: nothing was written above it.
        return ""
    kept = [line for line in replies[0].body.splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(kept).strip()


def first_word(text: str) -> str:
    found = FIRST_WORD.search(text)
    return found.group(0).lower() if found else ""


def plus_tokens(recipients: tuple[str, ...], reply_address: str | None) -> list[str]:
    """Tokens of `base+<token>@domain` recipients, for the reply address `base@domain`."""
    if not reply_address or "@" not in reply_address:
        return []
    base, _, domain = reply_address.lower().rpartition("@")
    tokens = []
    for address in recipients:
        local, _, at = address.rpartition("@")
        if at.lower() == domain and local.lower().startswith(base + "+") and len(local) > len(base) + 1:
            tokens.append(local[len(base) + 1:])
    return tokens


def _decoded(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError):  # unknown, lying or unusable (idna) charset: keep what can be read
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError):  # a header the parser cannot model: read it raw
        value = next((v for k, v in message.raw_items() if k.lower() == name.lower()), None)
    return str(value).strip() if value is not None else ""


def _all(message: EmailMessage, name: str) -> list[str]:
    try:
        return [str(v) for v in message.get_all(name) or []]
    except (ValueError, IndexError):
        return [str(v) for k, v in message.raw_items() if k.lower() == name.lower()]


def _first_address(message: EmailMessage, name: str) -> tuple[str, str]:
    display, address = parseaddr(_header(message, name))
    return display, address if "@" in address else ""


def _message_ids(value: str) -> list[str]:
    return MESSAGE_ID.findall(value)


def _answered_ids(message: EmailMessage) -> tuple[str, ...]:
    ordered: list[str] = []
    for mid in _message_ids(_header(message, "In-Reply-To")) + list(reversed(_message_ids(_header(message, "References")))):
        if mid not in ordered:
            ordered.append(mid)
    return tuple(ordered)


class _HtmlText(HTMLParser):
    """HTML to plain text the way a mail client would quote it: blocks on lines, blockquotes as `> `."""

    BLOCKS = {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre",
              "blockquote", "section", "article", "header", "footer"}
    HIDDEN = {"head", "style", "script", "title", "template"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self.current = ""
        self.depth = 0
        self.hidden = 0

    def _break(self, blank: bool = False) -> None:
        if self.current.strip():
            self.lines.append((self.depth, self.current.strip()))
        if blank and self.lines and self.lines[-1][1]:
            self.lines.append((self.depth, ""))
        self.current = ""

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "br":
            if self.current.strip():
                self._break()
            else:
                self.lines.append((self.depth, ""))
        elif tag in self.BLOCKS:
            self._break(blank=tag in ("p", "blockquote", "hr"))
            if tag == "blockquote":
                self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self._break()
            if tag == "blockquote":
                self.depth = max(0, self.depth - 1)
            if tag in ("p", "blockquote"):
                self._break(blank=True)

    def handle_data(self, data):
        if not self.hidden:
            self.current += re.sub(r"[\s\xa0]+", " ", data)

    def text(self) -> str:
        self._break()
        out = ["> " * depth + line if line else "" for depth, line in self.lines]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()
