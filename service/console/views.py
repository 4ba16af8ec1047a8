"""The console's incident pages: list, open, the incident page and its actions, and the review.

Thin: parse the form with the API's schema, ask `rules` whether the viewer may, call the same
domain function as the API, commit, and redirect back (303) to the page that shows the result.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from .. import clock
from ..db import session
from ..errors import RuleError
from ..incidents import lifecycle
from ..incidents.models import OPEN_STATUSES, STATUSES, Incident
from ..incidents.schemas import IncidentCreate, IncidentPatch, ResolveIn, UpdateCreate
from ..notify.models import Notification
from ..notify.outbox import NotRetryable, send_again
from ..people.directory import person_by_handle
from ..people.models import Person
from ..reviews import actions, postmortem, review
from ..reviews.models import ActionItem
from ..reviews.schemas import ActionCreate, ActionPatch, ReviewIn
from ..runtime import config, policy
from . import forms, incident_page, rules
from .guard import guarded, require
from .markdown import to_html

blp = guarded(Blueprint("console", __name__, url_prefix="/console"))

PAGE = 50


def _incident_or_404(number: str) -> Incident:
    incident = lifecycle.get_by_id_or_number(session, number)
    if incident is None:
        abort(404)
    return incident


def _back(incident: Incident, anchor: str = "", endpoint: str = "console.incident"):
    return redirect(url_for(endpoint, number=incident.number) + (f"#{anchor}" if anchor else ""), code=303)


def _people() -> list[Person]:
    return list(session.scalars(select(Person).order_by(Person.name)))


def _apply(fn, *args, **kwargs):
    """A lifecycle change; a broken rule (409 on the API) becomes a message on the page, nothing kept."""
    try:
        result = fn(session, *args, **kwargs)
    except RuleError as exc:
        session.rollback()
        flash(f"Not done: {exc}.", "error")
        return None
    session.commit()
    return result


# ---- the list and opening an incident ----------------------------------------------------------

@blp.get("")
def incidents():
    status = request.args.get("status", "open")
    severity = request.args.get("severity", "")
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    query = select(Incident).order_by(Incident.started_at.desc(), Incident.id.desc())
    if status == "open":
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(Incident.status == status)
    else:
        status = "all"
    if severity in policy().severities:
        query = query.where(Incident.severity == severity)
    else:
        severity = ""
    rows = list(session.scalars(query.limit(PAGE + 1).offset(offset)))
    return render_template("console/incidents.html", incidents=rows[:PAGE], more=len(rows) > PAGE, offset=offset,
                           status=status, severity=severity, statuses=STATUSES, policy=policy(), page=PAGE)


@blp.route("/incidents/new", methods=["GET", "POST"])
def new_incident():
    require(rules.may_open(g.viewer))
    errors, values = {}, {}
    if request.method == "POST":
        values = request.form.to_dict()
        data, errors = forms.load(IncidentCreate(), {
            "title": values.get("title", "").strip(), "severity": values.get("severity"),
            "impact": values.get("impact", ""), "description": values.get("description", ""),
            "data_breach_suspected": "true" if values.get("data_breach_suspected") else "false",
            "financial_impact": values.get("financial_impact", "").strip()})
        if not errors:
            incident = _apply(lifecycle.open_incident, actor=g.viewer.actor, source="console", **data)
            if incident is not None:
                flash(f"{incident.number} is open; the roles on call are being paged.")
                return _back(incident)
    return render_template("console/new_incident.html", policy=policy(), errors=errors, values=values), \
        (422 if errors else 200)


# ---- the incident page -------------------------------------------------------------------------

@blp.get("/incidents/<number>")
def incident(number: str):
    found = _incident_or_404(number)
    return _incident_page(found)


def _incident_page(found: Incident, *, preview=None, update_values=None, errors=None, status_code=200):
    now = clock.now()
    viewer = g.viewer
    entries = incident_page.timeline(session, found)
    severity = policy().severities.get(found.severity)
    messages, total = incident_page.notifications(session, found)
    steps = incident_page.escalation_steps(session, found)
    return render_template(
        "console/incident.html", incident=found, now=now, policy=policy(), severity=severity,
        roles=incident_page.role_rows(session, found, viewer, now), timeline=entries,
        escalations=incident_page.escalations(entries, steps), escalation_steps=steps, notifications=messages, notifications_total=total,
        questions=incident_page.questions(entries),
        updates=incident_page.updates(session, found), links=incident_page.links(found), people=_people(),
        recipient_label=incident_page.recipient_label, open_statuses=OPEN_STATUSES,
        can_update=rules.may_update(viewer, found), can_resolve=rules.may_resolve(viewer, found),
        can_review=rules.may_review(viewer, found), can_retry=bool(rules.may_retry(viewer, found)),
        preview=preview, update_values=update_values or {"status": found.status, "impact": found.impact},
        errors=errors or {}, retryable=incident_page.RETRYABLE,
    ), status_code


@blp.post("/incidents/<number>/acknowledge")
def acknowledge(number: str):
    found = _incident_or_404(number)
    viewer = g.viewer
    role = request.form.get("role") or None
    require(rules.may_acknowledge(viewer, found, None if viewer.principal else role))
    person = viewer.person
    if viewer.principal:  # a write token acknowledges on behalf of the role's holder
        slot = found.role(role or "")
        if slot is None or slot.person is None:
            abort(400)
        person = slot.person
    if _apply(lifecycle.acknowledge, found, person, via="console", actor=viewer.actor) is not None:
        flash("Acknowledged.")
    return _back(found, "roles")


@blp.post("/incidents/<number>/roles/<role>")
def hand_over(number: str, role: str):
    found = _incident_or_404(number)
    if role not in policy().roles:
        abort(404)
    require(rules.may_hand_over(g.viewer, found, role))
    person = person_by_handle(session, request.form.get("person", ""))
    if person is None:
        flash("Choose who takes the role over.", "error")
        return _back(found, "roles")
    if _apply(lifecycle.hand_over_role, found, role, person, actor=g.viewer.actor) is not None:
        flash(f"{policy().role_title(role)} handed over to {person.name}.")
    return _back(found, "roles")


@blp.post("/incidents/<number>/change")
def change(number: str):
    """Status, severity, impact and flags — as PATCH /api/incidents/<id>."""
    found = _incident_or_404(number)
    viewer = g.viewer
    require(rules.may_update(viewer, found) if found.is_open else rules.may_review(viewer, found))
    values = {key: request.form.get(key, "") for key in ("status", "severity", "impact", "financial_impact")}
    values["data_breach_suspected"] = "true" if request.form.get("data_breach_suspected") else "false"
    data, errors = forms.load(IncidentPatch(), values, keep_blank=("impact",))
    if errors:
        return _incident_page(found, errors=errors, status_code=422)
    if not request.form.get("financial_impact", "").strip():
        data["financial_impact"] = None
    if data.get("status") == found.status:
        data.pop("status")
    changed = _apply(lifecycle.change_incident, found, actor=viewer.actor, **data)
    if changed:
        flash("Saved: " + ", ".join(field.replace("_", " ") for field in changed) + ".")
    elif changed is not None:
        flash("Nothing changed.")
    return _back(found, "state")


@blp.post("/incidents/<number>/updates")
def post_update(number: str):
    """Preview (nothing stored) or send a progress update — as POST /api/incidents/<id>/updates."""
    found = _incident_or_404(number)
    require(rules.may_update(g.viewer, found))
    values = {key: request.form.get(key, "") for key in ("status", "impact", "learned", "doing")}
    data, errors = forms.load(UpdateCreate(), values, keep_blank=("impact",))
    if errors:
        return _incident_page(found, update_values=values, errors=errors, status_code=422)
    if request.form.get("action") != "send":
        preview = incident_page.preview_update(session, found, clock.now(), **data)
        return _incident_page(found, preview=preview, update_values=values)
    update = _apply(lifecycle.post_update, found, actor=g.viewer.actor, **data)
    if update is not None:
        flash("Update sent to the stakeholders.")
    return _back(found, "updates")


@blp.post("/incidents/<number>/resolve")
def resolve(number: str):
    found = _incident_or_404(number)
    require(rules.may_resolve(g.viewer, found))
    values = {key: request.form.get(key, "").strip() for key in ("root_cause", "resolution")}
    data, errors = forms.load(ResolveIn(), values)
    if errors:
        return _incident_page(found, errors=errors, status_code=422)
    if _apply(lifecycle.resolve_incident, found, actor=g.viewer.actor, **data) is not None:
        flash("Resolved; the resolution update is on its way and the review is planned.")
    return _back(found)


@blp.post("/notifications/<int:notification_id>/retry")
def retry(notification_id: int):
    row = session.get(Notification, notification_id)
    if row is None or row.incident_id is None:
        abort(404)
    found = session.get(Incident, row.incident_id)
    require(rules.may_retry(g.viewer, found))
    try:
        send_again(session, row, actor=g.viewer.actor)
    except NotRetryable as exc:
        session.rollback()
        flash(f"Not done: {exc}.", "error")
        return _back(found, "notifications")
    session.commit()
    flash(f"The {row.kind} to {incident_page.recipient_label(row)} will be sent again now.")
    return _back(found, "notifications")


# ---- after the incident: post-mortem, action items, the review meeting ---------------------------

@blp.get("/incidents/<number>/postmortem")
def postmortem_page(number: str):
    return _postmortem_page(_incident_or_404(number))


def _postmortem_page(found: Incident, *, markdown: str | None = None, preview=None, errors=None, status_code=200):
    current = postmortem.current(session, found, config().templates_dir)
    meeting = review.meeting_of(session, found)
    zone = policy().timezone
    return render_template(
        "console/postmortem.html", incident=found, current=current,
        markdown=current.markdown if markdown is None else markdown, preview=preview, errors=errors or {},
        actions=list(session.scalars(select(ActionItem).where(ActionItem.incident_id == found.id)
                                     .order_by(ActionItem.number))),
        meeting=meeting, attendees=review.attendees_of(session, meeting) if meeting else [],
        people=_people(), can_review=rules.may_review(g.viewer, found), zone=zone,
        local_input=lambda moment: forms.local_input(moment, zone),
    ), status_code


@blp.post("/incidents/<number>/postmortem")
def save_postmortem(number: str):
    found = _incident_or_404(number)
    require(rules.may_review(g.viewer, found))
    action = request.form.get("action", "save")
    markdown = request.form.get("markdown", "").replace("\r\n", "\n")
    if action == "discard":
        discarded = postmortem.discard(session, found)
        session.commit()
        flash("Your edits were discarded; this is the draft from the timeline again." if discarded
              else "There were no saved edits; this is the draft.")
        return _back(found, endpoint="console.postmortem_page")
    if action == "preview":
        return _postmortem_page(found, markdown=markdown, preview=to_html(markdown))
    try:
        postmortem.save(session, found, markdown, actor=g.viewer.actor)
    except postmortem.EmptyPostmortem:
        session.rollback()
        return _postmortem_page(found, markdown=markdown, errors={"markdown": ["The post-mortem is empty."]},
                                status_code=422)
    session.commit()
    flash("Post-mortem saved.")
    return _back(found, endpoint="console.postmortem_page")


@blp.post("/incidents/<number>/actions")
def add_action(number: str):
    found = _incident_or_404(number)
    require(rules.may_review(g.viewer, found))
    values = {key: request.form.get(key, "").strip() for key in ("action", "owner", "due_date")}
    data, errors = forms.load(ActionCreate(), values)
    owner = person_by_handle(session, data["owner"]) if data.get("owner") else None
    if data.get("owner") and owner is None:
        errors = {"owner": ["Unknown person."]}
    if errors:
        return _postmortem_page(found, errors=errors, status_code=422)
    item = actions.add_action(session, found, action=data["action"], owner=owner, due_date=data["due_date"],
                              actor=g.viewer.actor)
    session.commit()
    flash(f"Action item {item.number} added.")
    return _back(found, "actions", endpoint="console.postmortem_page")


@blp.post("/incidents/<number>/actions/<int:item_number>")
def change_action(number: str, item_number: int):
    found = _incident_or_404(number)
    item = session.scalar(select(ActionItem).where(ActionItem.incident_id == found.id,
                                                   ActionItem.number == item_number))
    if item is None:
        abort(404)
    mine = g.viewer.person is not None and item.owner_id == g.viewer.person.id
    if not mine:  # an item's owner may always tick it off
        require(rules.may_review(g.viewer, found))
    values = {"owner": request.form.get("owner", "").strip(), "due_date": request.form.get("due_date", "").strip(),
              "done": "true" if request.form.get("done") else "false"}
    data, errors = forms.load(ActionPatch(), values)
    if errors:
        return _postmortem_page(found, errors=errors, status_code=422)
    owner = person_by_handle(session, data["owner"]) if data.get("owner") else None
    actions.change_action(session, item, owner=owner, due_date=data.get("due_date"), done=data["done"])
    session.commit()
    flash(f"Action item {item.number} saved.")
    return _back(found, "actions", endpoint="console.postmortem_page")


@blp.post("/incidents/<number>/review")
def move_review(number: str):
    """Book or move the review meeting — as PUT /api/incidents/<id>/review."""
    found = _incident_or_404(number)
    require(rules.may_review(g.viewer, found))
    zone = policy().timezone
    start = forms.local_moment(request.form.get("start"), zone)
    minutes = request.form.get("minutes", type=int) or 60
    values = {"start": start, "attendees": request.form.getlist("attendees")}
    data, errors = forms.load(ReviewIn(), values)
    if not errors and data["start"] <= clock.now():
        errors = {"start": ["The meeting must be in the future."]}
    if not errors and not 15 <= minutes <= 480:
        errors = {"minutes": ["Between 15 minutes and 8 hours."]}
    if errors:
        return _postmortem_page(found, errors=errors, status_code=422)
    people = [p for p in (person_by_handle(session, h) for h in data.get("attendees", [])) if p is not None]
    meeting = _apply(review.book, found, data["start"], data["start"] + timedelta(minutes=minutes),
                     actor=g.viewer.actor, attendees=people or None)
    if meeting is not None:
        flash("Review meeting saved; the invitations are on their way.")
    return _back(found, "review", endpoint="console.postmortem_page")
