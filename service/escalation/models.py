from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime


class EscalationFiring(Base):
    """Something that happens once per incident: an escalation step, a numbered repeat page, the assemble check.

    The unique (incident, key) pair is the guarantee: whoever inserts the row does the work, so any
    number of workers and late ticks fire each thing exactly once.
    Keys: `rule:<name>` (a rule's first step), `rule:<name>:step:<n>` (step n of its chain, n ≥ 1),
    `unanswered:<name>` (its last step's time ran out), `repeat:<person id>:<n>`, `assemble`.
    """

    __tablename__ = "escalation_firings"
    __table_args__ = (UniqueConstraint("incident_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EscalationStep(Base):
    """One step of an escalation as it was sent: whom it named, when, and who acknowledged it first.

    Step 0 is the rule's own contacts, 1… its `then` steps. "Team not assembled" (the assemble check's
    message to the Incident Commander) is recorded the same way, as a rule of that name with one step.
    """

    __tablename__ = "escalation_steps"
    __table_args__ = (UniqueConstraint("incident_id", "rule", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(200))
    step: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(300))          # its EscalationFiring key (the notifications' slot)
    contacts: Mapped[list] = mapped_column(JSON, default=list)  # the policy keys it notified
    reason: Mapped[str] = mapped_column(String(500), default="")
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))   # a person's handle, else an address
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))   # email | link | teams

    recipients: Mapped[list["EscalationRecipient"]] = relationship(
        back_populates="step", order_by="EscalationRecipient.id", cascade="all, delete-orphan")


class EscalationRecipient(Base):
    """One message of a step: the address or channel it went to, and when that recipient acknowledged."""

    __tablename__ = "escalation_recipients"
    __table_args__ = (Index("ix_escalation_recipients_step", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("escalation_steps.id", ondelete="CASCADE"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"),
                                                        unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(2000))      # email address, webhook, or the person's handle (bot)
    name: Mapped[str] = mapped_column(String(200), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))

    step: Mapped[EscalationStep] = relationship(back_populates="recipients")
