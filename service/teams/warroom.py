"""The incident war room: a Teams channel (or, when a data breach is suspected, a private group chat of
the role holders) per major incident, a meeting bridge, and a live status card the bot keeps current.

Nothing here calls Graph inside the incident's transaction: opening, closing and following an
incident only enqueue rows of the outbox channel `teams_graph` (service/teams/graph_rooms.py), which
create the room and the bridge, archive the channel, and are retried on 429/5xx like every message.
A page never waits for a room.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..incidents.models import Incident
from ..notify.markdown import escape_markdown
from ..runtime import config, policy
from . import outbox
from .models import TeamsCard, WarRoom
from .tokens import make_card_token

GRAPH_CHANNEL = "teams_graph"
VIEW = "war_room"
NAME_LIMIT = 50  # Teams: a channel name has at most 50 characters
_FORBIDDEN = re.compile(r'[~#%&*{}+/\\:<>?|\'"]|\.\.|^_|\.$')


def graph_ready(cfg) -> bool:
    """Graph app credentials (the same app registration as Graph mail) are set."""
    return bool(cfg.graph_tenant_id and cfg.graph_client_id and cfg.graph_client_secret)


def room_kind(incident: Incident) -> str | None:
    """"chat" for a suspected data breach, "channel" otherwise; None when the incident gets no room."""
    cfg = config()
    if not graph_ready(cfg) or incident.severity not in policy().war_room_severities:
        return None
    if incident.data_breach_suspected:
        return "chat"
    return "channel" if cfg.teams_team_id else None


def channel_name(incident: Incident, attempt: int = 0) -> str:
    """`INC-12 P1 Orders are failing` within Teams' rules: no ~#%&*{}+/\\:<>?|'" nor "..", no leading
    underscore or trailing dot, at most 50 characters; `attempt` > 0 adds " (n)" for a taken name."""
    title = re.sub(r"\s+", " ", _FORBIDDEN.sub(" ", incident.title)).strip(" ._")
    suffix = f" ({attempt + 1})" if attempt else ""
    name = f"{incident.number} {incident.severity} {title}".strip()
    name = name[:NAME_LIMIT - len(suffix)].rstrip(" .") + suffix
    return _FORBIDDEN.sub("-", name) if _FORBIDDEN.search(name) else name


def role_holder_ids(incident: Incident) -> list[str]:
    """Entra object ids of the incident's role holders (the members of a breach chat), each once."""
    ids: list[str] = []
    for slot in incident.roles:
        person = slot.person
        if person is not None and person.aad_object_id and person.aad_object_id.lower() not in ids:
            ids.append(person.aad_object_id.lower())
    return ids


def _enqueue(s: Session, incident: Incident, kind: str, slot: str, payload: dict, name: str) -> int | None:
    return outbox._enqueue(s, incident_id=incident.id, kind=kind, slot=slot, recipient=name, recipient_name=name,
                           person_id=None, payload={**payload, "incident_id": incident.id}, priority_kind="notice",
                           channel=GRAPH_CHANNEL)


def room_of(s: Session, incident_id: int) -> WarRoom | None:
    return s.scalar(select(WarRoom).where(WarRoom.incident_id == incident_id))


def _session(session) -> Session:
    return session() if callable(session) and not isinstance(session, Session) else session


def on_opened(incident: Incident, session: Session, **_) -> None:
    """A major incident opened: its room and its bridge are asked of Graph (two outbox rows)."""
    _open_room(_session(session), incident)


def _open_room(s: Session, incident: Incident) -> None:
    kind = room_kind(incident)
    if kind is None or room_of(s, incident.id) is not None:
        return
    s.flush()
    now = clock.now()
    room = WarRoom(incident_id=incident.id, kind=kind, team_id=config().teams_team_id if kind == "channel" else None,
                   name=channel_name(incident) if kind == "channel" else f"{incident.number} (private)",
                   member_ids=[], created_at=now, updated_at=now)
    s.add(room)
    s.flush()
    op = "create_channel" if kind == "channel" else "create_chat"
    _enqueue(s, incident, "room", "create", {"op": op}, f"Teams {kind}: {room.name}")
    if config().teams_meeting_organizer:
        _enqueue(s, incident, "bridge", "create", {"op": "create_meeting"},
                 f"Teams meeting for {incident.number}")


def on_changed(incident: Incident, session: Session, changes: dict | None = None, **_) -> None:
    """Follow the incident: raised to a room severity -> a room; breach suspected later -> the
    conversation moves to a private chat; new title or severity -> the channel is renamed; closed ->
    the channel is archived, a chat gets its closing card (the post-mortem link)."""
    changes = changes or {}
    s = _session(session)
    room = room_of(s, incident.id)
    if room is None:
        if "severity" in changes or "data_breach_suspected" in changes:
            _open_room(s, incident)
        return
    if "data_breach_suspected" in changes and incident.data_breach_suspected and room.kind == "channel":
        _move_to_chat(s, incident, room)
    elif room.kind == "channel" and ("title" in changes or "severity" in changes) and not room.archived_at:
        name = channel_name(incident)
        if name != room.name:
            _enqueue(s, incident, "room_rename", f"rename:{name}", {"op": "rename_channel"},
                     f"Teams channel: {room.name}")
    if "status" not in changes or changes["status"][1] != "closed":
        return
    if room.kind == "channel":
        _enqueue(s, incident, "room_archive", "close", {"op": "archive_channel"}, f"Teams channel: {room.name}")
    else:
        _enqueue(s, incident, "room_archive", "close", {"op": "closing_card"}, f"Teams chat: {room.name}")


def _move_to_chat(s: Session, incident: Incident, room: WarRoom) -> None:
    """The channel is no place for a suspected breach: a private chat takes over; the channel's card
    says only that the incident continues elsewhere (`draw` for a card outside the room)."""
    from ..incidents.timeline import record

    room.kind, room.conversation_id, room.web_url, room.team_id = "chat", None, None, None
    room.name, room.member_ids, room.updated_at = f"{incident.number} (private)", [], clock.now()
    incident.links = {k: v for k, v in (incident.links or {}).items() if k != "war_room"}
    record(s, incident, "war_room", "A data breach is suspected: the war room moves from the channel to a private "
                                    "chat of the role holders.")
    _enqueue(s, incident, "room", "move", {"op": "create_chat"}, f"Teams chat: {room.name}")


def on_role_assigned(incident: Incident, session: Session, person=None, **_) -> None:
    """A role holder who joins later is added to the private chat."""
    s = _session(session)
    room = room_of(s, incident.id)
    aad = (person.aad_object_id or "").lower() if person is not None else ""
    if room is None or room.kind != "chat" or not aad or aad in (room.member_ids or []):
        return
    _enqueue(s, incident, "room_member", f"member:{aad}", {"op": "add_member", "member": aad},
             f"Teams chat: {room.name}")


def links(room: WarRoom) -> dict:
    """What the incident's `links` say about its room (the bridge only once Graph made it)."""
    found = {}
    if room.web_url:
        found["war_room"] = room.web_url
    if room.bridge_url:
        found["bridge"] = room.bridge_url
    return found


# ---- the live status card -----------------------------------------------------------------

def room_card(s: Session, incident: Incident, room: WarRoom | None, token: str = "") -> dict:
    """Severity, status, roles and who acknowledged, next update due, escalations, the bridge; the role
    holders' Acknowledge button (the bot's `ack` verb, which refuses anyone else). Text from outside
    (titles, names, escalation notes) is Markdown-escaped: Teams renders Markdown in these fields."""
    md = escape_markdown
    sev = policy().severities.get(incident.severity)
    facts = [{"title": "Severity", "value": md(f"{incident.severity} {sev.name if sev else ''}".strip())},
             {"title": "Status", "value": incident.status}]
    for slot in sorted(incident.roles, key=lambda r: r.role):
        title = policy().roles[slot.role].title if slot.role in policy().roles else slot.role
        who = slot.person.name if slot.person else "unassigned"
        ack = " (acknowledged)" if slot.acknowledged_at else " (not acknowledged)" if slot.person else ""
        facts.append({"title": md(title), "value": md(who) + ack})
    if incident.next_update_due_at and incident.status not in ("resolved", "closed"):
        facts.append({"title": "Next update due", "value": incident.next_update_due_at.strftime("%Y-%m-%d %H:%M UTC")})
    escalations = _escalations_fired(s, incident)
    if escalations:
        facts.append({"title": "Escalations", "value": md("; ".join(escalations)[:500])})
    if room is not None and room.bridge_url:
        facts.append({"title": "Bridge", "value": f"[Join the call]({room.bridge_url})"})
    elif room is not None and room.bridge_problem:
        facts.append({"title": "Bridge", "value": "none: " + md(room.bridge_problem)})
    body = [{"type": "TextBlock", "text": md(f"{incident.number}: {incident.title}"), "weight": "Bolder", "size": "Medium",
             "wrap": True},
            {"type": "FactSet", "facts": facts}]
    if incident.status == "closed":
        body.append({"type": "TextBlock", "text": "This incident is closed.", "wrap": True})
    actions = []
    if token and incident.status not in ("resolved", "closed") and any(
            r.person is not None and not r.acknowledged_at for r in incident.roles):
        actions.append({"type": "Action.Execute", "title": "Acknowledge", "verb": "ack",
                        "data": {"token": token, "role": ""}, "style": "positive"})
    if room is not None and room.bridge_url and incident.status != "closed":
        actions.append({"type": "Action.OpenUrl", "title": "Join the bridge", "url": room.bridge_url})
    base = config().base_url.rstrip("/")
    actions.append({"type": "Action.OpenUrl", "title": "Open the incident", "url": f"{base}/console/incidents/{incident.id}"})
    if incident.status == "closed":
        actions.append({"type": "Action.OpenUrl", "title": "Post-mortem",
                        "url": f"{base}/console/incidents/{incident.id}/postmortem"})
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": "1.5",
            "body": body, "actions": actions}


def moved_card(incident: Incident) -> dict:
    """What a channel the incident left shows: nothing but that it continues elsewhere."""
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": "1.5",
            "body": [{"type": "TextBlock", "wrap": True,
                      "text": f"{escape_markdown(incident.number)}: this incident continues elsewhere."}]}


def _escalations_fired(s: Session, incident: Incident) -> list[str]:
    from ..incidents.models import TimelineEntry

    rows = s.scalars(select(TimelineEntry.text).where(TimelineEntry.incident_id == incident.id,
                                                      TimelineEntry.kind.in_(("escalated", "not_assembled",
                                                                              "escalation")))
                     .order_by(TimelineEntry.id).limit(5))
    return list(rows)


def draw(s: Session, card: TeamsCard) -> dict | None:
    """The registered drawing of the room card (outbox.register_view)."""
    incident = s.get(Incident, card.incident_id) if card.incident_id else None
    if incident is None:
        return None
    room = room_of(s, incident.id)
    if room is None or card.conversation_id != room.conversation_id:
        return moved_card(incident)
    return room_card(s, incident, room_of(s, incident.id), (card.data or {}).get("token", ""))


def post_card(s: Session, incident: Incident, room: WarRoom) -> int | None:
    """The bot posts the live status card into the room (once; then it is updated in place)."""
    token = make_card_token(incident.id)
    return outbox.enqueue_card(s, conversation_id=room.conversation_id, card=room_card(s, incident, room, token),
                               kind="room_card", slot="room", view=VIEW, incident_id=incident.id,
                               recipient_name=f"War room {room.name}", data={"token": token})
