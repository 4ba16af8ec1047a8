"""Sample data for `herald templates check`: every template rendered as a real message would be.

The sample incident is a transient `Incident` (never stored) passed through the same context
builder as real messages. Domains that add a kind of their own give its extra context to
`check_templates(..., extra=...)` (listed in `service/wiring.py`): one context, or a list of them when
the kind's templates have variants (the review's reminders are `reminder`s too).
"""
from __future__ import annotations

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
        "notice:monitoring": lambda inc, pol: {
            "role": _first_role(pol),
            "monitoring": {"source": "Alertmanager", "alerts": ["HighErrorRate on checkout"], "more": 0}},
        "handoff": lambda inc, pol: {"role": _first_role(pol), "previous": "Person 9"},
        "reminder": lambda inc, pol: {"role": _first_role(pol), "due_at": now + timedelta(minutes=5),
                                      "due_in": timedelta(minutes=5)},
        "help": lambda inc, pol: {"reply": {"problem": "not_a_command", "reason": "", "first_word": "who",
                                            "text": "Who else is on this?", "subject": "Re: page"}},
        "question": lambda inc, pol: {"role": role_data(pol, pol.communicator_role), "question": {
            "sender": "cfo@example.com", "name": "Pat Finance", "text": "Are card payments affected too?",
            "about": "the 🟡 UPDATE of 10:15 UTC", "update_kind": "progress"}},
        "escalation": lambda inc, pol: {"escalation": {"name": "P1 not acknowledged", "condition": "not_acknowledged",
                                                       "reason": "Nobody has acknowledged this P1 after 15 minutes.",
                                                       "to": "Engineering Manager", "step": 0,
                                                       "acknowledge_within": "15 minutes"}},
    }


Extra = dict[str, "SampleContext | list[SampleContext]"]


def variants(now, extra: Extra | None = None) -> dict[str, list[SampleContext]]:
    """Every kind's sample contexts: one per variant its templates have (builtin ones first)."""
    out: dict[str, list[SampleContext]] = {}
    for key, make in _builtin_samples(now).items():
        out.setdefault(key.split(":", 1)[0], []).append(make)
    for kind, makers in (extra or {}).items():
        out.setdefault(kind, []).extend(makers if isinstance(makers, (list, tuple)) else [makers])
    return out


RECIPIENTS = {"teams": Recipient("teams", "https://example.webhook.office.com/x", "Person 1", 1),
              "email": Recipient("email", "person1@example.com", "Person 1", 1)}


def sample_contexts(tpl: Renderer, policy: Policy, base_url: str, now, incident: Incident | None = None,
                    extra: Extra | None = None):
    """Yield (kind, channel, variant number, context, incident) for every kind and variant, as sent."""
    incident = incident or sample_incident(policy, now)
    samples = variants(now, extra)
    for kind in tpl.kinds():
        made = [m(incident, policy) for m in samples.get(kind, [lambda inc, pol: {}])]
        contexts = [c for m in made for c in (m if isinstance(m, list) else [m])]  # a sample may list variants
        for number, variant in enumerate(contexts):
            for channel, recipient in RECIPIENTS.items():
                context = standard_context(incident, policy=policy, base_url=base_url, now=now, recipient=recipient,
                                           ack_url=f"{base_url}/ack/SAMPLE-TOKEN", ack_by_reply=channel == "email")
                context.update(variant)
                yield kind, channel, number, context, incident


def check_templates(tpl: Renderer, policy: Policy, base_url: str, now,
                    extra: Extra | None = None) -> list[tuple[str, str | None]]:
    """[(template file, None or the problem)] for every kind that has templates, in every variant;
    `extra` adds the context of other domains' kinds (e.g. the review invitation's meeting)."""
    results: dict[str, str | None] = {}
    for kind in tpl.kinds():
        if kind not in KINDS:
            results[f"{kind}.*"] = f"{kind!r} is not a kind of notification ({', '.join(KINDS)})"
    for kind, channel, number, context, incident in sample_contexts(tpl, policy, base_url, now, extra=extra):
        if kind not in KINDS:
            continue
        names = ", ".join(n for n in tpl.files_for(kind) if (".teams." in n) == (channel == "teams"))
        try:
            render_payload(tpl, kind, channel, context, incident)
        except TemplateProblem as exc:
            results[names] = results.get(names) or (str(exc) if number == 0 else f"(variant {number + 1}) {exc}")
        else:
            results.setdefault(names, None)
    return _per_file(results)


def _per_file(results: dict[str, str | None]) -> list[tuple[str, str | None]]:
    """A failure names its files together (as the channel renders them together); successes one by one."""
    out = []
    for names, problem in results.items():
        if problem is None:
            out.extend((name, None) for name in names.split(", "))
        else:
            out.append((names, problem))
    return out
