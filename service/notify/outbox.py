"""The dispatch interface: who receives a message, and `notify`, which renders and enqueues it.

Every message becomes a `Notification` row in the same transaction as the change that caused it;
the dispatcher delivers it after commit. Enqueueing is idempotent: the key
"<incident>:<kind>:<slot>:<channel>:<address>" exists once, so a repeated call (a retried request,
two workers ticking at once) adds nothing.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from types import SimpleNamespace
from typing import Callable, Protocol

from sqlalchemy import Integer, bindparam, select, text
from sqlalchemy.orm import Session

from .. import clock, db
from ..ack_tokens import make_ack_token, make_token
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..rotations.oncall import on_call
from ..runtime import config, policy
from .channels import sender_address
from .context import standard_context
from .dispatcher import send_after_commit
from .models import KINDS, Notification
from .templates import TemplateProblem, renderer

log = logging.getLogger("herald.notify")

# Messages that ask a person to act on an incident carry a signed acknowledgement token.
ACK_KINDS = ("page", "handoff", "help")
# Lower goes first when many messages are due at once: a page must not wait behind status emails.
KIND_PRIORITY = {"page": 10, "escalation": 20, "notice": 30, "handoff": 30, "reminder": 30, "question": 30,
                 "initial": 40, "progress": 40, "resolution": 40, "invite": 60}


@dataclass(frozen=True)
class Recipient:
    channel: str          # "teams" | "email" | "log"
    address: str          # email address, Teams webhook URL, or a label for log
    name: str = ""
    person_id: int | None = None


class PayloadBuilder(Protocol):
    """How a channel from another domain (the Teams bot) turns a message into its outbox payload."""

    def accepts(self, kind: str, incident, context: dict) -> bool: ...

    def build(self, kind: str, incident, recipient: Recipient, context: dict) -> dict: ...


# Filled by service/wiring (create_app): more ways to reach a person or the stakeholders, and the
# payload builders of the channels they use.
_person_reach: list[Callable] = []      # fn(person, channels) -> [Recipient]
_stakeholder_reach: list[Callable] = []  # fn(incident, severity) -> [Recipient]
_builders: dict[str, PayloadBuilder] = {}


def register_reach(*, person: Callable | None = None, stakeholders: Callable | None = None) -> None:
    """Add a way to reach people (`person(person, channels)`) or stakeholders (`stakeholders(incident, severity)`)."""
    for hooks, fn in ((_person_reach, person), (_stakeholder_reach, stakeholders)):
        if fn is not None and fn not in hooks:
            hooks.append(fn)


def register_payload_builder(channel: str, builder: PayloadBuilder) -> None:
    _builders[channel] = builder


def extra_stakeholders(incident, severity) -> list[Recipient]:
    return [r for fn in _stakeholder_reach for r in fn(incident, severity)]


def mail_configured(cfg=None) -> bool:
    cfg = cfg or config()
    return bool(cfg.smtp_url or cfg.graph_configured)


def _email(address: str, name: str, person_id: int | None) -> Recipient:
    """Email when a transport is configured; otherwise the `log` channel keeps what would have been sent."""
    return Recipient("email" if mail_configured() else "log", address, name, person_id)


def recipients_for_person(person, channels) -> list[Recipient]:
    """A person on each of `channels` they can receive (Teams needs their own webhook).

    A person must always be reachable, so when none of `channels` reaches them, email does.
    """
    out: list[Recipient] = []
    for channel in channels:
        if channel == "email" and person.email:
            out.append(_email(person.email, person.name, person.id))
        elif channel == "teams" and person.teams_webhook:
            out.append(Recipient("teams", person.teams_webhook, person.name, person.id))
        elif channel == "log":
            out.append(Recipient("log", person.email or person.handle, person.name, person.id))
    if not out and person.email:
        out.append(_email(person.email, person.name, person.id))
    for reach in _person_reach:  # e.g. the Teams bot: in addition to the above, never instead of it
        out.extend(reach(person, channels))
    return _unique(out)


def recipients_for_contact(session: Session, contact_key: str, channels, at: datetime) -> list[Recipient]:
    """A policy contact on `channels`: its email list, its Teams webhook, whoever owns its rotation at `at`.

    When none of `channels` reaches the contact, every way it has is used: a contact must hear.
    """
    try:
        contact = policy().contacts[contact_key]
    except KeyError:
        raise ValueError(f"unknown contact {contact_key!r}") from None

    def reach(wanted) -> list[Recipient]:
        out = []
        if "email" in wanted:
            out.extend(_email(address, contact.title, None) for address in contact.email)
        if "teams" in wanted and contact.teams_webhook:
            out.append(Recipient("teams", contact.teams_webhook, contact.title))
        if contact.rotation:
            owner = on_call(session, contact.rotation, at)
            if owner is not None and owner.person is not None:
                out.extend(recipients_for_person(owner.person, wanted))
        return out

    return _unique(reach(channels) or reach(("email", "teams")))


def _unique(recipients) -> list[Recipient]:
    seen, out = set(), []
    for r in recipients:
        if (r.channel, r.address) not in seen:
            seen.add((r.channel, r.address))
            out.append(r)
    return out


def idempotency_key(incident, kind: str, slot: str, recipient: Recipient) -> str:
    address = recipient.address
    if len(address) > 200:  # webhook URLs can be long; the key stays indexable
        address = "sha256:" + hashlib.sha256(address.encode()).hexdigest()
    incident_part = str(incident.id) if incident is not None else "-"
    return f"{incident_part}:{kind}:{slot}:{recipient.channel}:{address}"


def notify(session: Session, *, incident, kind: str, slot: str, recipients, context: dict | None = None,
           calendar: str | None = None, not_before: datetime | None = None,
           reply_token: str | None = None, token_kind: str | None = None) -> list[Notification]:
    """Render `kind` for each recipient and enqueue it; return the rows that were new.

    `slot` names the occasion (e.g. "P1", "update-7", "repeat-2"): the same incident, kind, slot,
    channel and address are enqueued once. `not_before` holds a message back (business hours).
    `calendar`, an iCalendar text, makes emails carry a text/calendar; method=REQUEST part.
    `reply_token` (a signed token of the caller's own kind, e.g. a swap request's) goes into the Reply-To
    plus address, so an email reply reaches the reply pipeline with it.
    `token_kind` (a kind registered in `ack_tokens`, e.g. "escalation") gives every row its own signed token
    of that kind, as pages have: an ack link in its text, a Reply-To plus address, a button on Teams.
    The dispatcher is woken when the transaction commits.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    recipients = _unique(recipients)
    keys = {r: idempotency_key(incident, kind, slot, r) for r in recipients}
    if not keys:
        return []
    # Repeated calls (a tick asking again) are answered here, without rendering anything. An incident opened
    # in this transaction has no messages yet: nothing to ask (a twin would still be refused by the key).
    known = set() if getattr(incident, "opened_in_transaction", False) else set(session.scalars(
        select(Notification.idempotency_key).where(Notification.idempotency_key.in_(list(keys.values())))))
    fresh = [r for r in recipients if keys[r] not in known]
    if not fresh:
        return []
    cfg = config()
    now = clock.now()
    due = max(not_before, now) if not_before else now
    base = standard_context(incident, policy=policy(), base_url=cfg.base_url, now=now, recipient=fresh[0])
    base.update(context or {})
    fresh = [r for r in fresh if r.channel not in _builders or _builders[r.channel].accepts(kind, incident, base)]
    created = []
    for recipient in fresh:
        values = {
            "incident_id": incident.id if incident is not None else None,
            "kind": kind, "slot": slot, "channel": recipient.channel, "recipient": recipient.address,
            "recipient_name": recipient.name[:200], "person_id": recipient.person_id,
            "idempotency_key": keys[recipient], "status": "pending", "attempts": 0,
            "priority": KIND_PRIORITY.get(kind, 50) + (policy().severities[incident.severity].rank if incident else 5),
            "due_at": due, "next_attempt_at": due, "created_at": now,
        }
        page = kind in ACK_KINDS and recipient.person_id is not None
        if incident is not None and (page or token_kind):
            # The token signs the row's id, so the row exists before its text does.
            row_id, values = _insert_if_new(session, {**values, "payload": {}})
            if row_id is None:
                continue
            if token_kind:
                token = make_token(token_kind, incident.id, row_id)
            else:
                token = make_ack_token(SimpleNamespace(id=row_id, incident_id=incident.id,
                                                       person_id=recipient.person_id))
            payload, message_id, problem = _render(kind, incident, recipient, base, calendar, token)
            written = {"ack_token": token, "payload": payload, "message_id": message_id, "last_error": problem}
            db.write_later(session, _WRITE_PAYLOAD, {"b_id": row_id, **written})  # with the others, before commit
        else:
            payload, message_id, problem = _render(kind, incident, recipient, base, calendar, None, reply_token)
            written = {"payload": payload, "message_id": message_id, "last_error": problem}
            row_id, values = _insert_if_new(session, {**values, **written})
            if row_id is None:
                continue
        created.append(_as_loaded(session, row_id, {**values, **written}))
    if not created:
        return []
    send_after_commit(session)
    return created


# What `notify` writes itself; every other column takes its default as an ordinary INSERT would give it.
_WRITTEN = ("incident_id", "kind", "slot", "channel", "recipient", "recipient_name", "person_id", "payload",
            "idempotency_key", "priority", "status", "attempts", "due_at", "next_attempt_at", "created_at",
            "message_id", "last_error", "ack_token")


def _plan():
    """(the INSERT … ON CONFLICT DO NOTHING RETURNING id, {column: its Python default}, {column: None}).

    The statement is text, the same on SQLite and PostgreSQL, each column bound with its type: a text statement
    is compiled once, while the dialects' INSERT constructs have no cache key, so SQLAlchemy compiled them again
    for every message. Without a target, DO NOTHING covers the table's unique constraints: the idempotency key
    (the id is never given). Columns with a Python default get it, as from an ordinary INSERT; those with a
    server default are left to the database (and read back only if asked for); the rest are NULL."""
    table = Notification.__table__
    defaults = {c.key: c.default for c in table.columns
                if c.key not in _WRITTEN and c.key != "id" and c.default is not None}
    columns = [table.c[key] for key in (*_WRITTEN, *defaults)]
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"VALUES ({', '.join(':' + c.key for c in columns)}) ON CONFLICT DO NOTHING RETURNING id")
    statement = text(sql).bindparams(*(bindparam(c.key, type_=c.type) for c in columns)).columns(id=Integer())
    nulls = {c.key: None for c in table.columns
             if c.key != "id" and c.key not in _WRITTEN and c.default is None and c.server_default is None}
    return statement, defaults, nulls


_INSERT_IF_NEW, _DEFAULTS, _NULLS = _plan()
_t = Notification.__table__
_WRITE_PAYLOAD = _t.update().where(_t.c.id == bindparam("b_id")).values(
    ack_token=bindparam("ack_token"), payload=bindparam("payload"), message_id=bindparam("message_id"),
    last_error=bindparam("last_error"))


def _insert_if_new(session: Session, values: dict) -> tuple[int | None, dict]:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: (the new id, or None when a twin exists; the values written)."""
    values = {**dict.fromkeys(_WRITTEN), **values}
    for key, default in _DEFAULTS.items():
        values[key] = default.arg(None) if default.is_callable else default.arg
    return session.execute(_INSERT_IF_NEW, values).scalar(), values


def _as_loaded(session: Session, row_id: int, values: dict) -> Notification:
    """The row just written, as if read back: every column it knows is set, so nothing is selected again."""
    return db.as_loaded(session, Notification, {**values, **_NULLS, "id": row_id})


def _render(kind: str, incident, recipient: Recipient, base: dict, calendar: str | None,
            ack_token: str | None, reply_token: str | None = None) -> tuple[dict, str | None, str | None]:
    """(payload, Message-ID for email, a note when an override failed and the default was used)."""
    cfg = config()
    ack_url = f"{cfg.base_url}/ack/{ack_token}" if ack_token else None
    context = {**base, "recipient": {"name": recipient.name, "address": recipient.address,
                                     "channel": recipient.channel},
               "ack_url": ack_url, "ack_token": ack_token,
               "ack_by_reply": bool(ack_url and cfg.reply_address and recipient.channel != "teams")}
    problem = None
    if recipient.channel in _builders:
        return _builders[recipient.channel].build(kind, incident, recipient, context), None, None
    try:
        payload = render_payload(renderer(cfg.templates_dir), kind, recipient.channel, context, incident)
    except TemplateProblem as exc:
        if not renderer(cfg.templates_dir).has_overrides:
            raise
        # A broken override must not silence an incident: send the default and say so.
        log.error("override template failed, sending the default: %s", exc)
        payload = render_payload(renderer(None), kind, recipient.channel, context, incident)
        problem = f"override template failed, the default was used: {exc}"
    if recipient.channel in ("email", "log"):
        if (ack_token or reply_token) and cfg.reply_address:
            local, _, domain = cfg.reply_address.partition("@")
            payload["reply_to"] = f"{local}+{ack_token or reply_token}@{domain}"
        if calendar:
            payload["calendar"] = calendar
    message_id = None
    if recipient.channel == "email":
        message_id = make_msgid(idstring="herald", domain=sender_address(cfg).rpartition("@")[2] or "localhost")
    return payload, message_id, problem


def render_payload(tpl, kind: str, channel: str, context: dict, incident) -> dict:
    """What a channel sends: the Teams message, or an email's subject, text and HTML."""
    if channel == "teams":
        return tpl.teams(kind, context)
    payload = tpl.email(kind, context)
    if incident is not None:
        payload["subject"] = f"[{incident.number}] {payload['subject']}"
    return payload


class NotRetryable(Exception):
    """Only a dead or failed message can be sent again (the caller answers 409)."""


def send_again(session: Session, row: Notification, *, actor: str) -> Notification:
    """Send a dead (or failed) message again now, with a fresh set of attempts; the timeline says so."""
    if row.status not in ("dead", "failed"):
        raise NotRetryable(f"notification {row.id} is {row.status}; only dead or failed ones can be retried")
    now = clock.now()
    previous = row.status
    row.status = "pending"
    row.attempts = 0
    row.due_at = now
    row.next_attempt_at = now
    row.claimed_until = None
    row.claimed_by = None
    if row.incident_id is not None:
        record(session, session.get(Incident, row.incident_id), "notification_retry",
               f"Retrying the {row.kind} to {row.recipient_name or row.recipient} by {row.channel} (was {previous})",
               actor=actor, notification=row.id)
    send_after_commit(session)
    return row
