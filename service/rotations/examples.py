"""First start: import the example calendar of every rotation the policy names (`schedules/<rotation>.ics`),
so a fresh `make run` already knows who is on call. Only when no rotation exists yet; the labels name
example people, whom Herald matches as soon as people with those names are added."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import func, select

from .. import clock, db
from ..runtime import config, policy
from .calendar import CalendarError, decode
from .materialise import resolve_for, upload
from .models import Rotation


def import_example_rotations(app, echo: Callable[[str], None]) -> None:
    with app.app_context():
        with db.transaction() as s:
            if s.scalar(select(func.count(Rotation.id))) > 0:
                return
        folder = Path(config().policy_path).resolve().parent
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
