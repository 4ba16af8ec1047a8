"""Monitoring's side of Herald: the inbox of received events and one row per alert group."""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, UTCDateTime
from ..incidents.models import Incident

SOURCES = ("alertmanager", "grafana", "pagerduty")
EVENT_STATUSES = ("pending", "done", "dead")


def group_hash(source: str, key: str) -> str:
    """A fixed-width, indexable identity for a group key of any length (Alertmanager's can be long)."""
    return hashlib.sha256(f"{source}\x00{key}".encode("utf-8")).hexdigest()


class AlertEvent(Base):
    """One webhook call or PagerDuty event exactly as received, waiting to be (or already) processed.

    The request handler only stores this row; the worker claims pending rows and turns them into
    incident changes in the same transaction that marks them done, so a crash loses nothing and
    nothing is applied twice.
    """

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("ix_alert_events_status_id", "status", "id"),
        Index("ix_alert_events_group_status", "group_hash", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    group_key: Mapped[str] = mapped_column(Text)
    group_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    token_name: Mapped[str] = mapped_column(String(100), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(300))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertGroup(Base):
    """An Alertmanager/Grafana alert group or a PagerDuty dedup key, and the incident it currently feeds."""

    __tablename__ = "alert_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(Text)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="firing")  # firing | resolved
    labels: Mapped[dict] = mapped_column(JSON, default=dict)  # groupLabels (PagerDuty: none)
    alerts: Mapped[dict] = mapped_column(JSON, default=dict)  # fingerprint -> alert as last reported
    truncated_alerts: Mapped[int] = mapped_column(Integer, default=0)
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), index=True
    )
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    last_event_id: Mapped[int | None] = mapped_column(Integer)

    incident: Mapped[Incident | None] = relationship()
