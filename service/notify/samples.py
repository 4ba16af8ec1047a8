"""Sample data for `herald templates check`: every template rendered as a real message would be.

The sample incident is a transient `Incident` (never stored) passed through the same context
builder as real messages. Domains that add a kind of their own give its extra context to
`check_templates(..., extra=...)` (listed in `service/wiring.py`).
"""
from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Callable

from ..incidents.models import Incident, IncidentRole, IncidentUpdate
from ..people.models import Person
from ..policy import Policy
from .models import KINDS
from .context import role_data, standard_context, update_data
from .outbox import Recipient, render_payload
from .templates import Renderer, TemplateProblem

SampleContext = Callable[[Incident, Policy], "dict | list[dict]"]  # a list: one render per variant


def sample_incident(policy: Policy, now) -> Incident:
    severity = next((s for s in policy.severities.values() if s.update_every), next(iter(policy.severities.values())))
    started = now - timedelta(minutes=42)
    incident = Incident(
        id=1, number=f"INC-{started:%Y%m%d}-1", title='Orders are failing <for "some" users> & more',
        severity=severity.key, status="identified", impact="Nobody can place orders", description="",
        data_breach_suspected=False, financial_impact=None, links={"dashboard": "https://grafana.example.com/d/1"},
        started_at=started, respond_by=started + (severity.respond_within or timedelta(hours=1)),
        acknowledged_at=started + timedelta(minutes=3), mitigated_at=None, resolved_at=None,
        root_cause="A bad deploy", resolution="Rolled back", last_update_at=now - timedelta(minutes=10),
        next_update_due_at=now + timedelta(minutes=5), updated_at=now,
    )
    for i, key in enumerate(policy.roles):
        person = Person(id=i + 1, handle=f"person{i + 1}", name=f"Person {i + 1}", email=f"person{i + 1}@example.com")
        incident.roles.append(IncidentRole(role=key, person=person, assigned_at=started,
                                           acknowledged_at=started + timedelta(minutes=3) if i == 0 else None))
    return incident


def _update(incident: Incident, kind: str, now) -> dict:
    return update_data(IncidentUpdate(
        id=7, incident_id=incident.id, kind=kind, status="resolved" if kind == "resolution" else incident.status,
        impact=incident.impact, learned="The new release breaks the order matcher" if kind == "progress" else "",
        doing="Rolling back to yesterday's release" if kind == "progress" else "",
        root_cause=incident.root_cause if kind == "resolution" else "",
        resolution=incident.resolution if kind == "resolution" else "", automatic=False, posted_at=now,
    ))


def _first_role(policy: Policy) -> dict:
    return role_data(policy, next(iter(policy.roles)))


def _builtin_samples(now) -> dict[str, SampleContext]:
    return {
        "initial": lambda inc, pol: {"update": _update(inc, "initial", now)},
        "progress": lambda inc, pol: {"update": _update(inc, "progress", now)},
        "resolution": lambda inc, pol: {"update": _update(inc, "resolution", now)},
        "page": lambda inc, pol: {"role": _first_role(pol), "repeat": 1},
        "notice": lambda inc, pol: {"role": _first_role(pol)},
        "handoff": lambda inc, pol: {"role": _first_role(pol), "previous": "Person 9"},
        "reminder": lambda inc, pol: {"role": _first_role(pol), "due_at": now + timedelta(minutes=5),
                                      "due_in": timedelta(minutes=5)},
        "help": lambda inc, pol: {"reply": {"problem": "not_a_command", "reason": "", "first_word": "who",
                                            "text": "Who else is on this?", "subject": "Re: page"}},
        "escalation": lambda inc, pol: {"escalation": {"name": "P1 not acknowledged", "condition": "not_acknowledged",
                                                       "reason": "Nobody has acknowledged this P1 after 15 minutes."}},
    }


def check_templates(tpl: Renderer, policy: Policy, base_url: str, now,
                    extra: dict[str, SampleContext] | None = None) -> list[tuple[str, str | None]]:
    """[(template file, None or the problem)] for every kind that has templates; `extra` adds the
    context of other domains' kinds (e.g. the review invitation's meeting)."""
    results = []
    incident = sample_incident(policy, now)
    samples = {**_builtin_samples(now), **(extra or {})}
    for kind in tpl.kinds():
        if kind not in KINDS:
            results.append((f"{kind}.*", f"{kind!r} is not a kind of notification ({', '.join(KINDS)})"))
            continue
        variants = samples.get(kind, lambda inc, pol: {})(incident, policy)
        channels = (("teams", Recipient("teams", "https://example.webhook.office.com/x", "Person 1", 1)),
                    ("email", Recipient("email", "person1@example.com", "Person 1", 1)))
        for variant, (channel, recipient) in itertools.product(
                variants if isinstance(variants, list) else [variants], channels):
            ack_url = f"{base_url}/ack/SAMPLE-TOKEN"
            context = standard_context(incident, policy=policy, base_url=base_url, now=now, recipient=recipient,
                                       ack_url=ack_url, ack_by_reply=channel == "email")
            context.update(variant)
            names = [n for n in tpl.files_for(kind) if (".teams." in n) == (channel == "teams")]
            try:
                render_payload(tpl, kind, channel, context, incident)
            except TemplateProblem as exc:
                results.append((", ".join(names), str(exc)))
            else:
                results.extend((name, None) for name in names if (name, None) not in results)
    return results
