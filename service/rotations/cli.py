"""`herald rotation import|list` and `herald who`."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
from sqlalchemy import select

from .. import clock, db
from ..commands import command_app
from ..policy import parse_duration
from ..runtime import policy
from .calendar import CalendarError, decode
from .fetch import FetchError
from .materialise import resolve_for, upload
from .models import Rotation
from .oncall import on_call
from .schemas import NAME
from .subscriptions import refresh, subscribe

URL_SCHEMES = ("http://", "https://")


@click.group()
def rotation() -> None:
    """On-call rotations (iCal calendars)."""


@rotation.command("import")
@click.argument("name")
@click.argument("file_or_url")
@click.option("--refresh-every", default=None, help="Subscriptions: how often to fetch the URL (e.g. 10m).")
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON.")
def import_command(name: str, file_or_url: str, refresh_every: str | None, as_json: bool) -> None:
    """Import a calendar file (or '-' for stdin), or subscribe to an http(s) URL; print the import report."""
    try:
        NAME(name)
        every = parse_duration(refresh_every) if refresh_every else None
    except Exception as exc:
        raise click.BadParameter(str(exc)) from exc
    app = command_app()
    with app.app_context():
        if file_or_url.lower().startswith(URL_SCHEMES):
            try:
                with db.transaction() as s:
                    rotation_id = subscribe(s, name, file_or_url, every, clock.now()).id
            except FetchError as exc:
                _fail(f"cannot subscribe {name}: {exc}")
            outcome = refresh(rotation_id)
            if outcome.status in ("failed", "invalid"):
                _fail(f"subscribed {name} to {file_or_url}, but the first fetch failed (it is retried): "
                      f"{outcome.error}")
            click.echo(f"subscribed {name} to {file_or_url}")
            _print_report(outcome.report, as_json)
            return
        if refresh_every:
            raise click.BadParameter("--refresh-every applies only to URLs")
        try:
            body = sys.stdin.buffer.read() if file_or_url == "-" else Path(file_or_url).read_bytes()
        except OSError as exc:
            _fail(f"cannot read {file_or_url}: {exc.strerror or exc}")
        try:
            text, now = decode(body), clock.now()
            prepared = resolve_for(name, text, now)
            with db.transaction() as s:
                report = upload(s, name, text, prepared).as_json(name)
        except CalendarError as exc:
            _fail(f"{file_or_url} cannot be imported; nothing changed:\n" + "\n".join(f"  {p}" for p in exc.problems))
    _print_report(report, as_json)


@rotation.command("list")
def list_command() -> None:
    """Every rotation: where its calendar comes from, its last refresh, and who is on call now."""
    app = command_app()
    with app.app_context():
        now = clock.now()
        rotations = db.session.scalars(select(Rotation).order_by(Rotation.name)).all()
        if not rotations:
            click.echo("no rotations yet: herald rotation import NAME FILE_OR_URL")
        for r in rotations:
            owner = on_call(db.session, r, now)
            source = f"subscribed to {r.source_url}" if r.source_url else "uploaded calendar"
            click.echo(f"{r.name}: {source}; on call now: {_who(owner)}")
            if r.last_error:
                click.echo(f"  last error: {r.last_error}")


@click.command()
@click.option("--at", "at", default=None, help="An ISO 8601 time (default now); without an offset, UTC.")
@click.option("--role", default=None, help="Only this policy role.")
def who(at: str | None, role: str | None) -> None:
    """Who is on call, per role and rotation."""
    try:
        moment = clock.as_utc(datetime.fromisoformat(at.replace("Z", "+00:00"))) if at else None
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 time: {at!r}", param_hint="--at") from exc
    app = command_app()
    with app.app_context():
        roles = policy().roles
        if role is not None and role not in roles:
            raise click.BadParameter(f"unknown role {role!r}; the policy has {', '.join(roles)}", param_hint="--role")
        moment = moment or clock.now()
        click.echo(f"On call at {moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC")
        for key, spec in roles.items():
            if role is not None and key != role:
                continue
            owner = on_call(db.session, spec.rotation, moment) if spec.rotation else None
            rotation_name = spec.rotation or "no rotation"
            click.echo(f"  {spec.title} ({rotation_name}): {_who(owner)}")
        if role is None:
            used = {spec.rotation for spec in roles.values()}
            others = db.session.scalars(
                select(Rotation).where(Rotation.name.not_in(used)).order_by(Rotation.name)
            ).all()
            for r in others:
                click.echo(f"  rotation {r.name}: {_who(on_call(db.session, r, moment))}")


def _who(owner) -> str:
    if owner is None:
        return "nobody"
    person = f"{owner.person.name} ({owner.person.handle})" if owner.person else f"{owner.label!r} (no known person)"
    extra = ", override" if owner.override else ""
    return f"{person} until {owner.end.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC{extra}"


def _print_report(report: dict | None, as_json: bool) -> None:
    if report is None:
        click.echo("the calendar has not changed since the last fetch")
        return
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['rotation']}: {report['events']} events, {report['shifts']} shifts")
    click.echo(f"  people: {', '.join(report['people']) or 'none matched'}")
    if report["unknown"]:
        click.echo(f"  labels naming nobody known: {', '.join(repr(u) for u in report['unknown'])}")
    for warning in report["warnings"]:
        click.echo(f"  warning: {warning}")


def _fail(message: str) -> None:
    click.echo(f"herald: {message}", err=True)
    sys.exit(1)

