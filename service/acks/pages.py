"""The ack link: GET shows what you are acknowledging (mail scanners follow links, so it changes nothing);
POST acknowledges. The signed token in the URL is the credential, so the form needs no other secret.

Pages are answered here; a token of another kind (an escalation, …) goes to its domain's handler
(`ack_tokens.handler_for`), which says what to show.
"""
from __future__ import annotations

from flask import Blueprint, render_template

from ..ack_tokens import PAGE, AckPage, AckToken, InvalidAckToken, handler_for, read_token
from ..db import session
from ..errors import RuleError
from ..incidents import lifecycle
from ..incidents.models import Incident
from ..notify.models import Notification
from ..people.models import Person
from ..runtime import policy
from ..web_static import private

blp = Blueprint("ack", __name__)


blp.after_request(private)  # the token in the URL is a credential; the web pages' policy besides


class LinkProblem(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@blp.errorhandler(LinkProblem)
def _problem(problem: LinkProblem):
    return render_template("ack/problem.html", title=problem.title, message=problem.message), problem.status


INVALID = ("This link is not valid", "The acknowledgement link is damaged or has expired. Reply \u201cack\u201d to "
           "the email it came in, or ask the Incident Commander.")


@blp.get("/ack/<token>")
def confirm(token: str):
    found = _read(token)
    if found.kind != PAGE:
        return _render(handler_for(found.kind).show(session, found))
    incident, person, _via = _page(found)
    return render_template("ack/confirm.html", **_facts(incident, person))


@blp.post("/ack/<token>")
def acknowledge(token: str):
    found = _read(token)
    if found.kind != PAGE:
        answer = handler_for(found.kind).acknowledge(session, found)
        if answer.status < 400:
            session.commit()
        else:
            session.rollback()
        return _render(answer)
    incident, person, via = _page(found)
    try:
        roles = lifecycle.acknowledge(session, incident, person, via=via, actor=f"{via}:{person.handle}")
    except RuleError as exc:
        session.rollback()
        return render_template("ack/problem.html", title="Not acknowledged", message=str(exc),
                               **_facts(incident, person)), 409
    session.commit()
    return render_template("ack/done.html", newly=roles, **_facts(incident, person))


def _read(token: str) -> AckToken:
    """A genuine token of a kind someone answers; a 403 page otherwise."""
    try:
        found = read_token(token)
    except InvalidAckToken:
        raise LinkProblem(403, *INVALID) from None
    if found.kind != PAGE and handler_for(found.kind) is None:
        raise LinkProblem(403, *INVALID)
    return found


def _render(answer: AckPage):
    return render_template(answer.template, **answer.context), answer.status


def _page(found: AckToken):
    """(incident, person, via) of a page token; a LinkProblem (404 page) when they are gone.

    `via` is "teams" when the token came on a Teams card (its button opens this page), else "link".
    """
    incident_id, person_id, notification_id = found.incident_id, found.person_id, found.notification_id
    incident = session.get(Incident, incident_id)
    person = session.get(Person, person_id)
    if incident is None or person is None:
        raise LinkProblem(404, "Page not found", "The incident or person this link was for no longer exists.")
    page = session.get(Notification, notification_id)
    return incident, person, "teams" if page is not None and page.channel in ("teams", "teams_bot") else "link"


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
