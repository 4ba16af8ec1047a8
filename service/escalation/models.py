from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, UTCDateTime


class EscalationFiring(Base):
    """Something that happens once per incident: an escalation rule, a numbered repeat page, the assemble check.

    The unique (incident, key) pair is the guarantee: whoever inserts the row does the work, so any
    number of workers and late ticks fire each thing exactly once.
    Keys: `rule:<name>`, `repeat:<person id>:<n>`, `assemble`.
    """

    __tablename__ = "escalation_firings"
    __table_args__ = (UniqueConstraint("incident_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(300))
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
