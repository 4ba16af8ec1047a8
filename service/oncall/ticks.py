"""The on-call tick jobs (listed in `service/wiring.py`): look after each rotation a role uses when it is
due, expire swap requests, and the hourly checks."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import db
from ..mechanics.claim import claim
from ..rotations import background
from ..rotations.gaps import Gap
from ..rotations.models import Rotation
from ..runtime import config, policy
from .heads_up import announce_gap, look_at, tell_changes
from .leave import check_out_of_office
from .models import OnCallJob
from .swaps import expire_due

log = logging.getLogger("herald.oncall")

CLAIM_LEASE = timedelta(minutes=5)
HOURLY = timedelta(hours=1)


def look_after_rotations(now: datetime) -> None:
    """Reminders, gaps and changes of every due rotation, in one transaction; one change message per person."""
    in_use = list(policy().rotations_in_use())
    table = Rotation.__table__
    due = background.claim_due(table.c.oncall_due_at, now, CLAIM_LEASE, table.c.name.in_(in_use))
    if not due:
        return
    with db.transaction() as s:
        told: dict[int, list] = {}
        for rotation in s.scalars(select(Rotation).where(Rotation.id.in_(due)).order_by(Rotation.name)):
            for change in look_at(s, rotation, now):
                told.setdefault(change.person_id, []).append((rotation, change))
        for person_id, found in sorted(told.items()):
            tell_changes(s, person_id, found, now)


def expire_swaps(now: datetime) -> None:
    """Open requests whose stretch has started (or, for "take it now", ended) expire."""
    with db.transaction() as s:
        expire_due(s, now)


def missing_rotations(now: datetime) -> None:
    """Hourly: rotations a role names but Herald does not have (a typo leaves nobody on call) are a gap
    as long as the horizon, announced once."""
    if not claim_job("missing-rotations", now, HOURLY):
        return
    with db.transaction() as s:
        have = set(s.scalars(select(Rotation.name)))
        for name in sorted(set(policy().rotations_in_use()) - have):
            announce_gap(s, name, Gap(now, now + policy().oncall.gap_horizon, None), now, key="no-such-rotation")


def out_of_office(now: datetime) -> None:
    """Hourly, with Graph configured: the next two weeks' shifts against people's time away (beside the
    ticker: Graph calls take time)."""
    cfg = config()
    if not (cfg.graph_tenant_id and cfg.graph_client_id and cfg.graph_client_secret):
        return
    if claim_job("out-of-office", now, HOURLY):
        background.run(check_out_of_office, now)


def claim_job(name: str, now: datetime, every: timedelta) -> bool:
    """Whether this worker runs the periodic job `name` now (then it is next due `every` later)."""
    try:
        with db.transaction() as s:
            if s.scalar(select(OnCallJob.id).where(OnCallJob.name == name)) is None:
                s.add(OnCallJob(name=name, due_at=now))
    except IntegrityError:  # another worker created it at the same moment
        pass
    with db.transaction() as s:
        return bool(claim(s, OnCallJob, OnCallJob.name == name, OnCallJob.due_at <= now,
                          lease={"due_at": now + every}))
