from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime
from ..people.models import Person


class Rotation(Base):
    """An on-call rotation: an imported or subscribed iCal calendar."""

    __tablename__ = "rotations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source_url: Mapped[str | None] = mapped_column(String(2000))
    refresh_every_seconds: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    next_refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # The last good calendar text, to re-materialise. Up to 10 MiB: loaded only when read (deferred), not
    # with every rotation a listing, the board or a tick job reads.
    calendar: Mapped[str | None] = mapped_column(Text, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The window the shifts cover, and when it is next re-resolved (daily, or at once when people change).
    materialised_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    materialised_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    materialise_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    report: Mapped[dict | None] = mapped_column(JSON)  # the last import report
    # The people's side (service/oncall/): when the reminders, changes and gaps are next looked at, and
    # the schedule of the next days as it was last announced (to tell people what changed).
    oncall_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    announced: Mapped[list | None] = mapped_column(JSON)
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_subscription(self) -> bool:
        return self.source_url is not None


class Shift(Base):
    """A resolved, non-overlapping stretch of one rotation: who is on call from start (incl.) to end (excl.)."""

    __tablename__ = "shifts"
    __table_args__ = (
        Index("ix_shifts_rotation_start_end", "rotation_id", "start", "end"),
        Index("ix_shifts_person_start", "person_id", "start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    label: Mapped[str] = mapped_column(String(500), default="")
    uid: Mapped[str] = mapped_column(String(500), default="")

    person: Mapped[Person | None] = relationship(lazy="joined")


class Override(Base):
    """A manual cover that wins over the calendar."""

    __tablename__ = "overrides"
    __table_args__ = (Index("ix_overrides_rotation_start_end", "rotation_id", "start", "end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100), default="")

    person: Mapped[Person] = relationship(lazy="joined")
    rotation: Mapped[Rotation] = relationship(lazy="joined")


class CalendarFeed(Base):
    """The secret of one person's or one rotation's iCal feed (SHA-256 at rest; a new one replaces the old)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    rotation_id: Mapped[int | None] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100), default="")

    rotation: Mapped[Rotation | None] = relationship(lazy="joined")
    person: Mapped[Person | None] = relationship(lazy="joined")


class RoleOwnerSeen(Base):
    """Who a P1/P2 incident role's rotation was last seen to name, so a handoff is noticed once."""

    __tablename__ = "role_rotation_owners"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
