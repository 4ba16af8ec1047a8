"""The console's rotations, people and tokens pages: who is on call, overrides, calendars, feeds, admin."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from .. import auth, clock
from ..db import session
from ..people import directory
from ..people.models import Person
from ..people.schemas import PersonCreate, PersonPatch
from ..rotations import feeds, overrides
from ..rotations.calendar import MAX_CALENDAR_BYTES, CalendarError, decode
from ..rotations.fetch import FetchError
from ..rotations.materialise import resolve_for, rotation_named, upload
from ..rotations.models import Override, Rotation
from ..rotations.oncall import effective_schedule
from ..rotations.schemas import NAME, OverrideIn, SubscriptionIn
from ..rotations.subscriptions import refresh, subscribe
from ..runtime import policy
from ..web.board import role_owners
from . import forms, rules
from .guard import guarded, require

blp = guarded(Blueprint("console_admin", __name__, url_prefix="/console"))

CALENDAR_DAYS = 14


def _rotation_or_404(name: str) -> Rotation:
    rotation = rotation_named(session, name)
    if rotation is None:
        abort(404)
    return rotation


def _people() -> list[Person]:
    return list(session.scalars(select(Person).order_by(Person.name)))


# ---- rotations ---------------------------------------------------------------------------------

@blp.get("/rotations")
def rotations():
    now = clock.now()
    return render_template("console/rotations.html", now=now, owners=role_owners(session, policy(), now),
                           rotations=list(session.scalars(select(Rotation).order_by(Rotation.name))),
                           report=None, errors={})


@blp.get("/rotations/<name>")
def rotation(name: str):
    return _rotation_page(_rotation_or_404(name))


def _days(start_day, zone) -> list[tuple[datetime, datetime]]:
    first = datetime.combine(start_day, time(0), zone)
    return [(first + timedelta(days=n), first + timedelta(days=n + 1)) for n in range(CALENDAR_DAYS)]


def _rotation_page(found: Rotation, *, report=None, errors=None, values=None, status_code=200):
    """The rotation's shifts, day by day for two weeks (overrides applied), in the policy's zone."""
    now = clock.now()
    zone = policy().timezone
    try:
        start_day = datetime.fromisoformat(request.args["from"]).date() if request.args.get("from") \
            else now.astimezone(zone).date()
    except ValueError:
        start_day = now.astimezone(zone).date()
    days = _days(start_day, zone)
    schedule = effective_schedule(session, found, days[0][0], days[-1][1])
    calendar = [(day, [slot for slot in schedule if slot.start < end and slot.end > day]) for day, end in days]
    upcoming = list(session.scalars(select(Override).where(Override.rotation_id == found.id, Override.end > now)
                                    .order_by(Override.start, Override.id)))
    return render_template(
        "console/rotation.html", rotation=found, now=now, zone=zone, calendar=calendar, overrides=upcoming,
        people=_people(), report=report, errors=errors or {}, values=values or {},
        previous_from=(start_day - timedelta(days=CALENDAR_DAYS)).isoformat(),
        next_from=(start_day + timedelta(days=CALENDAR_DAYS)).isoformat(),
        local_input=lambda moment: forms.local_input(moment, zone),
        can_remove=lambda override: bool(rules.may_remove_override(g.viewer, override)),
    ), status_code


@blp.post("/rotations/<name>/overrides")
def add_override(name: str):
    found = _rotation_or_404(name)
    zone = policy().timezone
    values = {"person": request.form.get("person", ""), "start": forms.local_moment(request.form.get("start"), zone),
              "end": forms.local_moment(request.form.get("end"), zone)}
    data, errors = forms.load(OverrideIn(), values)
    person = directory.person_by_handle(session, data["person"]) if data else None
    if data and person is None:
        errors = {"person": ["Unknown person."]}
    if errors:
        return _rotation_page(found, errors=errors, values=request.form.to_dict(), status_code=422)
    require(rules.may_override(g.viewer, person))
    overrides.add_override(session, found, person, data["start"], data["end"], actor=g.viewer.actor)
    session.commit()
    flash(f"{person.name} is on call for {found.name} from {data['start'].astimezone(zone):%a %-d %b %H:%M} "
          f"to {data['end'].astimezone(zone):%a %-d %b %H:%M} ({zone}).")
    return redirect(url_for("console_admin.rotation", name=found.name) + "#overrides", code=303)


@blp.post("/rotations/<name>/overrides/<int:override_id>/remove")
def remove_override(name: str, override_id: int):
    found = _rotation_or_404(name)
    override = overrides.find_override(session, found, override_id)
    if override is None:
        abort(404)
    require(rules.may_remove_override(g.viewer, override))
    overrides.remove_override(session, found, override)
    session.commit()
    flash("Override removed.")
    return redirect(url_for("console_admin.rotation", name=found.name) + "#overrides", code=303)


@blp.post("/rotations/import")
def import_calendar():
    """Upload a calendar file for a rotation (new or existing) — as PUT /api/rotations/<name>/calendar."""
    require(rules.may_administer(g.viewer))
    name = request.form.get("name", "").strip()
    upload_file = request.files.get("calendar")
    errors = {}
    try:
        NAME(name)
    except ValidationError as exc:
        errors["name"] = [str(m) for m in exc.messages]
    body = upload_file.read(MAX_CALENDAR_BYTES + 1) if upload_file else b""
    if not body.strip():
        errors["calendar"] = ["Choose an .ics file."]
    elif len(body) > MAX_CALENDAR_BYTES:
        errors["calendar"] = ["The file is over 10 MiB."]
    report = None
    if not errors:
        text, now = decode(body, None), clock.now()
        session.rollback()  # resolved with no transaction open (rotations.materialise.resolve_for)
        try:
            prepared = resolve_for(name, text, now)
        except CalendarError as exc:
            errors["calendar"] = list(exc.problems)
        else:
            report = upload(session, name, text, prepared)
            session.commit()
    return _rotations_with(report.as_json(name) if report else None, errors)


@blp.post("/rotations/subscribe")
def subscribe_calendar():
    """Subscribe a rotation to an iCal URL — as POST /api/rotations."""
    require(rules.may_administer(g.viewer))
    values = {key: request.form.get(key, "").strip() for key in ("name", "url", "refresh_every")}
    data, errors = forms.load(SubscriptionIn(), values)
    report = None
    if not errors:
        try:
            rotation = subscribe(session, data["name"], data["url"], data["refresh_every"], clock.now())
        except FetchError as exc:
            session.rollback()
            errors = {"url": [str(exc)]}
        else:
            session.commit()
            outcome = refresh(rotation.id)
            session.expire_all()
            if outcome.status in ("invalid", "failed"):
                errors = {"url": [outcome.error]}
            report = outcome.report
    return _rotations_with(report, errors)


def _rotations_with(report, errors):
    now = clock.now()
    return render_template("console/rotations.html", now=now, owners=role_owners(session, policy(), now),
                           rotations=list(session.scalars(select(Rotation).order_by(Rotation.name))),
                           report=report, errors=errors), 422 if errors else 200


# ---- people ------------------------------------------------------------------------------------

PERSON_FIELDS = ("handle", "name", "email", "aliases", "teams_webhook", "timezone")


def _person_values(form) -> dict:
    values = {key: form.get(key, "").strip() for key in PERSON_FIELDS if key in form}
    if "aliases" in values:
        values["aliases"] = forms.words(values["aliases"])
    return values


@blp.get("/people")
def people():
    return render_template("console/people.html", people=_people(), errors={}, values={})


@blp.post("/people")
def add_person():
    require(rules.may_administer(g.viewer))
    values = _person_values(request.form)
    data, errors = forms.load(PersonCreate(), values)
    if not errors:
        try:
            person = directory.add_person(session, **data)
        except directory.HandleTaken as exc:
            errors = {"handle": [str(exc)]}
        else:
            session.commit()
            flash(f"{person.name} added.")
            return redirect(url_for("console_admin.person", handle=person.handle), code=303)
    return render_template("console/people.html", people=_people(), errors=errors,
                           values=request.form.to_dict()), 422


def _person_or_404(handle: str) -> Person:
    person = directory.person_by_handle(session, handle)
    if person is None:
        abort(404)
    return person


@blp.get("/people/<handle>")
def person(handle: str):
    found = _person_or_404(handle)
    return render_template("console/person.html", person=found, errors={}, feed_url=None,
                           can_edit=bool(rules.may_administer(g.viewer)),
                           can_feed=bool(rules.may_have_feed(g.viewer, found)))


@blp.post("/people/<handle>")
def edit_person(handle: str):
    found = _person_or_404(handle)
    require(rules.may_administer(g.viewer))
    values = _person_values(request.form)
    if values.get("teams_webhook") == "":
        values.pop("teams_webhook")  # the field never shows the stored URL (it is a credential): empty keeps it
    if values.get("timezone") == "":
        values["timezone"] = None
    data, errors = forms.load(PersonPatch(), values, keep_blank=("teams_webhook", "timezone", "aliases"))
    if errors:
        session.rollback()
        return render_template("console/person.html", person=found, errors=errors, feed_url=None, can_edit=True,
                               can_feed=bool(rules.may_have_feed(g.viewer, found))), 422
    directory.change_person(session, found, **data)
    session.commit()
    flash("Saved.")
    return redirect(url_for("console_admin.person", handle=found.handle), code=303)


@blp.post("/people/<handle>/calendar-link")
def calendar_link(handle: str):
    """A new secret feed URL of the person's shifts (the previous one stops working) — shown once."""
    found = _person_or_404(handle)
    require(rules.may_have_feed(g.viewer, found))
    url = feeds.new_token(session, now=clock.now(), actor=g.viewer.actor, person=found)
    session.commit()
    return render_template("console/person.html", person=found, errors={}, feed_url=url,
                           can_edit=bool(rules.may_administer(g.viewer)), can_feed=True)


@blp.get("/me")
def me():
    if g.viewer.person is None:
        return redirect(url_for("console_admin.people"))
    return redirect(url_for("console_admin.person", handle=g.viewer.person.handle))


# ---- API tokens --------------------------------------------------------------------------------

@blp.get("/tokens")
def tokens():
    require(rules.may_administer(g.viewer))
    return _tokens_page()


def _tokens_page(*, secret: str | None = None, errors=None, status_code=200):
    return render_template("console/tokens.html", tokens=auth.list_tokens(session), scopes=auth.SCOPES,
                           secret=secret, errors=errors or {}), status_code


@blp.post("/tokens")
def create_token():
    require(rules.may_administer(g.viewer))
    name = request.form.get("name", "").strip()
    scopes = request.form.getlist("scopes")
    if not name or len(name) > 100:
        return _tokens_page(errors={"name": ["Give the token a name (at most 100 characters)."]}, status_code=422)
    try:
        secret = auth.create_token(session, name, scopes)
    except ValueError as exc:
        return _tokens_page(errors={"scopes": [str(exc)]}, status_code=422)
    session.commit()
    return _tokens_page(secret=secret)


@blp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    require(rules.may_administer(g.viewer))
    try:
        token = auth.find_token(session, token_id)
    except auth.TokenNotFound:
        abort(404)
    auth.revoke_token(session, token)
    session.commit()
    flash(f"Token “{token.name}” revoked.")
    return redirect(url_for("console_admin.tokens"), code=303)
