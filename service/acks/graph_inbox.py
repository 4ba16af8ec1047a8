"""Replies read from the Exchange mailbox (HERALD_GRAPH_*): a Graph delta query on the inbox every tick.

Each round continues from the stored delta link, so each message is seen once; the inbound table
also drops a message Graph reports twice (it reports a message again when it changes, e.g. is read).
A 410 Gone (expired delta link) starts a new round, limited to what arrived since the last sync.
Throttling (429 + Retry-After) postpones the next poll. One worker polls at a time (a lease on the
mailbox's row); the delta link moves on only once every message of the round is stored.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import quote

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from .. import clock, db
from ..mechanics.claim import claim
from ..microsoft import DeltaExpired, GraphError, microsoft
from ..runtime import config
from .inbound import NotAMessage, act, read
from .models import InboundMessage, MailboxSync

log = logging.getLogger("herald.acks.graph")

SELECT = ("internetMessageId,conversationId,from,sender,toRecipients,ccRecipients,subject,body,"
          "internetMessageHeaders,receivedDateTime")
LEASE = timedelta(minutes=5)
FIRST_LOOK_BACK = timedelta(days=1)     # a new mailbox: replies of the last day still count
RESYNC_OVERLAP = timedelta(hours=1)     # after a 410: from a little before the last sync
ERROR_PAUSE = timedelta(seconds=30)
# Headers that describe the MIME structure of the original; the body is rebuilt from Graph's JSON.
MIME_HEADERS = {"content-type", "content-transfer-encoding", "mime-version", "from", "to", "cc", "subject",
                "message-id"}


def inbox_delta_path(mailbox: str) -> str:
    return f"users/{quote(mailbox)}/mailFolders/inbox/messages/delta"


def poll_inbox(now: datetime) -> None:
    cfg = config()
    if not cfg.graph_configured:
        return
    sync = _claim(cfg.graph_mailbox, now)
    if sync is None:
        return  # another worker is polling, or Graph asked us to wait
    delta_link, error, pause = sync.delta_link, None, None
    try:
        delta_link = _round(cfg, sync, now)
    except GraphError as exc:
        error = str(exc)
        pause = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else ERROR_PAUSE
        log.warning("Graph inbox poll of %s failed: %s", cfg.graph_mailbox, exc)
    except Exception as exc:  # the database, most likely: the round is repeated, nothing is lost
        error, pause = f"{type(exc).__name__}: {exc}", ERROR_PAUSE
        log.exception("Graph inbox poll of %s could not store a message", cfg.graph_mailbox)
    finally:
        _release(sync.id, now, delta_link=delta_link, error=error, pause=pause)


def _round(cfg, sync: MailboxSync, now: datetime) -> str | None:
    """Fetch and process one delta round; return the delta link to continue from."""
    client = microsoft(cfg)
    headers = {"Prefer": 'outlook.body-content-type="text"'}
    try:
        if sync.delta_link:
            items, link = client.delta(sync.delta_link, headers=headers)
        else:
            items, link = client.delta(inbox_delta_path(cfg.graph_mailbox), _first_params(sync, now), headers=headers)
    except DeltaExpired:
        log.info("Graph delta link of %s expired; starting a new round", cfg.graph_mailbox)
        items, link = client.delta(inbox_delta_path(cfg.graph_mailbox), _first_params(sync, now), headers=headers)
    for item in items:
        if "@removed" not in item:
            _process(item)
    return link


def _first_params(sync: MailboxSync, now: datetime) -> dict:
    since = sync.synced_at - RESYNC_OVERLAP if sync.synced_at else now - FIRST_LOOK_BACK
    return {"$select": SELECT, "$filter": f"receivedDateTime ge {since:%Y-%m-%dT%H:%M:%SZ}"}


def _process(item: dict) -> None:
    try:
        raw = message_from_graph(item).as_bytes()
    except Exception as exc:  # a message Herald cannot even rebuild must not block every later reply
        log.exception("Graph message %s could not be read", item.get("id"))
        _record_unreadable(item, exc)
        return
    try:
        incoming = read(raw)  # parsed before the transaction begins
    except NotAMessage as exc:
        _record_unreadable(item, exc)
        return
    with db.transaction() as s:
        act(s, incoming, source="graph")


def message_from_graph(item: dict) -> EmailMessage:
    """The Graph message as an RFC 822 message, so Graph replies go through the same parser as SMTP ones."""
    message = EmailMessage()
    for header in item.get("internetMessageHeaders") or []:
        name, value = header.get("name"), header.get("value")
        if name and value is not None and name.lower() not in MIME_HEADERS:
            _set(message, name, value)
    _set(message, "From", _address(item.get("from") or item.get("sender")))
    for name, key in (("To", "toRecipients"), ("Cc", "ccRecipients")):
        addresses = [_address(r) for r in item.get(key) or []]
        if addresses:
            _set(message, name, ", ".join(a for a in addresses if a))
    _set(message, "Subject", item.get("subject") or "")
    if item.get("internetMessageId"):
        _set(message, "Message-ID", item["internetMessageId"])
    body = item.get("body") or {}
    subtype = "html" if str(body.get("contentType", "")).lower() == "html" else "plain"
    message.set_content(body.get("content") or "", subtype=subtype)
    return message


def _set(message: EmailMessage, name: str, value: str) -> None:
    try:
        message[name] = " ".join(str(value).split())
    except (ValueError, TypeError, IndexError):  # a header the email package will not model: leave it out
        log.debug("dropping unreadable header %s", name)


def _address(recipient: dict | None) -> str:
    email = (recipient or {}).get("emailAddress") or {}
    address, name = email.get("address") or "", (email.get("name") or "").replace('"', "")
    return f'"{name}" <{address}>' if name and address else address


def _record_unreadable(item: dict, exc: Exception) -> None:
    key = item.get("internetMessageId") or f"graph:{item.get('id')}"
    try:
        with db.transaction() as s:
            s.add(InboundMessage(dedup_key=key[:500], source="graph", received_at=clock.now(), outcome="unmatched",
                                 detail=f"could not be read: {type(exc).__name__}: {exc}"[:2000]))
    except IntegrityError:
        pass


# ---- the mailbox's row: lease, delta link, pause ------------------------------------------------

def _claim(mailbox: str, now: datetime) -> MailboxSync | None:
    """Take the mailbox's lease when it is free and no pause is pending; None otherwise."""
    with db.transaction() as s:
        row = s.scalar(select(MailboxSync).where(MailboxSync.mailbox == mailbox))
        if row is None:
            try:
                with s.begin_nested():
                    row = MailboxSync(mailbox=mailbox)
                    s.add(row)
            except IntegrityError:
                row = s.scalar(select(MailboxSync).where(MailboxSync.mailbox == mailbox))
        taken = claim(s, MailboxSync, MailboxSync.id == row.id,
                      or_(MailboxSync.claimed_until.is_(None), MailboxSync.claimed_until < now),
                      or_(MailboxSync.next_poll_at.is_(None), MailboxSync.next_poll_at <= now),
                      lease={"claimed_until": now + LEASE})
        if not taken:
            return None
        s.refresh(row)
        s.expunge(row)
        return row


def _release(sync_id: int, now: datetime, *, delta_link: str | None, error: str | None,
             pause: timedelta | None) -> None:
    with db.transaction() as s:
        row = s.get(MailboxSync, sync_id)
        row.claimed_until = None
        row.last_error = error
        row.next_poll_at = now + pause if pause else None
        if error is None:
            row.delta_link, row.synced_at = delta_link, now
