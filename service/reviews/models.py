"""The post-incident review: the edited post-mortem, the review meeting, action items, reminders."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime
from ..people.models import Person


class Postmortem(Base):
    """The author's edited post-mortem; while there is none, Herald serves the draft."""

    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    markdown: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(200))


class ReviewMeeting(Base):
    """The review meeting of one incident, as sent in the iCal invitation (UID fixed, SEQUENCE per change)."""

    __tablename__ = "review_meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), unique=True)
    uid: Mapped[str] = mapped_column(String(255), unique=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    attendees: Mapped[list] = mapped_column(JSON, default=list)  # person handles
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled | cancelled | done
    within_deadline: Mapped[bool] = mapped_column(Boolean, default=True)
    booked_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActionItem(Base):
    """A follow-up from the review; `number` counts from 1 within its incident."""

    __tablename__ = "action_items"
    __table_args__ = (UniqueConstraint("incident_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    owner: Mapped[Person | None] = relationship(lazy="joined")


class ReviewReminder(Base):
    """A reminder with its due time: the post-mortem deadline (to the IC) or an action item (to its owner)."""

    __tablename__ = "review_reminders"
    __table_args__ = (Index("ix_review_reminders_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    action_item_id: Mapped[int | None] = mapped_column(ForeignKey("action_items.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))  # postmortem_due | action_due_tomorrow | action_due_today
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | skipped | cancelled
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")
