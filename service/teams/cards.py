"""The bot's Adaptive Cards: drawn from Jinja templates in `templates/teams_bot/` (overridable through
HERALD_TEMPLATES like every message, escaped like every Teams card) and checked against the
Adaptive Card 1.5 rules Teams enforces before they leave.

A card is always drawn from the incident as it is now, for one viewer: `viewer_rights` asks
`incidents/permissions.py` what that person may do, so the buttons on a card and the answer to
pressing them follow one rule set. Contexts are plain data (the sandbox never sees the session).
"""
from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..ack_tokens import PAGE, InvalidAckToken, handler_for, read_token
from ..incidents import permissions
from ..incidents.models import OPEN_STATUSES, Incident
from ..notify.context import STATUS_LABELS, role_data, standard_context, update_data
from ..notify.templates import TemplateProblem, renderer
from ..people.models import Person
from ..runtime import config, policy

VERSION = "1.5"
LIMIT_BYTES = 28_000  # Teams refuses larger messages; measured on the whole activity as sent
MAX_REFRESH_USERS = 60  # Teams refreshes a card automatically for at most 60 listed users
MAX_PEOPLE_CHOICES = 100

ELEMENTS = {
    "TextBlock": ("text",), "RichTextBlock": ("inlines",), "FactSet": ("facts",), "Image": ("url",),
    "ImageSet": ("images",), "Container": ("items",), "ColumnSet": (), "Column": (), "ActionSet": ("actions",),
    "Table": (), "Input.Text": ("id",), "Input.Number": ("id",), "Input.Date": ("id",), "Input.Time": ("id",),
    "Input.Toggle": ("id", "title"), "Input.ChoiceSet": ("id", "choices"),
}
ACTIONS = {"Action.Execute": ("verb",), "Action.OpenUrl": ("url",), "Action.ShowCard": ("card",),
           "Action.ToggleVisibility": ("targetElements",), "Action.Submit": ()}


def viewer_rights(s: Session | None, incident: Incident, person: Person | None, role: str | None = None) -> dict | None:
    """What `person` may do on `incident` from a card; None for someone who holds no role (the plain view)."""
    if person is None:
        return None
    held = [slot for slot in incident.roles if slot.person_id == person.id]
    if not held:
        return None
    pending = [slot for slot in held if slot.acknowledged_at is None]
    acked = [slot.acknowledged_at for slot in held if slot.acknowledged_at is not None]
    commander = policy().commander_role
    handover = [slot.role for slot in incident.roles
                if permissions.may_hand_over(incident, person.id, slot.role, commander)]
    rights = {
        "open": incident.is_open,
        "can_ack": bool(pending) and bool(permissions.may_acknowledge(incident, person.id)),
        "acknowledged_at": max(acked) if acked and not pending else None,
        "can_update": bool(permissions.may_update(incident, person.id)),
        "can_resolve": bool(permissions.may_resolve(incident, person.id)),
        "handover_roles": [[policy().role_title(key), key] for key in handover],
        "people": [],
    }
    if handover:
        if s is not None:
            people = list(s.execute(select(Person.name, Person.handle).order_by(Person.name)
                                    .limit(MAX_PEOPLE_CHOICES)))
        else:  # drawn without a database (templates check): the incident's own people
            people = sorted({(slot.person.name, slot.person.handle) for slot in incident.roles if slot.person})
        rights["people"] = [[f"{name} ({handle})", handle] for name, handle in people]
        if not rights["people"]:
            rights["handover_roles"] = []
    return rights


def _no_rights(incident: Incident) -> dict:
    return {"open": incident.is_open, "can_ack": False, "acknowledged_at": None, "can_update": False,
            "can_resolve": False, "handover_roles": [], "people": []}


def _statuses() -> list[list[str]]:
    return [[STATUS_LABELS[key], key] for key in OPEN_STATUSES]


def _base(incident: Incident | None, recipient_name: str = "") -> dict:
    recipient = SimpleNamespace(name=recipient_name, address="", channel="teams_bot")
    return standard_context(incident, policy=policy(), base_url=config().base_url, now=clock.now(), recipient=recipient)


def render(name: str, context: dict) -> dict:
    """Render `teams_bot/<name>.json.j2` and check it; TemplateProblem when it is not a card Teams takes."""
    cfg = config()
    file = f"teams_bot/{name}.json.j2"
    try:
        card = renderer(cfg.templates_dir).json(file, context)
    except TemplateProblem:
        if not renderer(cfg.templates_dir).has_overrides:
            raise
        card = renderer(None).json(file, context)  # a broken override must not silence an incident
    problems = card_problems(card)
    if problems:
        raise TemplateProblem(f"{file}: " + "; ".join(problems))
    return card


def person_card(s: Session | None, incident: Incident, person: Person | None, *, kind: str, role: str | None,
                token: str, ack_url: str | None = None, data: dict | None = None, notice: str = "") -> dict:
    """The card in a person's chat: a page (notice, handoff, escalation, reminder) as the incident is now."""
    data = data or {}
    context = _base(incident, person.name if person else "")
    due_at = data.get("due_at")
    context.update({
        "kind": kind,
        "role": role_data(policy(), role) if role else None,
        "repeat": int(data.get("repeat") or 0),
        "previous": data.get("previous") or "",
        "escalation": data.get("escalation"),
        "question": data.get("question"),
        "due_at": datetime.fromisoformat(due_at) if isinstance(due_at, str) else due_at,
        "viewer": viewer_rights(s, incident, person, role) or _no_rights(incident),
        "receipt": receipt_state(s, data.get("receipt")),
        "token": token,
        "ack_url": ack_url,
        "statuses": _statuses(),
        "notice": notice,
    })
    return render("person", context)


def receipt_data(ack_token: str | None) -> dict | None:
    """Card data for a message whose own token is of another kind than a page (an escalation, …):
    the card then carries that kind's Acknowledge button (verb `ack`, data `{kind, token}`)."""
    if not ack_token:
        return None
    try:
        found = read_token(ack_token, max_age=None)
    except InvalidAckToken:
        return None
    return {"kind": found.kind, "token": ack_token} if found.kind != PAGE else None


def receipt_state(s: Session | None, receipt) -> dict | None:
    """The receipt's state as its domain tells it now (`AckKind.state`): drawn as a button or as who acknowledged."""
    if not isinstance(receipt, dict) or not isinstance(receipt.get("token"), str):
        return None
    handler = handler_for(str(receipt.get("kind")))
    try:
        found = read_token(receipt["token"], max_age=None)
    except InvalidAckToken:
        return None
    if handler is None:
        return None
    state = (handler.state(s, found) if s is not None else None) or {"pending": True}
    return {"kind": found.kind, "token": receipt["token"], "label": str(state.get("label") or "Acknowledge"),
            "pending": bool(state.get("pending")), "note": str(state.get("note") or "")}


def stakeholder_card(s: Session | None, incident: Incident, update, *, token: str, viewer: Person | None = None,
                     refresh_user_ids: list[str] | None = None, notice: str = "",
                     seen_at: datetime | None = None) -> dict:
    """The channel's status card of `update`; with `viewer`, that person's view (buttons for role holders).
    `seen_at`: when the viewer said Got it (their card shows it instead of the button)."""
    context = _base(incident, "Incident channel")
    # Teams refreshes the card by itself for the listed users (the role holders it knows); anyone else
    # may still refresh it by hand and gets the view the rules give them.
    refresh = {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"token": token}},
               "userIds": list(refresh_user_ids or [])[:MAX_REFRESH_USERS]}
    context.update({
        "update": update if isinstance(update, dict) else update_data(update),
        "viewer": viewer_rights(s, incident, viewer),
        "token": token,
        "statuses": _statuses(),
        "refresh": refresh,
        "notice": notice,
        "seen": {"at": seen_at} if seen_at else None,
    })
    return render("stakeholder", context)


def message_card(title: str, *lines: str, color: str = "Default", link: str | None = None) -> dict:
    """A short answer: why an action was refused, what was done, a chat command's reply."""
    context = _base(None)
    context.update({"title": title, "lines": [line for line in lines if line], "color": color, "link": link})
    return render("message", context)


# ---- the Adaptive Card rules ------------------------------------------------------------------

def card_problems(card, *, limit: int = LIMIT_BYTES) -> list[str]:
    """What makes `card` unfit for Teams as an Adaptive Card 1.5 with Universal Actions (empty when fine).

    The structural rules of the Adaptive Card schema that Teams enforces: the card's type and
    version, every element and action a known type with its required properties, unique input ids,
    `Action.Execute` with a verb (Action.Submit only as a fallback), a `refresh` that executes with
    at most 60 user ids, and the whole message under 28,000 bytes.
    """
    problems: list[str] = []
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return ["the card must be an object of type AdaptiveCard"]
    if card.get("version") != VERSION:
        problems.append(f"the card version must be {VERSION}")
    if not isinstance(card.get("body"), list) or not card["body"]:
        problems.append("the card needs a non-empty body")
    ids: list[str] = []
    _check_card(card, "card", problems, ids)
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"input id {duplicate!r} is used twice")
    refresh = card.get("refresh")
    if refresh is not None:
        action = refresh.get("action") if isinstance(refresh, dict) else None
        if not isinstance(action, dict) or action.get("type") != "Action.Execute" or not action.get("verb"):
            problems.append("refresh.action must be an Action.Execute with a verb")
        users = refresh.get("userIds", []) if isinstance(refresh, dict) else []
        if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
            problems.append("refresh.userIds must be a list of Teams user ids")
        elif len(users) > MAX_REFRESH_USERS:
            problems.append(f"refresh.userIds lists {len(users)} users; Teams takes at most {MAX_REFRESH_USERS}")
    size = len(json.dumps({"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]},
        ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > limit:
        problems.append(f"the message is {size} bytes; Teams takes at most {limit}")
    return problems


def _check_card(card: dict, where: str, problems: list[str], ids: list[str]) -> None:
    for i, element in enumerate(card.get("body") or []):
        _check_element(element, f"{where}.body[{i}]", problems, ids)
    actions = card.get("actions", [])
    if not isinstance(actions, list):
        problems.append(f"{where}.actions must be a list")
        return
    for i, action in enumerate(actions):
        _check_action(action, f"{where}.actions[{i}]", problems, ids)


def _known_type(node, where: str, types: dict, noun: str, problems: list[str]) -> str | None:
    """The node's type when it is an object of a known type; else None, and the problem noted."""
    if not isinstance(node, dict):
        problems.append(f"{where}: an {noun} must be an object")
        return None
    if node.get("type") not in types:
        problems.append(f"{where}: unknown {noun} type {node.get('type')!r}")
        return None
    return node["type"]


def _check_pairs(items, where: str, noun: str, problems: list[str]) -> None:
    """Facts and choices: objects with a string title and a string value."""
    for j, item in enumerate(items or []):
        if not (isinstance(item, dict) and isinstance(item.get("title"), str) and isinstance(item.get("value"), str)):
            problems.append(f"{where}[{j}]: a {noun} needs a title and a value (strings)")


def _check_element(element, where: str, problems: list[str], ids: list[str]) -> None:
    kind = _known_type(element, where, ELEMENTS, "element", problems)
    if kind is None:
        return
    for prop in ELEMENTS[kind]:
        if element.get(prop) in (None, "", []) and not (kind == "TextBlock" and prop == "text" and "text" in element):
            problems.append(f"{where}: {kind} needs {prop}")
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        problems.append(f"{where}: TextBlock.text must be a string")
    if kind == "FactSet":
        _check_pairs(element.get("facts"), f"{where}.facts", "fact", problems)
    if kind.startswith("Input."):
        ids.append(element.get("id"))
    if kind == "Input.ChoiceSet":
        _check_pairs(element.get("choices"), f"{where}.choices", "choice", problems)
    for key in ("items",):
        for j, child in enumerate(element.get(key) or []):
            _check_element(child, f"{where}.{key}[{j}]", problems, ids)
    for j, column in enumerate(element.get("columns") or []):
        if not isinstance(column, dict) or column.get("type", "Column") != "Column":
            problems.append(f"{where}.columns[{j}]: must be a Column")
            continue
        for k, child in enumerate(column.get("items") or []):
            _check_element(child, f"{where}.columns[{j}].items[{k}]", problems, ids)
    for j, action in enumerate(element.get("actions") or []):
        _check_action(action, f"{where}.actions[{j}]", problems, ids)


def _check_action(action, where: str, problems: list[str], ids: list[str], *, fallback: bool = False) -> None:
    kind = _known_type(action, where, ACTIONS, "action", problems)
    if kind is None:
        return
    if kind == "Action.Submit" and not fallback:
        problems.append(f"{where}: use Action.Execute (Action.Submit only as a fallback)")
    for prop in ACTIONS[kind]:
        if not action.get(prop):
            problems.append(f"{where}: {kind} needs {prop}")
    if kind == "Action.OpenUrl" and not str(action.get("url", "")).startswith(("https://", "http://")):
        problems.append(f"{where}: Action.OpenUrl needs an http(s) url")
    if kind == "Action.Execute" and "data" in action and not isinstance(action["data"], dict):
        problems.append(f"{where}: Action.Execute data must be an object (inputs are merged into it)")
    if kind == "Action.ShowCard":
        inner = action.get("card")
        if not isinstance(inner, dict) or inner.get("type") != "AdaptiveCard":
            problems.append(f"{where}: Action.ShowCard.card must be an AdaptiveCard")
        else:
            _check_card(inner, f"{where}.card", problems, ids)
    if "fallback" in action and action["fallback"] != "drop":
        _check_action(action["fallback"], f"{where}.fallback", problems, ids, fallback=True)


# ---- herald templates check ---------------------------------------------------------------------

def check_bot_templates(now: datetime) -> list[tuple[str, str | None]]:
    """[(template, None or the problem)]: every bot card drawn from sample data for each case it has.

    Needs the runtime configuration and policy (`herald templates check` sets them).
    """
    from ..notify.samples import sample_incident

    rules = policy()
    incident = sample_incident(rules, now)
    for slot in incident.roles:  # a transient incident: set the keys a flush would have set
        slot.person_id = slot.person.id if slot.person else None
    commander = incident.roles[0]
    person = commander.person
    token = "SAMPLE-TOKEN"
    cases: list[tuple[str, Callable[[], dict]]] = []
    for kind in ("page", "notice", "handoff", "escalation", "reminder", "question"):
        data = {"repeat": 1, "previous": "Person 9", "due_at": now.isoformat(),
                "question": {"sender": "cfo@example.com", "name": "Pat Finance", "text": "Are card payments affected?",
                             "about": "the 🟡 UPDATE of 10:15 UTC", "update_kind": "progress"},
                "escalation": {"name": "P1 not acknowledged", "reason": "Nobody has acknowledged this P1."}}
        cases.append((f"person.json.j2 ({kind})", lambda kind=kind, data=data: person_card(
            None, incident, person, kind=kind, role=commander.role, token=token,
            ack_url=f"{config().base_url}/ack/SAMPLE", data=data, notice="A sample notice")))
    for kind in ("initial", "progress", "resolution"):
        update = {"id": 7, "kind": kind, "status": incident.status, "status_label": STATUS_LABELS[incident.status],
                  "impact": incident.impact, "learned": "The new release breaks the order matcher",
                  "doing": "Rolling back", "root_cause": "A bad deploy" if kind == "resolution" else "",
                  "resolution": "Rolled back" if kind == "resolution" else "", "automatic": False, "posted_at": now}
        ids = [f"29:user-{i}" for i in range(MAX_REFRESH_USERS)]
        cases.append((f"stakeholder.json.j2 ({kind})", lambda update=update, ids=ids: stakeholder_card(
            None, incident, update, token=token, refresh_user_ids=ids)))
        cases.append((f"stakeholder.json.j2 ({kind}, role holder)", lambda update=update, ids=ids: stakeholder_card(
            None, incident, update, token=token, viewer=person, refresh_user_ids=ids, notice="A sample notice")))
        cases.append((f"stakeholder.json.j2 ({kind}, seen)", lambda update=update, ids=ids: stakeholder_card(
            None, incident, update, token=token, refresh_user_ids=ids, seen_at=now)))
    cases.append(("message.json.j2", lambda: message_card("A title", "A line", "Another line", link="https://x.test")))
    oncall = _base(None)
    oncall.update({"owners": [{"title": r.title, "now": "Person 1", "until": now, "next": "Person 2"}
                              for r in rules.roles.values()]})
    cases.append(("oncall.json.j2", lambda: render("oncall", oncall)))
    choose = _base(None)
    choose.update({"pending": [{"number": incident.number, "role": commander.role, "token": token}] * 2,
                   "pending_facts": [[incident.number, incident.title]] * 2})
    cases.append(("choose.json.j2", lambda: render("choose", choose)))
    results = []
    for name, draw in cases:
        try:
            draw()
        except TemplateProblem as exc:
            results.append((f"teams_bot/{name}", str(exc)))
        else:
            results.append((f"teams_bot/{name}", None))
    return results
