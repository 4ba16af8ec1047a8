"""The ack link: GET shows what you are acknowledging (mail scanners follow links, so it changes nothing);
POST acknowledges. The signed token in the URL is the credential, so the form needs no other secret."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from ..db import session
from ..incidents import lifecycle
from ..incidents.models import Incident
from ..people.models import Person
from ..runtime import policy
from .tokens import InvalidAckToken, read_ack_token

blp = Blueprint("ack", __name__)

VIA = ("link", "teams")  # the Teams card's button opens this page with ?via=teams


@blp.after_request
def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak to other sites
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@blp.get("/ack/<token>")
def confirm(token: str):
    found = _page(token)
    if not isinstance(found, tuple):
        return found
    incident, person = found
    return render_template("ack/confirm.html", via=_via(), **_facts(incident, person))


@blp.post("/ack/<token>")
def acknowledge(token: str):
    found = _page(token)
    if not isinstance(found, tuple):
        return found
    incident, person = found
    via = _via()
    try:
        roles = lifecycle.acknowledge(session, incident, person, via=via, actor=f"{via}:{person.handle}")
    except lifecycle.IncidentRuleError as exc:
        session.rollback()
        return render_template("ack/problem.html", title="Not acknowledged", message=str(exc),
                               **_facts(incident, person)), 409
    session.commit()
    return render_template("ack/done.html", newly=roles, **_facts(incident, person))


def _page(token: str):
    """(incident, person) of a genuine token, or the 403/404 page to answer with."""
    try:
        incident_id, person_id, _notification_id = read_ack_token(token)
    except InvalidAckToken:
        return render_template("ack/problem.html", title="This link is not valid",
                               message="The acknowledgement link is damaged or has expired. "
                                       "Reply \u201cack\u201d to the page email, or ask the Incident Commander."), 403
    incident = session.get(Incident, incident_id)
    person = session.get(Person, person_id)
    if incident is None or person is None:
        return render_template("ack/problem.html", title="Page not found",
                               message="The incident or person this link was for no longer exists."), 404
    return incident, person


def _via() -> str:
    via = request.values.get("via", "link")
    return via if via in VIA else "link"


def _facts(incident: Incident, person: Person) -> dict:
    rules = policy()
    held = [slot for slot in incident.roles if slot.person_id == person.id]
    severity = rules.severities.get(incident.severity)
    return {
        "incident": incident,
        "person": person,
        "severity_name": severity.name if severity else incident.severity,
        "roles": [{"title": rules.role_title(slot.role), "acknowledged_at": slot.acknowledged_at} for slot in held],
        "pending": any(slot.acknowledged_at is None for slot in held),
    }
