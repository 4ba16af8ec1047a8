from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    aliases: Mapped[list] = mapped_column(JSON, default=list)
    teams_webhook: Mapped[str | None] = mapped_column(String(2000))
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Microsoft Teams: the Entra object id (set by an admin or learned when the person writes to the bot)
    # and the Teams user id ("29:…") the Bot Connector knows them by, learned from their first activity.
    aad_object_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    teams_user_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def addresses(self) -> set[str]:
        """Every address this person may write from, lower-cased: their email and email-like aliases."""
        found = {self.email.lower()}
        found.update(a.lower() for a in (self.aliases or []) if "@" in a)
        return found

    def __repr__(self) -> str:
        return f"<Person {self.handle}>"
