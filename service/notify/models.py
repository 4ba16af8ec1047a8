from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime

KINDS = ("page", "notice", "initial", "progress", "resolution", "reminder", "escalation", "handoff", "invite",
         "help", "shift_reminder", "schedule_change", "coverage_gap", "swap_request",
         "card_update",  # card_update: a Teams card Herald posted, redrawn in place
         "question")     # question: a stakeholder's reply to an update, for the Communications Lead
CHANNELS = ("teams", "teams_bot", "email", "log")
# pending: waiting for its first attempt; failed: will retry; sent; dead: gave up (POST …/retry revives it);
# cancelled: no longer wanted when it came due (a page for a role acknowledged or an incident resolved meanwhile).
STATUSES = ("pending", "sent", "failed", "dead", "cancelled")
DUE_STATUSES = ("pending", "failed")


class Notification(Base):
    """One message to one recipient on one channel: a row of the durable outbox.

    The payload is rendered when the row is created, so what was sent is exactly what is stored.
    Workers claim due rows (status pending/failed, next_attempt_at reached, lease free) and record
    the outcome; `idempotency_key` makes every enqueue safe to repeat.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_incident", "incident_id", "id"),
        # The escalation tick's look at a paged holder's series (escalation/ticks.py, maybe_due), index only.
        Index("ix_notifications_pages", "incident_id", "person_id", "kind", "created_at", "slot"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    slot: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(2000))
    recipient_name: Mapped[str] = mapped_column(String(200), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(400), unique=True)
    priority: Mapped[int] = mapped_column(Integer, default=50)  # lower goes first: pages before updates
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())  # start of the current series of attempts
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(500))
    message_id: Mapped[str | None] = mapped_column(String(500), index=True)  # our RFC 5322 Message-ID (email)
    ack_token: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int | None] = mapped_column(Integer)  # due_at -> accepted by the provider
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Notification {self.id} {self.kind} {self.channel} {self.recipient} {self.status}>"


class UpdateReceipt(Base):
    """Someone said "Got it" to a stakeholder update: by its link, a reply "ack", or the Teams button.

    A receipt, not a page: nothing waits for it, repeats or escalates. One row per update and
    `address` (an email address, or `teams:<Entra object id>` for a Teams user Herald does not know),
    so acknowledging twice counts once. `notification_id` is the message acknowledged: which of the
    update's recipients (an address, the Teams channel) has seen it.
    """

    __tablename__ = "update_receipts"
    __table_args__ = (
        UniqueConstraint("update_id", "address"),
        Index("ix_update_receipts_incident", "incident_id", "update_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    update_id: Mapped[int] = mapped_column(ForeignKey("incident_updates.id", ondelete="CASCADE"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    address: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    via: Mapped[str] = mapped_column(String(16))  # link | email | teams
    at: Mapped[datetime] = mapped_column(UTCDateTime())
