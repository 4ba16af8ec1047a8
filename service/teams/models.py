"""What the Teams bot remembers: the conversations it can write to, the cards it posted (to update
them in place) and the activities it received (so the same activity counts once)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class TeamsConversation(Base):
    """A conversation the bot may post into: a person's 1:1 chat, or a channel.

    `service_url` is the Bot Connector endpoint for it: the one an inbound activity named (it wins),
    else HERALD_TEAMS_SERVICE_URL for conversations Herald opened itself.
    """

    __tablename__ = "teams_conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(500), unique=True)
    conversation_type: Mapped[str] = mapped_column(String(16), default="personal")  # personal | channel | groupChat
    service_url: Mapped[str] = mapped_column(String(500))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamsCard(Base):
    """One Adaptive Card the bot posted, so it can be updated in place (PUT …/activities/{id}).

    `view` says how to draw it again: "person" (a page, notice, handoff, escalation or reminder to
    `person_id`, about `role`), "stakeholder" (the channel's status card of `update_id`), or a name
    another domain registered. `revision` counts the updates asked for and `sent_revision` the newest
    one that reached Teams, so an older update that arrives late is not sent over a newer one.
    """

    __tablename__ = "teams_cards"
    __table_args__ = (Index("ix_teams_cards_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="SET NULL"))
    conversation_id: Mapped[str] = mapped_column(String(500))
    service_url: Mapped[str] = mapped_column(String(500))
    activity_id: Mapped[str] = mapped_column(String(500))
    view: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    role: Mapped[str | None] = mapped_column(String(64))
    update_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON, default=dict)  # what the view needs to draw it again
    revision: Mapped[int] = mapped_column(Integer, default=0)
    sent_revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamsActivity(Base):
    """An inbound activity, once: the key is its conversation and id; a repeat gets the stored answer."""

    __tablename__ = "teams_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_key: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of conversation id + activity id
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    type: Mapped[str] = mapped_column(String(32))
    verb: Mapped[str | None] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(32), default="received")
    answer: Mapped[dict | None] = mapped_column(JSON)
