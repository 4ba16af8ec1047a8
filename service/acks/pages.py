"""The ack link: GET shows what you are acknowledging (mail scanners follow links, so it changes nothing);
POST acknowledges. The signed token in the URL is the credential, so the form needs no other secret."""
from __future__ import annotations

from flask import Blueprint, render_template

from ..ack_tokens import InvalidAckToken, read_ack_token
from ..db import session
from ..errors import RuleError
from ..incidents import lifecycle
from ..incidents.models import Incident
from ..notify.models import Notification
from ..people.models import Person
from ..runtime import policy
from ..web_static import private
from . import stakeholders

blp = Blueprint("ack", __name__)


blp.after_request(private)  # the token in the URL is a credential; the web pages' policy besides


class LinkProblem(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@blp.errorhandler(LinkProblem)
def _problem(problem: LinkProblem):
    return render_template("ack/problem.html", title=problem.title, message=problem.message), problem.status


@blp.get("/ack/<token>")
def confirm(token: str):
    update = _update(token)
    if update is not None:  # a stakeholder update's "Got it"
        return render_template("ack/got_it.html", **stakeholders.link_facts(session, update))
    incident, person, _via = _page(token)
    return render_template("ack/confirm.html", **_facts(incident, person))


@blp.post("/ack/<token>")
def acknowledge(token: str):
    update = _update(token)
    if update is not None:
        newly = stakeholders.got_it_by_link(session, update)
        session.commit()
        return render_template("ack/got_it_done.html", newly=newly, **stakeholders.link_facts(session, update))
    incident, person, via = _page(token)
    try:
        roles = lifecycle.acknowledge(session, incident, person, via=via, actor=f"{via}:{person.handle}")
    except RuleError as exc:
        session.rollback()
        return render_template("ack/problem.html", title="Not acknowledged", message=str(exc),
                               **_facts(incident, person)), 409
    session.commit()
    return render_template("ack/done.html", newly=roles, **_facts(incident, person))


def _update(token: str):
    """The stakeholder update of a receipt token; None when the token is not one (it may be a page's)."""
    try:
        return stakeholders.from_token(session, token)
    except stakeholders.NotAReceipt:
        return None
    except stakeholders.BadReceipt as exc:
        title = "Not found" if exc.status == 404 else "This link is not valid"
        raise LinkProblem(exc.status, title, str(exc)) from None


def _page(token: str):
    """(incident, person, via) of a genuine token; a LinkProblem (403 or 404 page) otherwise.

    `via` is "teams" when the token came on a Teams card (its button opens this page), else "link".
    """
    try:
        incident_id, person_id, notification_id = read_ack_token(token)
    except InvalidAckToken:
        raise LinkProblem(403, "This link is not valid",
                          "The acknowledgement link is damaged or has expired. Reply \u201cack\u201d to the page "
                          "email, or ask the Incident Commander.") from None
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
