"""First start: import the example calendar of every rotation the policy names (`schedules/<rotation>.ics`)
and the example people those calendars name (`schedules/people.toml`), so a fresh `make run` already
knows who is on call and its first P1 pages somebody. Only when no rotation exists yet; people only
when there are none either."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable

from marshmallow import ValidationError
from sqlalchemy import func, select

from .. import clock, db
from ..people.models import Person
from ..people.schemas import PersonCreate
from ..runtime import config, policy
from .calendar import CalendarError, decode
from .materialise import resolve_for, upload
from .models import Rotation

EXAMPLE_PEOPLE = "people.toml"


def import_example_rotations(app, echo: Callable[[str], None]) -> None:
    with app.app_context():
        with db.transaction() as s:
            if s.scalar(select(func.count(Rotation.id))) > 0:
                return
        folder = Path(config().policy_path).resolve().parent
        add_example_people(folder / EXAMPLE_PEOPLE, echo)
        names = sorted({role.rotation for role in policy().roles.values() if role.rotation})
        for name in names:
            path = folder / f"{name}.ics"
            if not path.is_file():
                continue
            try:
                text, now = decode(path.read_bytes()), clock.now()
                prepared = resolve_for(name, text, now)
                with db.transaction() as s:
                    report = upload(s, name, text, prepared)
            except CalendarError as exc:
                echo(f"herald: example rotation {path} cannot be imported: {exc}")
                continue
            echo(f"herald: imported example rotation {name} from {path.name} ({report.shifts} shifts; "
                 f"replace it with: herald rotation import {name} FILE_OR_URL)")


def add_example_people(path: Path, echo: Callable[[str], None]) -> None:
    """Add the people of `path` (`[[people]]` tables with the fields of `POST /api/people`), all or none."""
    if not path.is_file():
        return
    try:
        rows = PersonCreate(many=True).load(tomllib.loads(path.read_text("utf-8")).get("people", []))
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
        echo(f"herald: example people {path} cannot be added: {exc}")
        return
    with db.transaction() as s:
        if s.scalar(select(func.count(Person.id))) > 0:
            return
        s.add_all(Person(created_at=clock.now(), **row) for row in rows)
    echo(f"herald: added {len(rows)} example people from {path.name} "
         f"({', '.join(row['handle'] for row in rows)}); replace them with yours: POST /api/people")
