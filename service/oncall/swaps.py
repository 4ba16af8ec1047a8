"""Swap and cover requests: a person asks someone (or anyone on the rotation) to take a stretch of their shift.

Candidates get a `swap_request` with a signed accept link (GET shows, POST accepts) and can answer
"yes" by email. The person a request is addressed to (`to`) may decline it — "no" by email, the link
page's Decline button or the API — and the requester hears at once, so they can ask someone else;
a request to anyone on the rotation cannot be declined by one of them. The first acceptance wins (one conditional UPDATE), creates an override for the
acceptor and tells both; a later acceptor hears it is taken. A request expires when its stretch
starts — unless it was made for a stretch already under way ("take it now" during an incident),
which stays open until its end; an accepted "take it now" puts the acceptor on call from the moment
they accept, and the handoff tick moves the incident's role to them as with any handoff.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from ..people.models import Person
from ..rotations.models import Override, Rotation, Shift
from ..rotations.oncall import effective_schedule, iso
from ..runtime import config
from ..mechanics.wake import wake_after_commit
from .messages import role_titles, stretch, tell_person
from .models import SwapRequest

SALT = "herald.swap"
TOKEN_MAX_AGE = 60 * 24 * 3600
ON_ROTATION_WITHIN = timedelta(days=90)  # "on the rotation": a shift or override this near to now
CLOCK_SKEW = timedelta(minutes=1)  # a start this little in the past means "now"
ACCEPT_WORDS = ("yes", "y", "accept", "ok", "okay", "sure")
DECLINE_WORDS = ("no", "n", "decline", "sorry", "nope")


class SwapRefused(Exception):
    """A swap action that the rules refuse: `status` is the HTTP status, `field` the input at fault (if any)."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config().resolve_secret_key(), salt=SALT)


def swap_token(swap: SwapRequest, person: Person) -> str:
    """The accept link's credential: this swap, for this candidate (short enough for a plus address)."""
    return _serializer().dumps([swap.id, person.id])


def read_swap_token(token: str) -> tuple[int, int] | None:
    """(swap id, person id) of a genuine swap token, else None."""
    try:
        value = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except (BadSignature, ValueError):
        return None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None


def accept_url(swap: SwapRequest, person: Person) -> str:
    return f"{config().base_url}/swap/{swap_token(swap, person)}"


def on_rotation(s: Session, rotation: Rotation, person: Person, now: datetime) -> bool:
    """Whether `person` has a shift or an override on the rotation within ON_ROTATION_WITHIN of now."""
    lo, hi = now - ON_ROTATION_WITHIN, now + ON_ROTATION_WITHIN
    for model in (Shift, Override):
        found = s.scalar(select(model.id).where(model.rotation_id == rotation.id, model.person_id == person.id,
                                                model.end > lo, model.start < hi).limit(1))
        if found is not None:
            return True
    return False


def people_on(s: Session, rotation: Rotation, now: datetime) -> list[Person]:
    lo, hi = now - ON_ROTATION_WITHIN, now + ON_ROTATION_WITHIN
    ids = set()
    for model in (Shift, Override):
        ids.update(s.scalars(select(model.person_id).where(model.rotation_id == rotation.id, model.person_id.is_not(None),
                                                           model.end > lo, model.start < hi).distinct()))
    return list(s.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.handle))) if ids else []


def request(s: Session, rotation: Rotation, requester: Person, start: datetime | None, end: datetime,
            to: Person | None, reason: str, now: datetime) -> SwapRequest:
    """Open a request for [start, end) of the requester's own shifts and ask the candidates."""
    start = start or now
    if end <= now:
        raise SwapRefused(422, "the stretch is over: swaps are for shifts to come", "end")
    if start < now - CLOCK_SKEW:
        raise SwapRefused(422, "the stretch starts in the past: ask from now on (omit start to hand over now)",
                          "start")
    start = max(start, now)
    if end <= start:
        raise SwapRefused(422, "must be after start", "end")
    if not on_rotation(s, rotation, requester, now):
        raise SwapRefused(403, f"{requester.name} is not on rotation {rotation.name!r}", "requester")
    foreign = [piece for piece in effective_schedule(s, rotation, start, end)
               if piece.person is None or piece.person.id != requester.id]
    covered = sum(((min(p.end, end) - max(p.start, start)) for p in effective_schedule(s, rotation, start, end)),
                  timedelta(0))
    if foreign or covered < end - start:
        who = ", ".join(f"{p.person.handle if p.person else p.label or 'nobody'} from {iso(max(p.start, start))}"
                        for p in foreign) or "nobody, for part of it"
        raise SwapRefused(422, f"{requester.name} is not on call for all of {iso(start)} – {iso(end)} "
                               f"(on call then: {who})", "start")
    if to is not None and to.id == requester.id:
        raise SwapRefused(422, "a person cannot take their own shift", "to")
    swap = SwapRequest(rotation_id=rotation.id, requester_id=requester.id, to_id=to.id if to else None, start=start,
                       end=end, status="open", reason=reason, created_at=now)
    s.add(swap)
    s.flush()
    for candidate in candidates(s, swap, now):
        token = swap_token(swap, candidate)
        tell_person(s, candidate, "swap_request", f"swap:{swap.id}:request", {
            "event": "request", "swap": swap_data(swap), "accept_url": f"{config().base_url}/swap/{token}",
            "reply_yes": bool(config().reply_address)}, reply_token=token)
    return swap


def candidates(s: Session, swap: SwapRequest, now: datetime) -> list[Person]:
    if swap.to is not None:
        return [swap.to]
    return [p for p in people_on(s, swap.rotation, now) if p.id != swap.requester_id]


def may_accept(s: Session, swap: SwapRequest, person: Person, now: datetime) -> None:
    """Raise SwapRefused unless `person` may take this request now."""
    if swap.status == "accepted":
        taker = swap.accepted_by.name if swap.accepted_by else "someone else"
        raise SwapRefused(409, f"already taken by {taker}")
    if swap.status != "open" or expired(swap, now):
        raise SwapRefused(409, f"the request is {swap.status if swap.status != 'open' else 'expired'}")
    if person.id == swap.requester_id:
        raise SwapRefused(422, "a person cannot take their own shift", "person")
    if swap.to_id is not None and swap.to_id != person.id:
        raise SwapRefused(403, f"the request asks {swap.to.name}, not {person.name}", "person")
    if swap.to_id is None and not on_rotation(s, swap.rotation, person, now):
        raise SwapRefused(403, f"{person.name} is not on rotation {swap.rotation.name!r}", "person")


def accept(s: Session, swap: SwapRequest, person: Person, now: datetime, *, via: str) -> SwapRequest:
    """The first acceptance creates the override and tells both; any later one raises SwapRefused(409)."""
    may_accept(s, swap, person, now)
    won = s.execute(update(SwapRequest).where(SwapRequest.id == swap.id, SwapRequest.status == "open")
                    .values(status="accepted", accepted_by_id=person.id, decided_at=now, via=via)).rowcount
    s.refresh(swap)
    if not won:
        may_accept(s, swap, person, now)  # says who took it
        raise SwapRefused(409, "the request was answered meanwhile")
    override = Override(rotation_id=swap.rotation_id, person_id=person.id, start=max(swap.start, now), end=swap.end,
                        created_at=now, created_by=f"swap {swap.id} ({swap.requester.handle} to {person.handle})")
    s.add(override)
    s.flush()
    swap.override_id = override.id
    swap.rotation.oncall_due_at = swap.rotation.updated_at = now  # heads-up and schedule_change for both
    data = swap_data(swap)
    for someone in (swap.requester, person):
        tell_person(s, someone, "swap_request", f"swap:{swap.id}:accepted", {"event": "accepted", "swap": data,
                                                                              "accept_url": None, "reply_yes": False})
    wake_after_commit(s)
    return swap


def may_decline(swap: SwapRequest, person: Person, now: datetime) -> None:
    """Raise SwapRefused unless `person` is the one this open request asks."""
    if swap.to_id is None:
        raise SwapRefused(409, "the request asks anyone on the rotation: there is nothing to decline, "
                               "someone else may still take it")
    if swap.to_id != person.id:
        raise SwapRefused(403, f"the request asks {swap.to.name}, not {person.name}", "person")
    if swap.status != "open" or expired(swap, now):
        raise SwapRefused(409, f"the request is {swap.status if swap.status != 'open' else 'expired'}")


def decline(s: Session, swap: SwapRequest, person: Person, now: datetime, *, via: str) -> SwapRequest:
    """The asked person says no: the request is declined and the requester told (one conditional UPDATE)."""
    may_decline(swap, person, now)
    won = s.execute(update(SwapRequest).where(SwapRequest.id == swap.id, SwapRequest.status == "open")
                    .values(status="declined", decided_at=now, via=via)).rowcount
    s.refresh(swap)
    if not won:
        may_decline(swap, person, now)  # says what it became meanwhile
        raise SwapRefused(409, "the request was answered meanwhile")
    tell_person(s, swap.requester, "swap_request", f"swap:{swap.id}:declined", {
        "event": "declined", "swap": swap_data(swap), "accept_url": None, "reply_yes": False})
    return swap


def tell_taken(s: Session, swap: SwapRequest, person: Person) -> None:
    """Answer a late acceptor (by email) that the shift is taken."""
    tell_person(s, person, "swap_request", f"swap:{swap.id}:taken", {"event": "taken", "swap": swap_data(swap),
                                                                      "accept_url": None, "reply_yes": False})


def cancel(s: Session, swap: SwapRequest, now: datetime) -> SwapRequest:
    if swap.status != "open":
        raise SwapRefused(409, f"the request is {swap.status}; only an open request can be cancelled")
    swap.status, swap.decided_at = "cancelled", now
    for candidate in candidates(s, swap, now):
        tell_person(s, candidate, "swap_request", f"swap:{swap.id}:cancelled", {
            "event": "cancelled", "swap": swap_data(swap), "accept_url": None, "reply_yes": False})
    return swap


def expired(swap: SwapRequest, now: datetime) -> bool:
    """A request expires when its stretch starts; one made for a stretch already under way, when it ends."""
    return swap.end <= now or (swap.start > swap.created_at and swap.start <= now)


def expire_due(s: Session, now: datetime) -> int:
    table = SwapRequest.__table__
    return s.execute(update(table).where(table.c.status == "open", or_(
        table.c.end <= now, and_(table.c.start > table.c.created_at, table.c.start <= now)))
        .values(status="expired", decided_at=now)).rowcount


def swap_data(swap: SwapRequest) -> dict:
    """What the templates see."""
    return {**stretch(swap.start, swap.end), "id": swap.id, "rotation": swap.rotation.name,
            "roles": role_titles(swap.rotation.name), "requester": swap.requester.name,
            "to": swap.to.name if swap.to else None, "reason": swap.reason, "status": swap.status,
            "accepted_by": swap.accepted_by.name if swap.accepted_by else None}
