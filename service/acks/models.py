from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime

SOURCES = ("smtp", "graph", "api")
OUTCOMES = (
    "acknowledged",          # the reply acknowledged the sender's roles
    "already_acknowledged",  # they had acknowledged before
    "not_applied",           # a genuine ack the incident could not take (closed, role handed over)
    "not_a_command",         # matched, from the right person, but the first word was not an ack: help sent
    "rejected_sender",       # matched a page, but From is not the paged person
    "automatic",             # an auto-reply (out of office, vacation, list, report): ignored
    "unmatched",             # no page, token or incident tag found
    "swap_accepted",         # a "yes" to a swap request from the candidate: the shift is theirs
    "swap_declined",         # a "no" from the one person a swap request asks: the requester is told
    "swap_refused",          # a "yes" (or "no") to a swap request that was taken, cancelled or expired
    "question",              # a reply to a stakeholder update that is not "ack": the Communications Lead is told
)


class InboundMessage(Base):
    """Every message that reached the reply address, once: what it was and what Herald did with it.

    `dedup_key` (its Message-ID, else a digest of the raw bytes) makes a message that arrives twice
    (SMTP retry, Graph delta replay, webhook retry) count once.
    """

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_incident", "incident_id", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(500), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    notification_id: Mapped[int | None] = mapped_column(Integer)  # the page it answered, when known
    outcome: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class MailboxSync(Base):
    """Where the Graph inbox poll stands: the delta link to continue from, and who is polling.

    One row per mailbox. `claimed_until` is a lease so that one worker polls at a time;
    `next_poll_at` honours Graph's Retry-After.
    """

    __tablename__ = "mailbox_syncs"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320), unique=True)
    delta_link: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
