"""Every card the bot sends, and every update in place, is an outbox row (channel `teams_bot`).

- Pages, notices, handoffs, escalations and reminders reach a person with an Entra object id
  through the bot *in addition to* email (`reach_person`, wired into notify's recipients), and the
  stakeholder updates reach HERALD_TEAMS_CHANNEL (`reach_stakeholders`).
- `BotPayloads` turns such a message into the row's payload: who it goes to, what view draws it,
  the signed card token, and the card as drawn at that moment.
- When an incident changes, every card Herald posted about it is drawn again and updated in place:
  `schedule_redraw` collects the incident in the session and, just before the commit, enqueues one
  `card_update` row per card (`enqueue_update`).
- Other domains post their own cards into any conversation with `enqueue_card(…, view=NAME)` after
  `register_view(NAME, draw)`; the same channel posts them, records them and updates them in place.
"""
from __future__ import annotations

import json
import logging
from typing import Callable

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, object_session, scoped_session

from .. import clock, db
from ..incidents.models import Incident, IncidentUpdate
from ..notify.dispatcher import send_after_commit
from ..notify.models import Notification
from ..notify.outbox import KIND_PRIORITY, Recipient
from ..people.models import Person
from ..runtime import config, policy
from . import cards
from .models import TeamsCard
from .tokens import make_card_token

log = logging.getLogger("herald.teams.outbox")

CHANNEL = "teams_bot"
PERSON_KINDS = ("page", "notice", "handoff", "escalation", "reminder", "question")
STAKEHOLDER_KINDS = ("initial", "progress", "resolution")
UPDATE_KIND = "card_update"

# view name -> draw(session, TeamsCard) -> card. "person" and "stakeholder" are the bot's own.
Draw = Callable[[Session, TeamsCard], dict]
_views: dict[str, Draw] = {}


def register_view(name: str, draw: Draw) -> None:
    """Let cards of view `name` (posted with `enqueue_card`) be drawn again for updates in place."""
    _views[name] = draw


def drawable(view: str | None) -> bool:
    """Whether another domain registered a way to draw cards of `view` again."""
    return view in _views


# ---- who the bot reaches ------------------------------------------------------------------

def reach_person(person, channels) -> list[Recipient]:
    """The bot reaches a person on `teams` once it knows their Entra object id."""
    if "teams" in channels and config().teams_bot_configured and person.aad_object_id:
        return [Recipient(CHANNEL, person.handle, person.name, person.id)]
    return []


def reach_stakeholders(incident, severity) -> list[Recipient]:
    cfg = config()
    if "teams" in severity.channels and cfg.teams_bot_configured and cfg.teams_channel:
        return [Recipient(CHANNEL, cfg.teams_channel, "Incident channel (bot)")]
    return []


def refresh_user_ids(incident: Incident) -> list[str]:
    """The Teams user ids of the incident's role holders: Teams draws their own view of a channel card."""
    ids = []
    for slot in incident.roles:
        person = slot.person
        if person is not None and person.teams_user_id and person.teams_user_id not in ids:
            ids.append(person.teams_user_id)
    return ids[:cards.MAX_REFRESH_USERS]


class BotPayloads:
    """notify's payload builder for `teams_bot` rows."""

    def accepts(self, kind: str, incident, context: dict) -> bool:
        if incident is None:
            return False
        if kind in STAKEHOLDER_KINDS:
            return isinstance(context.get("update"), dict)
        # Review reminders (a `reminder` context) and "every alert resolved" notices (a `monitoring`
        # context) say things the bot's incident card does not: they stay with email and the webhook.
        return kind in PERSON_KINDS and "reminder" not in context and "monitoring" not in context

    def build(self, kind: str, incident, recipient: Recipient, context: dict) -> dict:
        s = object_session(incident)
        if kind in STAKEHOLDER_KINDS:
            update = context["update"]
            token = make_card_token(incident.id)
            card = cards.stakeholder_card(s, incident, update, token=token,
                                          refresh_user_ids=refresh_user_ids(incident))
            return {"op": "post", "view": "stakeholder", "kind": kind, "incident_id": incident.id,
                    "to": {"conversation": recipient.address}, "update_id": update["id"], "role": None,
                    "data": {"token": token}, "card": card}
        person = s.get(Person, recipient.person_id) if s is not None else None
        role = (context.get("role") or {}).get("key")
        data = _jsonable({
            "token": make_card_token(incident.id, recipient.person_id, role),
            "ack_url": context.get("ack_url"),
            "repeat": context.get("repeat") or 0,
            "previous": context.get("previous") or "",
            "question": context.get("question"),   # a stakeholder's question, for the Communications Lead
            "escalation": context.get("escalation"),
            "receipt": cards.receipt_data(context.get("ack_token")),
            "due_at": context["due_at"].isoformat() if context.get("due_at") else None,
        })
        card = cards.person_card(s, incident, person, kind=kind, role=role, token=data["token"],
                                 ack_url=data["ack_url"], data=data)
        return {"op": "post", "view": "person", "kind": kind, "incident_id": incident.id,
                "to": {"person_id": recipient.person_id}, "update_id": None, "role": role, "data": data,
                "card": card}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


# ---- drawing a posted card again ----------------------------------------------------------

def draw(s: Session, card: TeamsCard) -> dict | None:
    """The card as it should look now (None when its incident or update is gone)."""
    if card.view in _views:
        return _views[card.view](s, card)
    incident = s.get(Incident, card.incident_id) if card.incident_id else None
    if incident is None:
        return None
    data = card.data or {}
    if card.view == "person":
        person = s.get(Person, card.person_id) if card.person_id else None
        return cards.person_card(s, incident, person, kind=card.kind, role=card.role, token=data.get("token", ""),
                                 ack_url=data.get("ack_url"), data=data)
    if card.view == "stakeholder":
        update = s.get(IncidentUpdate, card.update_id) if card.update_id else None
        if update is None:
            return None
        return cards.stakeholder_card(s, incident, update, token=data.get("token", ""),
                                      refresh_user_ids=refresh_user_ids(incident))
    log.warning("card %s has view %r that nobody registered", card.id, card.view)
    return None


def stamp(incident: Incident | None) -> str:
    """What a drawing of `incident` depends on changing: a card drawn with an older stamp is redrawn."""
    if incident is None:
        return ""
    return "|".join(str(t) for t in (incident.updated_at, incident.last_update_at, incident.status))


# ---- enqueueing ---------------------------------------------------------------------------

_t = Notification.__table__


def _insert(s: Session):
    """INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, in the session's dialect."""
    return db.insert_for(s)(_t).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(_t.c.id)


def _enqueue(s: Session, *, incident_id: int | None, kind: str, slot: str, recipient: str, recipient_name: str,
             person_id: int | None, payload: dict, priority_kind: str | None = None,
             channel: str = CHANNEL) -> int | None:
    now = clock.now()
    rank = policy().severities[s.get(Incident, incident_id).severity].rank if incident_id else 5
    values = {
        "incident_id": incident_id, "kind": kind, "slot": slot, "channel": channel, "recipient": recipient[:2000],
        "recipient_name": recipient_name[:200], "person_id": person_id,
        "idempotency_key": f"{incident_id or '-'}:{kind}:{slot}:{channel}:{recipient}"[:400],
        "status": "pending", "attempts": 0, "priority": KIND_PRIORITY.get(priority_kind or kind, 50) + rank,
        "due_at": now, "next_attempt_at": now, "created_at": now, "payload": payload,
    }
    row_id = s.execute(_insert(s), values).scalar()
    if row_id is not None:
        send_after_commit(s)
    return row_id


def enqueue_card(s: Session, *, conversation_id: str, card: dict, kind: str, slot: str, view: str,
                 incident_id: int | None = None, recipient_name: str = "", data: dict | None = None,
                 service_url: str | None = None) -> int | None:
    """Post `card` into any conversation through the outbox (retried, recorded, updatable in place).

    `view` names how to draw the card again (`register_view`) when `schedule_redraw` is asked for its
    incident; `data` is kept with the posted card for that drawing. Returns the row id (None: a twin
    with the same incident, kind and slot was enqueued before).
    """
    cards_problems = cards.card_problems(card)
    if cards_problems:
        raise ValueError("; ".join(cards_problems))
    payload = {"op": "post", "view": view, "kind": kind, "incident_id": incident_id,
               "to": {"conversation": conversation_id, "service_url": service_url}, "update_id": None,
               "role": None, "data": _jsonable(data or {}), "card": card}
    return _enqueue(s, incident_id=incident_id, kind=kind, slot=slot, recipient=conversation_id,
                    recipient_name=recipient_name or "Teams conversation", person_id=None, payload=payload)


def enqueue_reply(s: Session, *, conversation_id: str, card: dict, slot: str, person: Person | None = None,
                  service_url: str | None = None, incident_id: int | None = None) -> int | None:
    """Answer a chat command in its conversation (an outbox row like every card; not updated later)."""
    payload = {"op": "post", "view": "reply", "kind": "help", "incident_id": incident_id,
               "to": {"conversation": conversation_id, "service_url": service_url}, "update_id": None,
               "role": None, "data": {}, "card": card}
    return _enqueue(s, incident_id=incident_id, kind="help", slot=slot, recipient=conversation_id,
                    recipient_name=person.name if person else "Teams chat", person_id=person.id if person else None,
                    payload=payload)


def enqueue_update(s: Session, card: TeamsCard) -> int | None:
    """Ask for `card` to be drawn again and replaced in place (the channel draws it when it sends)."""
    s.flush()
    return (_enqueue_updates(s, [card.id]) or [None])[0]


def redraw_incident(s: Session, incident_id: int) -> int:
    """Enqueue an update in place for every card posted about the incident; returns how many."""
    s.flush()
    ids = list(s.scalars(select(TeamsCard.id).where(TeamsCard.incident_id == incident_id)))
    return len(_enqueue_updates(s, ids)) if ids else 0


def _enqueue_updates(s: Session, card_ids: list[int]) -> list[int]:
    """One statement moves the cards' revisions on, one inserts their update rows (an ack stays quick)."""
    now = clock.now()
    bumped = s.execute(update(TeamsCard).where(TeamsCard.id.in_(card_ids))
                       .values(revision=TeamsCard.revision + 1, updated_at=now)
                       .returning(TeamsCard.id, TeamsCard.revision, TeamsCard.incident_id, TeamsCard.kind,
                                  TeamsCard.conversation_id)
                       .execution_options(synchronize_session=False)).all()
    if not bumped:
        return []
    ranks = {}
    for incident_id in {row.incident_id for row in bumped if row.incident_id}:
        severity = s.scalar(select(Incident.severity).where(Incident.id == incident_id))
        ranks[incident_id] = policy().severities[severity].rank if severity in policy().severities else 5
    values = []
    for row in bumped:
        slot = f"card-{row.id}-r{row.revision}"
        values.append({
            "incident_id": row.incident_id, "kind": UPDATE_KIND, "slot": slot, "channel": CHANNEL,
            "recipient": row.conversation_id, "recipient_name": f"{row.kind} card", "person_id": None,
            "idempotency_key": f"{row.incident_id or '-'}:{UPDATE_KIND}:{slot}:{CHANNEL}:{row.conversation_id}"[:400],
            "status": "pending", "attempts": 0,
            "priority": KIND_PRIORITY.get(row.kind, 50) + ranks.get(row.incident_id, 5),
            "due_at": now, "next_attempt_at": now, "created_at": now,
            "payload": {"op": "update", "card_id": row.id, "revision": row.revision, "incident_id": row.incident_id},
        })
    ids = [r for r in s.execute(_insert(s), values).scalars() if r is not None]
    for card in s.identity_map.values():  # keep loaded cards in step with the database
        if isinstance(card, TeamsCard) and card.id in card_ids:
            s.expire(card, ["revision", "updated_at"])
    if ids:
        send_after_commit(s)
    return ids


def schedule_redraw(s: Session, incident: Incident) -> None:
    """Redraw the incident's cards once, just before this transaction commits (after all its changes)."""
    if isinstance(s, scoped_session):
        s = s()
    pending = s.info.setdefault("teams_redraw", set())
    pending.add(incident.id)
    if not event.contains(s, "before_commit", _redraw_before_commit):
        event.listen(s, "before_commit", _redraw_before_commit)
        event.listen(s, "after_rollback", _forget_redraws)


def _redraw_before_commit(s: Session) -> None:
    pending = s.info.pop("teams_redraw", set())
    for incident_id in sorted(pending):
        redraw_incident(s, incident_id)


def _forget_redraws(s: Session) -> None:
    s.info.pop("teams_redraw", None)


def on_incident_event(incident: Incident, session: Session, **_) -> None:
    """Receiver for the incident signals: whatever changed, the posted cards are drawn again."""
    if config().teams_bot_configured:
        schedule_redraw(session, incident)
