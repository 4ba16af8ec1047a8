"""`herald report hours --from --to`: the on-call hours report on the command line."""
from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from .. import db
from ..commands import command_app
from ..clock import as_utc
from ..runtime import holidays, policy
from .oncall_hours import ReportRangeError, as_csv, hours_report


@click.group()
def report() -> None:
    """Reports over what Herald recorded."""


@report.command("hours")
@click.option("--from", "start", required=True, callback=lambda _c, _p, v: _moment(v),
              help="Start, ISO 8601 (a date, or a time; without an offset it is UTC).")
@click.option("--to", "end", required=True, callback=lambda _c, _p, v: _moment(v),
              help="End, exclusive (at most 400 days after the start).")
@click.option("--rotation", default=None, help="Only this rotation.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
def hours(start, end, rotation: str | None, fmt: str) -> None:
    """Hours on call per person and rotation (business, after hours, weekend, holiday) and pages received."""
    app = command_app()
    with app.app_context():
        try:
            rows = hours_report(db.session, policy(), holidays(), start, end, rotation)
        except ReportRangeError as exc:
            click.echo(f"herald: {exc}", err=True)
            sys.exit(2)
    click.echo(as_csv(rows) if fmt == "csv" else json.dumps(rows, indent=2), nl=fmt != "csv")


def _moment(value: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 date or time: {value!r}") from None

