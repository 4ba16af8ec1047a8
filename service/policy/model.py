"""The policy as frozen dataclasses: what the rest of Herald reads."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from zoneinfo import ZoneInfo

CONDITIONS = ("not_acknowledged", "not_mitigated", "data_breach_suspected", "financial_impact_over")
CHANNELS = ("teams", "email")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class BusinessHours:
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time
    holidays_file: str | None = None


@dataclass(frozen=True)
class Severity:
    key: str
    name: str
    description: str
    respond_within: timedelta | None  # None with respond_next_business_day
    respond_next_business_day: bool
    acknowledge_within: timedelta | None
    assemble_within: timedelta | None
    update_every: timedelta | None
    page: tuple[str, ...]
    notify: tuple[str, ...]
    stakeholders: tuple[str, ...]
    channels: tuple[str, ...]
    postmortem_within: timedelta | None
    business_hours_only: bool = False
    examples: tuple[str, ...] = ()

    @property
    def rank(self) -> int:
        """P1 -> 1: lower is more severe."""
        return int(self.key[1:]) if self.key[1:].isdigit() else 99


@dataclass(frozen=True)
class Role:
    key: str
    title: str
    rotation: str | None
    responsibilities: str = ""


@dataclass(frozen=True)
class Contact:
    key: str
    title: str
    email: tuple[str, ...] = ()
    teams_webhook: str | None = None
    rotation: str | None = None


@dataclass(frozen=True)
class ChainStep:
    """One further step of an escalation chain (`then = [{notify = [...], acknowledge_within = "15m"}]`)."""

    notify: tuple[str, ...]
    acknowledge_within: timedelta | None = None


@dataclass(frozen=True)
class Escalation:
    name: str
    severities: tuple[str, ...]
    condition: str
    notify: tuple[str, ...]
    after: timedelta = timedelta(0)
    threshold: float | None = None
    acknowledge_within: timedelta | None = None  # how long step 0's contacts have before the next step
    then: tuple[ChainStep, ...] = ()

    @property
    def last_step(self) -> int:
        return len(self.then)

    def contacts(self, step: int) -> tuple[str, ...]:
        """Who step `step` notifies: 0 is the rule's own `notify`, 1… the `then` steps."""
        return self.notify if step == 0 else self.then[step - 1].notify

    def wait(self, step: int) -> timedelta | None:
        """How long step `step`'s contacts have to acknowledge (a `then` step without its own: the rule's)."""
        if step == 0:
            return self.acknowledge_within
        return self.then[step - 1].acknowledge_within or self.acknowledge_within


@dataclass(frozen=True)
class OnCall:
    """`[oncall]`: how Herald looks after the people on rotations."""

    notify_before: timedelta = timedelta(hours=24)  # heads-up this long before a shift starts
    gap_horizon: timedelta = timedelta(days=14)  # how far ahead coverage gaps are looked for
    gap_contacts: tuple[str, ...] = ()  # contacts or roles told about gaps and out-of-office conflicts


@dataclass(frozen=True)
class Policy:
    timezone: ZoneInfo
    business_hours: BusinessHours
    severities: dict[str, Severity]
    roles: dict[str, Role]
    contacts: dict[str, Contact]
    escalations: tuple[Escalation, ...]
    severity_map: dict[str, str]
    # [responsibilities]: which role does what (defaults: the guide's role keys, P1 and P2)
    commander_role: str = "incident_commander"       # IC notices, review invitations, post-mortem reminders
    communicator_role: str = "communications_lead"   # update reminders, stakeholder questions
    handoff_severities: tuple[str, ...] = ("P1", "P2")  # open incidents of these follow rotation handoffs
    war_room_severities: tuple[str, ...] = ("P1", "P2")  # incidents of these get a room in Teams
    oncall: OnCall = field(default_factory=OnCall)
    source: str = field(default="", compare=False)

    def severity(self, key: str) -> Severity:
        return self.severities[key]

    def rotations_in_use(self) -> dict[str, tuple[str, ...]]:
        """{rotation name: the keys of the roles that use it}, in policy order."""
        used: dict[str, tuple[str, ...]] = {}
        for key, role in self.roles.items():
            if role.rotation:
                used[role.rotation] = used.get(role.rotation, ()) + (key,)
        return used

    def role_title(self, role: str) -> str:
        return self.roles[role].title if role in self.roles else role.replace("_", " ").title()
