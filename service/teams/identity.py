"""Who is writing: people are known to the bot by their Entra object id (`from.aadObjectId`).

An admin may set it (`PATCH /api/people/<handle>` `aad_object_id`); otherwise, the first time an
unknown sender writes to the bot, Herald asks the Bot Connector who they are (`GET …/members/{id}`)
and matches the answer's `email` / `userPrincipalName` to a person's email or aliases. The Teams
user id ("29:…") and the conversation's service URL are remembered from every activity.
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import clock
from ..people.models import Person
from .connector import ConnectorError, connector
from .models import TeamsConversation

log = logging.getLogger("herald.teams.identity")


def _by_address(s: Session, addresses: set[str]) -> Person | None:
    addresses = {a.lower() for a in addresses if a and "@" in a}
    if not addresses:
        return None
    found = s.scalar(select(Person).where(func.lower(Person.email).in_(addresses)).limit(1))
    if found is not None:
        return found
    for person in s.scalars(select(Person).where(Person.aliases.is_not(None))):
        if person.addresses() & addresses:
            return person
    return None


def _from(activity: dict) -> tuple[str | None, str | None]:
    frm = activity.get("from") if isinstance(activity.get("from"), dict) else {}
    aad = str(frm.get("aadObjectId") or "").lower() or None
    user_id = frm.get("id") if isinstance(frm.get("id"), str) else None
    return aad, user_id


def known(s: Session, activity: dict) -> Person | None:
    """The sender, when Herald already knows their Entra object id (from the session when looked up before)."""
    aad, _ = _from(activity)
    if not aad:
        return None
    for obj in s.identity_map.values():
        if isinstance(obj, Person) and obj.aad_object_id == aad:
            return obj
    return s.scalar(select(Person).where(Person.aad_object_id == aad))


def fetch_member(activity: dict, cfg) -> dict | None:
    """Ask the Bot Connector who sent `activity` (call it outside any transaction: it is an HTTP round trip)."""
    _, user_id = _from(activity)
    conversation = (activity.get("conversation") or {}).get("id")
    if not user_id or not isinstance(conversation, str):
        return None
    try:
        return connector(cfg).member(conversation, user_id, service_url=activity.get("serviceUrl"))
    except ConnectorError as exc:
        log.warning("could not look up Teams member %s: %s", user_id, exc)
        return None


def sender(s: Session, activity: dict, member: dict | None = None) -> Person | None:
    """The person behind `activity.from`; with the Bot Connector's `member` answer, learn who an unknown one is."""
    aad, user_id = _from(activity)
    person = known(s, activity)
    if person is None and member:
        person = _learn(s, member, aad, user_id)
    if person is not None and user_id and person.teams_user_id != user_id:
        person.teams_user_id = user_id[:200]
    return person


def _learn(s: Session, member: dict, aad: str | None, user_id: str | None) -> Person | None:
    member_aad = str(member.get("aadObjectId") or "").lower() or None
    if aad and member_aad and member_aad != aad:
        log.warning("Teams member lookup answered another object id (%s, not %s)", member_aad, aad)
        return None
    object_id = member_aad or aad
    person = _by_address(s, {member.get("email") or "", member.get("userPrincipalName") or ""})
    if person is None or not object_id:
        return None
    if person.aad_object_id and person.aad_object_id != object_id:
        log.warning("%s already has another Entra object id; not matching Teams user %s", person.handle, user_id)
        return None
    if s.scalar(select(Person.id).where(Person.aad_object_id == object_id, Person.id != person.id)):
        return None
    person.aad_object_id = object_id
    log.info("learned the Entra object id of %s from Teams", person.handle)
    return person


def remember_conversation(s: Session, activity: dict, person: Person | None) -> TeamsConversation | None:
    """Store (or refresh) the conversation and its service URL: an inbound activity's own serviceUrl wins."""
    conversation = activity.get("conversation") if isinstance(activity.get("conversation"), dict) else {}
    conversation_id, service_url = conversation.get("id"), activity.get("serviceUrl")
    if not isinstance(conversation_id, str) or not conversation_id or not isinstance(service_url, str):
        return None
    kind = str(conversation.get("conversationType") or "personal")[:16]
    tenant = conversation.get("tenantId") or ((activity.get("channelData") or {}).get("tenant") or {}).get("id")
    now = clock.now()
    row = s.scalar(select(TeamsConversation).where(TeamsConversation.conversation_id == conversation_id[:500]))
    if row is None:
        row = TeamsConversation(conversation_id=conversation_id[:500], created_at=now, updated_at=now)
        s.add(row)
    wanted = {"conversation_type": kind, "service_url": service_url[:500], "tenant_id": tenant}
    if kind == "personal" and person is not None:
        wanted["person_id"] = person.id
    changed = {key: value for key, value in wanted.items() if getattr(row, key) != value}
    if changed:  # most activities change nothing here: keep them read-only
        for key, value in changed.items():
            setattr(row, key, value)
        row.updated_at = now
    return row
