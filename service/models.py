"""Every model, imported once so `Base.metadata` is complete (Alembic autogenerate reads it)."""
from .acks.models import InboundMessage, MailboxSync  # noqa: F401
from .alerts.models import AlertEvent, AlertGroup  # noqa: F401
from .auth import ApiToken  # noqa: F401
from .db import Base  # noqa: F401
from .escalation.models import EscalationFiring, EscalationRecipient, EscalationStep  # noqa: F401
from .incidents.models import Incident, IncidentCounter, IncidentRole, IncidentUpdate, TimelineEntry  # noqa: F401
from .notify.models import Notification, UpdateReceipt  # noqa: F401
from .oncall.models import OnCallJob, SwapRequest  # noqa: F401
from .people.models import Person  # noqa: F401
from .reviews.models import ActionItem, Postmortem, ReviewMeeting, ReviewReminder  # noqa: F401
from .teams.models import TeamsActivity, TeamsCard, TeamsConversation  # noqa: F401
from .rotations.models import CalendarFeed, Override, RoleOwnerSeen, Rotation, Shift  # noqa: F401
from .web.sessions import WebSession  # noqa: F401
from .worker import WorkerHeartbeat  # noqa: F401

metadata = Base.metadata
