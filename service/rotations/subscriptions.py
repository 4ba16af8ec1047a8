"""Calendar subscriptions: a rotation that follows an iCal URL, refreshed when its `next_refresh_at` is due.

The refresh is claimed and run beside the ticker (`background.py`); the fetch runs outside any
transaction. Whatever goes wrong — unreachable server, HTTP error, an unreadable calendar — is
recorded in `last_error` and the last good shifts stay.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock, db
from ..runtime import config
from . import background
from .calendar import CalendarError, decode
from .fetch import AddressPolicy, FetchError, check_url, fetch_calendar
from .materialise import get_or_create, import_calendar, prepare
from .models import Rotation

log = logging.getLogger("herald.rotations")

DEFAULT_REFRESH = timedelta(minutes=10)
CLAIM_LEASE = timedelta(minutes=2)  # longer than a fetch may take (fetch.TOTAL_TIMEOUT)


def address_policy() -> AddressPolicy:
    return AddressPolicy(allow_private=config().allow_private_urls)


def subscribe(s: Session, name: str, url: str, refresh_every: timedelta | None, now: datetime) -> Rotation:
    """Create or re-point a subscription; it is due at once. Raises FetchError for a URL Herald will not fetch."""
    check_url(url, address_policy())
    rotation = get_or_create(s, name, now)
    if rotation.source_url != url:
        rotation.etag = rotation.last_modified = None
    rotation.source_url = url
    rotation.refresh_every_seconds = int((refresh_every or DEFAULT_REFRESH).total_seconds())
    rotation.next_refresh_at = now
    rotation.last_error = None
    rotation.updated_at = now
    return rotation


@dataclass(frozen=True)
class RefreshOutcome:
    status: str  # "imported" | "unchanged" | "failed" (not fetched) | "invalid" (fetched, unreadable)
    report: dict | None = None
    error: str | None = None


def refresh(rotation_id: int) -> RefreshOutcome:
    """Fetch one subscription now and import it when it changed."""
    with db.read_transaction() as s:
        rotation = s.get(Rotation, rotation_id)
        if rotation is None or rotation.source_url is None:
            return RefreshOutcome("failed", error="not a subscription")
        url, etag, last_modified = rotation.source_url, rotation.etag, rotation.last_modified
        recorded_from = rotation.materialised_from
        # Without stored shifts a 304 would leave the rotation empty: ask unconditionally.
        if rotation.calendar is None:
            etag = last_modified = None
    try:
        fetched = fetch_calendar(url, address_policy(), etag=etag, last_modified=last_modified)
    except FetchError as exc:
        return _record(rotation_id, url, RefreshOutcome("failed", error=str(exc)))
    prepared = problem = None
    now = clock.now()
    if fetched.status == 200:
        text = decode(fetched.body, fetched.charset)
        try:  # resolved before the write transaction begins (see materialise.prepare)
            prepared = prepare(text, now, recorded_from)
        except CalendarError as exc:
            problem = exc
    with db.transaction() as s:
        rotation = s.scalar(select(Rotation).where(Rotation.id == rotation_id).with_for_update())
        if rotation is None or rotation.source_url != url:  # deleted or re-pointed meanwhile
            return RefreshOutcome("failed", error="the subscription changed while it was fetched")
        outcome = RefreshOutcome("unchanged", rotation.report)
        if problem is not None:
            outcome = RefreshOutcome("invalid", error=f"the calendar at {url} cannot be read: {problem}")
        elif prepared is not None:
            report = import_calendar(s, rotation, text, prepared)
            outcome = RefreshOutcome("imported", report.as_json(rotation.name))
            rotation.etag, rotation.last_modified = fetched.etag, fetched.last_modified
        _finish(rotation, outcome, now)
    return outcome


def _record(rotation_id: int, url: str, outcome: RefreshOutcome) -> RefreshOutcome:
    with db.transaction() as s:
        rotation = s.get(Rotation, rotation_id)
        if rotation is not None and rotation.source_url == url:
            _finish(rotation, outcome, clock.now())
    return outcome


def _finish(rotation: Rotation, outcome: RefreshOutcome, now: datetime) -> None:
    if outcome.status in ("failed", "invalid"):
        log.warning("rotation %s: refresh failed: %s", rotation.name, outcome.error)
        rotation.last_error = outcome.error
    else:
        rotation.last_error = None
        rotation.last_refreshed_at = now
    every = timedelta(seconds=rotation.refresh_every_seconds) if rotation.refresh_every_seconds else DEFAULT_REFRESH
    rotation.next_refresh_at = now + every


def refresh_due_subscriptions(now: datetime) -> None:
    table = Rotation.__table__
    due = background.claim_due(table.c.next_refresh_at, now, CLAIM_LEASE, table.c.source_url.is_not(None))
    for rotation_id in due:
        background.run(refresh, rotation_id)
