from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime
from ..people.models import Person
from ..rotations.models import Override, Rotation

SWAP_STATUSES = ("open", "accepted", "declined", "cancelled", "expired")


class SwapRequest(Base):
    """A person asks someone (`to`) or anyone on the rotation (`to` null) to take a stretch of their shift.

    The first acceptance creates the override; `status` moves from `open` exactly once.
    """

    __tablename__ = "swap_requests"
    __table_args__ = (Index("ix_swap_requests_rotation_status", "rotation_id", "status", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rotation_id: Mapped[int] = mapped_column(ForeignKey("rotations.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    to_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="open")
    reason: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    override_id: Mapped[int | None] = mapped_column(ForeignKey("overrides.id", ondelete="SET NULL"))
    via: Mapped[str | None] = mapped_column(String(16))

    rotation: Mapped[Rotation] = relationship(lazy="joined")
    requester: Mapped[Person] = relationship(foreign_keys=[requester_id], lazy="joined")
    to: Mapped[Person | None] = relationship(foreign_keys=[to_id], lazy="joined")
    accepted_by: Mapped[Person | None] = relationship(foreign_keys=[accepted_by_id], lazy="joined")
    override: Mapped[Override | None] = relationship(lazy="select")


class OnCallJob(Base):
    """When a periodic on-call job (e.g. the out-of-office check) is next due; claimed like any due work."""

    __tablename__ = "oncall_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
