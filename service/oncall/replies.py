"""Email answers to swap requests: "yes" from the candidate's own address takes the shift.

The reply pipeline (`acks/inbound.py`) reads the message and asks here first: a reply to a
`swap_request` (by its thread headers or the signed token of its Reply-To plus address) is handled
here with the same sender checks as an acknowledgement; anything else goes on to the page matching.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..notify.models import Notification
from ..people.models import Person
from . import swaps
from .models import SwapRequest


@dataclass(frozen=True)
class SwapAnswer:
    outcome: str  # swap_accepted | swap_declined | swap_refused | not_a_command | rejected_sender | automatic
    detail: str
    person_id: int | None = None


def find_swap(s: Session, answers: tuple[str, ...], tokens: list[str]) -> tuple[SwapRequest, Person] | None:
    """The request and candidate a reply answers: by In-Reply-To/References, else by the plus-address token."""
    if answers:
        ids = set(answers) | {mid.strip("<>") for mid in answers} | {f"<{mid.strip('<>')}>" for mid in answers}
        row = s.scalar(select(Notification).where(Notification.message_id.in_(ids),
                                                  Notification.kind == "swap_request",
                                                  Notification.slot.like("swap:%:request"),
                                                  Notification.person_id.is_not(None)).limit(1))
        if row is not None:
            swap, person = s.get(SwapRequest, int(row.slot.split(":")[1])), s.get(Person, row.person_id)
            if swap is not None and person is not None:
                return swap, person
    for token in tokens:
        found = swaps.read_swap_token(token)
        if found is not None:
            swap, person = s.get(SwapRequest, found[0]), s.get(Person, found[1])
            if swap is not None and person is not None:
                return swap, person
    return None


def answer(s: Session, swap: SwapRequest, person: Person, *, sender: str, automatic: str | None, first_word: str,
           now: datetime) -> SwapAnswer:
    """Act on a reply from `sender` to the request sent to `person`."""
    if automatic:
        return SwapAnswer("automatic", automatic)
    if sender not in person.addresses():
        return SwapAnswer("rejected_sender", f"{sender or 'an unknown sender'} is not an address of {person.handle}")
    if first_word in swaps.DECLINE_WORDS and swap.to_id is not None:
        try:
            swaps.decline(s, swap, person, now, via="email")
        except swaps.SwapRefused as exc:
            return SwapAnswer("swap_refused", exc.message, person.id)
        return SwapAnswer("swap_declined", f"swap {swap.id}: {person.handle} declines", person.id)
    if first_word not in swaps.ACCEPT_WORDS:
        return SwapAnswer("not_a_command", f"first word {first_word!r}; reply 'yes' to take the shift", person.id)
    try:
        swaps.accept(s, swap, person, now, via="email")
    except swaps.SwapRefused as exc:
        if exc.status == 409 and swap.status == "accepted":
            swaps.tell_taken(s, swap, person)
        return SwapAnswer("swap_refused", exc.message, person.id)
    return SwapAnswer("swap_accepted", f"swap {swap.id}: {person.handle} takes the shift", person.id)
