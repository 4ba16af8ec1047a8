"""The shared rules for who may act on an incident (Teams bot, console)."""
from dataclasses import dataclass, field

from service.incidents.permissions import may_acknowledge, may_hand_over, may_resolve, may_update


@dataclass
class Role:
    role: str
    person_id: int | None
    acknowledged_at: object | None = None


@dataclass
class Incident:
    status: str = "investigating"
    roles: list = field(default_factory=lambda: [Role("commander", 1), Role("tech", 2), Role("comms", None)])

    @property
    def is_open(self) -> bool:
        return self.status in ("investigating", "identified", "mitigating", "monitoring")


def test_only_the_paged_person_acknowledges_their_own_role():
    incident = Incident()
    assert may_acknowledge(incident, 1)
    assert may_acknowledge(incident, 1, "commander")
    assert not may_acknowledge(incident, 1, "tech")
    refused = may_acknowledge(incident, 3)
    assert not refused and "not paged" in refused.reason
    assert not may_acknowledge(incident, None)


def test_updates_and_resolution_need_a_role_on_the_incident():
    incident = Incident()
    assert may_update(incident, 2) and may_resolve(incident, 2)
    assert not may_update(incident, 7) and not may_resolve(incident, 7)


def test_hand_over_by_the_holder_or_the_commander():
    incident = Incident()
    assert may_hand_over(incident, 2, "tech", "commander")
    assert may_hand_over(incident, 1, "tech", "commander")
    assert not may_hand_over(incident, 2, "commander", "commander")
    assert not may_hand_over(incident, 1, "nonexistent", "commander")
    assert not may_hand_over(incident, 5, "comms", "commander")


def test_nothing_is_allowed_on_a_closed_incident():
    incident = Incident(status="closed")
    for decision in (may_acknowledge(incident, 1), may_update(incident, 1), may_resolve(incident, 1),
                     may_hand_over(incident, 1, "tech", "commander")):
        assert not decision and "closed" in decision.reason

