"""Answers to `Action.Execute` (an `invoke` named `adaptiveCard/action`): a small registry of verbs.

How to add a verb (on-call swap `accept`, stakeholder `got_it`, escalation `ack`, …) without
touching this module's dispatcher: write a handler and add one line to `CARD_VERBS` in
`service/wiring.py`:

    def accept_swap(invoke):            # invoke: an `Invoke` (below): session, activity, verb, data, person
        ...                             # read invoke.data, check your own token, act through your domain
        return card, "accepted"         # the card Teams shows instead of the tapped one, and an outcome

    ("accept", rotations_swaps.accept_swap, "swap"),      # service/wiring.py, CARD_VERBS

A handler returns an `Answer` or, from a domain that may not import this one (a sibling such as
acks or escalation), a plain `(card, outcome)` pair. A card's action data names its `kind`
(default "incident"), so two domains may both use the verb `ack`: the dispatcher looks up
`(verb, kind)`. For kind "incident" the dispatcher reads the signed card token (`data.token`) and
loads the incident before calling the handler; an invalid or stale token never reaches it. Other
kinds get the raw `data` and check their own tokens. Handlers run in the request's transaction
(the endpoint commits); refusals should change nothing (here: `refuse`, which also records the
attempt on the timeline).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..ack_tokens import PAGE, InvalidAckToken, handler_for, read_token
from ..errors import RuleError
from ..incidents import lifecycle, permissions
from ..incidents.models import OPEN_STATUSES, Incident, IncidentUpdate
from ..incidents.timeline import record
from ..notify import receipts
from ..notify.context import links
from ..people.models import Person
from ..runtime import config, policy
from . import cards, outbox
from .models import TeamsCard
from .tokens import CardToken, InvalidCardToken, read_card_token

log = logging.getLogger("herald.teams.actions")

MAX_TEXT = 10_000


@dataclass
class Invoke:
    """One tap on a card, as a verb handler sees it."""

    session: Session
    activity: dict
    verb: str
    data: dict                       # the action's data with the card's input values merged in
    person: Person | None            # who tapped (by from.aadObjectId); None when Herald does not know them
    kind: str = "incident"
    token: CardToken | None = None   # kind "incident": the card's signed token …
    raw_token: str = ""
    incident: Incident | None = None  # … and its incident
    card: TeamsCard | None = None    # the posted card that was tapped, when Herald posted it
    trigger: str = "manual"          # "automatic" for Teams' own refresh


@dataclass
class Answer:
    card: dict
    outcome: str                     # done, refused, invalid, stale, unknown, refreshed …
    incident_id: int | None = None
    extra: dict = field(default_factory=dict)


Handler = Callable[[Invoke], "Answer | tuple[dict, str]"]
_verbs: dict[tuple[str, str], Handler] = {}


def register_verb(verb: str, handler: Handler, *, kind: str = "incident") -> None:
    """Answer `Action.Execute` taps with `verb` on cards whose data has `kind` (default "incident")."""
    _verbs[(verb, kind)] = handler


def verbs() -> list[tuple[str, str]]:
    return sorted(_verbs)


def answer(s: Session, activity: dict, person: Person | None) -> Answer:
    """Find the verb's handler and call it; every problem becomes a card that says what happened."""
    value = activity.get("value") if isinstance(activity.get("value"), dict) else {}
    action = value.get("action") if isinstance(value.get("action"), dict) else {}
    verb = action.get("verb") if isinstance(action.get("verb"), str) else ""
    data = action.get("data") if isinstance(action.get("data"), dict) else {}
    kind = data.get("kind") if isinstance(data.get("kind"), str) else "incident"
    handler = _verbs.get((verb, kind))
    if handler is None:
        return Answer(cards.message_card("Herald does not know this button",
                                         f"The action {verb or '(none)'!r} is not one Herald offers; the card may "
                                         "come from an older version of Herald.", color="Warning"), "unknown")
    invoke = Invoke(session=s, activity=activity, verb=verb, data=data, person=person, kind=kind,
                    trigger=str(value.get("trigger") or "manual"))
    if kind == "incident":
        try:
            invoke.token = read_card_token(data.get("token"))
        except InvalidCardToken:
            return Answer(cards.message_card("This card is out of date",
                                             "Herald cannot read this card any more (it is too old or was damaged). "
                                             "Use the newest card, or the incident's page in Herald.",
                                             color="Warning"), "stale")
        invoke.raw_token = data["token"]
        invoke.incident = s.get(Incident, invoke.token.incident_id) if invoke.token.incident_id else None
        if invoke.incident is None:
            return Answer(cards.message_card("This incident no longer exists",
                                             "Herald has no record of the incident this card was about."), "stale")
        invoke.card = _tapped_card(s, activity, invoke.incident.id)
    result = handler(invoke)
    if isinstance(result, tuple):  # (card, outcome) from a domain that cannot import this one
        card, outcome = result
        return Answer(card, str(outcome), invoke.incident.id if invoke.incident else None)
    return result


def _tapped_card(s: Session, activity: dict, incident_id: int) -> TeamsCard | None:
    reply_to = activity.get("replyToId")
    conversation = (activity.get("conversation") or {}).get("id")
    if not isinstance(reply_to, str) or not isinstance(conversation, str):
        return None
    return s.scalar(select(TeamsCard).where(TeamsCard.conversation_id == conversation,
                                            TeamsCard.activity_id == reply_to,
                                            TeamsCard.incident_id == incident_id).limit(1))


# ---- the card to answer with --------------------------------------------------------------------

def current_card(invoke: Invoke, notice: str = "") -> dict:
    """The tapped card drawn again as the incident is now, for the person who tapped it."""
    s, incident, person, card = invoke.session, invoke.incident, invoke.person, invoke.card
    token = invoke.token
    if card is not None and card.view == "person" and (person is None or card.person_id == person.id):
        data = card.data or {}
        return cards.person_card(s, incident, s.get(Person, card.person_id) if card.person_id else None,
                                 kind=card.kind, role=card.role, token=data.get("token", invoke.raw_token),
                                 ack_url=data.get("ack_url"), data=data, notice=notice)
    if card is None and token is not None and token.person_id is not None and person is not None \
            and token.person_id == person.id:
        return cards.person_card(s, incident, person, kind="page", role=token.role, token=invoke.raw_token,
                                 notice=notice)
    if card is not None and outbox.drawable(card.view):
        drawn = outbox.draw(s, card)
        if drawn is not None:
            return drawn
    update = s.get(IncidentUpdate, card.update_id) if card is not None and card.update_id else None
    if update is None:
        update = s.scalar(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id)
                          .order_by(IncidentUpdate.posted_at.desc(), IncidentUpdate.id.desc()).limit(1))
    if update is None:
        return cards.message_card(f"{incident.number}: {incident.title}", notice,
                                  link=links(incident, config().base_url)["incident"])
    stakeholder_token = (card.data or {}).get("token") if card is not None else None
    seen = receipts.receipt_of(s, update, _teams_address(invoke))
    return cards.stakeholder_card(s, incident, update, token=stakeholder_token or invoke.raw_token, viewer=person,
                                  refresh_user_ids=outbox.refresh_user_ids(incident), notice=notice,
                                  seen_at=seen.at if seen is not None else None)


def refuse(invoke: Invoke, reason: str, *, outcome: str = "refused") -> Answer:
    """Say why on the card and on the timeline; change nothing else."""
    who = invoke.person.name if invoke.person else _stranger(invoke.activity)
    if invoke.incident is not None:
        record(invoke.session, invoke.incident, "teams_refused",
               f"Refused {invoke.verb} via teams from {who}: {reason}",
               actor=_actor(invoke), verb=invoke.verb, person=invoke.person.handle if invoke.person else None)
    return Answer(current_card(invoke, notice=reason), outcome, invoke.incident.id if invoke.incident else None)


def _stranger(activity: dict) -> str:
    frm = activity.get("from") if isinstance(activity.get("from"), dict) else {}
    name = str(frm.get("name") or "someone")[:100]
    return f"{name} (not known to Herald)"


def _actor(invoke: Invoke) -> str:
    if invoke.person is not None:
        return f"teams:{invoke.person.handle}"
    frm = invoke.activity.get("from") if isinstance(invoke.activity.get("from"), dict) else {}
    return f"teams:{str(frm.get('aadObjectId') or frm.get('id') or 'unknown')[:100]}"


def _unknown_person(invoke: Invoke) -> Answer | None:
    if invoke.person is None:
        return refuse(invoke, "Herald does not know your Teams account. Ask an admin to add your Entra object id "
                              "to your person in Herald, or write to the bot once so it can find you by email.")
    return None


def _text(invoke: Invoke, name: str, *, required: bool = False) -> str | None:
    """An input's value: a string of at most 10,000 characters (None when invalid)."""
    value = invoke.data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value.strip()):
        return None
    return value.strip()


def _apply(invoke: Invoke, change: Callable[[], object]) -> tuple[object, str | None]:
    """(result, None), or (None, why) when the rules refuse: the change runs in a savepoint, so a
    refusal half-way leaves nothing behind."""
    try:
        with invoke.session.begin_nested():
            return change(), None
    except RuleError as exc:
        return None, str(exc)


def _done(invoke: Invoke, outcome: str) -> Answer:
    # The tapped card is answered now; the other cards about the incident follow through the outbox.
    return Answer(current_card(invoke), outcome, invoke.incident.id)


def _note_via_teams(invoke: Invoke, text: str) -> None:
    record(invoke.session, invoke.incident, "via_teams", f"{text} by {invoke.person.name} via teams",
           actor=_actor(invoke), verb=invoke.verb, person=invoke.person.handle)


# ---- the verbs ----------------------------------------------------------------------------

def _refused(invoke: Invoke, rule: Callable, *args) -> Answer | None:
    """A refusal when Herald does not know who tapped, or when `rule(incident, person id, *args)` says no."""
    refused = _unknown_person(invoke)
    if refused:
        return refused
    decision = rule(invoke.incident, invoke.person.id, *args)
    return None if decision else refuse(invoke, decision.reason)


def _change(invoke: Invoke, change: Callable[[], object], *, outcome: str, note: str = "",
            prefix: str = "") -> Answer:
    """Apply a lifecycle change; a rule's refusal is answered like any other, with nothing changed."""
    result, why = _apply(invoke, change)
    if why:
        return refuse(invoke, prefix + why)
    if note:
        _note_via_teams(invoke, note)
    return _done(invoke, outcome(result) if callable(outcome) else outcome)


def acknowledge(invoke: Invoke) -> Answer:
    """The paged person acknowledges their roles (the one acknowledgement path, with its deduplication)."""
    refused = _refused(invoke, permissions.may_acknowledge)
    if refused:
        return refused
    if invoke.token.person_id is not None and invoke.token.person_id != invoke.person.id:
        return refuse(invoke, "This page was sent to someone else; only the paged person can acknowledge it.")
    return _change(invoke, lambda: lifecycle.acknowledge(invoke.session, invoke.incident, invoke.person, via="teams",
                                                         actor=_actor(invoke)),
                   outcome=lambda roles: "acknowledged" if roles else "already_acknowledged")


def post_update(invoke: Invoke) -> Answer:
    """A role holder posts a progress update (the one update path: stakeholders hear, the cadence restarts)."""
    refused = _refused(invoke, permissions.may_update)
    if refused:
        return refused
    status = invoke.data.get("status")
    impact, learned, doing = _text(invoke, "impact"), _text(invoke, "learned"), _text(invoke, "doing")
    if status not in OPEN_STATUSES or None in (impact, learned, doing):
        return refuse(invoke, "The update was not posted: choose a status ("
                      + ", ".join(OPEN_STATUSES) + ") and keep each text under 10,000 characters.",
                      outcome="invalid")
    return _change(invoke, lambda: lifecycle.post_update(invoke.session, invoke.incident, status=status,
                                                         actor=_actor(invoke), impact=impact or None,
                                                         learned=learned, doing=doing),
                   outcome="updated", note="Progress update posted")


def resolve(invoke: Invoke) -> Answer:
    refused = _refused(invoke, permissions.may_resolve)
    if refused:
        return refused
    root_cause, resolution = _text(invoke, "root_cause", required=True), _text(invoke, "resolution", required=True)
    if root_cause is None or resolution is None:
        return refuse(invoke, "Not resolved: give the root cause and the resolution.", outcome="invalid")
    return _change(invoke, lambda: lifecycle.resolve_incident(invoke.session, invoke.incident, root_cause=root_cause,
                                                              resolution=resolution, actor=_actor(invoke)),
                   outcome="resolved", note="Resolved")


def hand_over(invoke: Invoke) -> Answer:
    """The role's holder or the incident's commander gives the role to someone else."""
    refused = _unknown_person(invoke)
    if refused:
        return refused
    role, handle = invoke.data.get("role"), invoke.data.get("person")
    if not isinstance(role, str) or not isinstance(handle, str) or not role or not handle:
        return refuse(invoke, "Not handed over: choose a role and a person.", outcome="invalid")
    refused = _refused(invoke, permissions.may_hand_over, role, policy().commander_role)
    if refused:
        return refused
    target = invoke.session.scalar(select(Person).where(Person.handle == handle.strip().lower()))
    if target is None:
        return refuse(invoke, f"Not handed over: Herald knows nobody called {handle[:64]!r}.", outcome="invalid")
    return _change(invoke, lambda: lifecycle.hand_over_role(invoke.session, invoke.incident, role, target,
                                                            actor=_actor(invoke)),
                   outcome="handed_over", note=f"{policy().role_title(role)} handed over to {target.name}",
                   prefix="Not handed over: ")


def got_it(invoke: Invoke) -> Answer:
    """Anyone who sees a stakeholder card says they have read the update: a receipt, nothing else changes.

    Who: the person Herald knows by `from.aadObjectId` (their email is the receipt's address, so an email
    "ack" and a tap count once), else the Teams user by object id and name.
    """
    update = _tapped_update(invoke)
    if update is None:
        return refuse(invoke, "This card is not about a status update of this incident.", outcome="invalid")
    address = _teams_address(invoke)
    if not address:
        return refuse(invoke, "Herald cannot tell who you are in Teams.", outcome="invalid")
    frm = invoke.activity.get("from") if isinstance(invoke.activity.get("from"), dict) else {}
    name = invoke.person.name if invoke.person is not None else str(frm.get("name") or "")[:200]
    message = invoke.card.notification_id if invoke.card is not None else None
    if message is None:
        conversation = (invoke.activity.get("conversation") or {}).get("id")
        found = receipts.message_to(invoke.session, update, outbox.CHANNEL, conversation)
        message = found.id if found is not None else None
    new = receipts.record_receipt(invoke.session, update, address=address, name=name, via="teams",
                                  notification_id=message)
    return Answer(current_card(invoke), "acknowledged" if new else "already_acknowledged", invoke.incident.id)


def _tapped_update(invoke: Invoke) -> IncidentUpdate | None:
    """The update of the tapped card (as posted), else the one its data names, if it is this incident's."""
    update_id = invoke.card.update_id if invoke.card is not None and invoke.card.update_id else invoke.data.get("update")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return None
    update = invoke.session.get(IncidentUpdate, update_id)
    return update if update is not None and update.incident_id == invoke.incident.id else None


def _teams_address(invoke: Invoke) -> str:
    """Whom a Teams receipt names: the known person's email, else `teams:<Entra object id>` ("" if neither)."""
    if invoke.person is not None and invoke.person.email:
        return invoke.person.email.lower()
    frm = invoke.activity.get("from") if isinstance(invoke.activity.get("from"), dict) else {}
    aad = str(frm.get("aadObjectId") or "").strip().lower()[:100]
    return f"teams:{aad}" if aad else ""


def refresh(invoke: Invoke) -> Answer:
    """Teams asks for the viewer's own version of a card (role holders get the buttons)."""
    return Answer(current_card(invoke), "refreshed", invoke.incident.id)


def acknowledge_receipt(invoke: Invoke) -> Answer:
    """`ack` on a card whose data carries a token of another kind than a page (an escalation, …): the
    kind's handler (`ack_tokens.handler_for`) decides; the tapped card is drawn again as it now stands."""
    s = invoke.session
    try:
        found = read_token(invoke.data.get("token") if isinstance(invoke.data.get("token"), str) else "")
    except InvalidAckToken:
        found = None
    handler = handler_for(found.kind) if found is not None and found.kind != PAGE else None
    if found is None or handler is None or found.kind != invoke.kind:
        return Answer(cards.message_card("This card is out of date",
                                         "Herald cannot read this card any more (it is too old or was damaged). "
                                         "Use the link in the email, or the incident's page in Herald.",
                                         color="Warning"), "stale")
    invoke.incident = s.get(Incident, found.incident_id)
    if invoke.incident is None:
        return Answer(cards.message_card("This incident no longer exists",
                                         "Herald has no record of the incident this card was about."), "stale")
    invoke.raw_token = invoke.data["token"]
    invoke.card = _tapped_card(s, invoke.activity, invoke.incident.id)
    refused = _unknown_person(invoke)
    if refused:
        return refused
    outcome, why = handler.card_acknowledge(s, found, invoke.person)
    if why:
        return refuse(invoke, why)
    return _done(invoke, outcome)
