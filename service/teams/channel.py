"""The outbox channel `teams_bot`: posts the bot's cards through the Bot Connector and updates them in place.

A row's payload says what to do (`op` "post" or "update"), to whom (a person, whose 1:1 chat is
opened proactively when Herald has none, or a conversation id) and which view draws the card.
Cards are drawn again when they leave, so a page that waited behind a retry never shows a button
that no longer applies; what was sent is written back into the row. After posting, the card is
recorded (`TeamsCard`) so later changes update it in place, and if the incident changed while it
was on its way, an update follows at once.

Errors: 429 and 5xx are retried (Retry-After honoured); 403/404 on a person's chat mean they
removed the bot: the chat is forgotten, the timeline says so, and the message reaches them by email.
"""
from __future__ import annotations

import logging

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .. import clock, db
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..notify.channels import Outgoing, PermanentError, Receipt, RetryableError
from ..notify.context import role_data
from ..notify.models import Notification
from ..notify.outbox import mail_configured, notify, Recipient
from ..notify.templates import TemplateProblem
from ..people.models import Person
from ..runtime import policy
from . import outbox
from .connector import ConnectorError, card_activity, connector
from .models import TeamsCard, TeamsConversation

log = logging.getLogger("herald.teams.channel")


class TeamsBotChannel:
    name = "teams_bot"

    def __init__(self, cfg):
        self.cfg = cfg

    def send(self, message: Outgoing) -> Receipt:
        payload = message.payload or {}
        try:
            client = connector(self.cfg)
            if payload.get("op") == "update":
                return self._update(client, message, payload)
            return self._post(client, message, payload)
        except ConnectorError as exc:
            if exc.gone and payload.get("op") == "post" and "person_id" in (payload.get("to") or {}):
                self._unreachable(message, payload, exc)
                raise PermanentError(f"Teams cannot reach the person: {exc}") from exc
            if exc.retryable:
                raise RetryableError(f"Bot Connector: {exc}", retry_after=exc.retry_after) from exc
            raise PermanentError(f"Bot Connector: {exc}") from exc

    def close(self) -> None:
        pass

    # ---- post ------------------------------------------------------------------------------

    def _post(self, client, message: Outgoing, payload: dict) -> Receipt:
        to = payload.get("to") or {}
        if "person_id" in to:
            conversation_id, service_url = self._personal_chat(client, to["person_id"])
        else:
            conversation_id = to["conversation"]
            service_url = to.get("service_url") or self._known_service_url(conversation_id)
        card, drawn_stamp = self._draw_for_post(payload)
        activity_id = client.send(conversation_id, card_activity(card), service_url=service_url)
        if payload.get("view") != "reply":
            self._remember(message, payload, conversation_id, service_url or client.service_url, activity_id,
                           card, drawn_stamp)
        return Receipt(activity_id)

    def _draw_for_post(self, payload: dict) -> tuple[dict, str]:
        """The card as the incident is now (the stored one for views nobody can draw again)."""
        card = payload["card"]
        with db.transaction() as s:
            incident = s.get(Incident, payload["incident_id"]) if payload.get("incident_id") else None
            drawn_stamp = outbox.stamp(incident)
            if payload.get("view") in ("person", "stakeholder"):
                sketch = TeamsCard(view=payload["view"], kind=payload.get("kind", ""),
                                   incident_id=payload.get("incident_id"),
                                   person_id=(payload.get("to") or {}).get("person_id"), role=payload.get("role"),
                                   update_id=payload.get("update_id"), data=payload.get("data") or {})
                try:
                    card = outbox.draw(s, sketch) or card
                except TemplateProblem:
                    log.exception("drawing a card again failed; sending it as enqueued")
            s.expunge_all()
        return card, drawn_stamp

    def _personal_chat(self, client, person_id: int) -> tuple[str, str]:
        """(conversation id, service URL) of the person's 1:1 chat with the bot, opened now if needed."""
        with db.transaction() as s:
            chat = s.scalar(select(TeamsConversation).where(TeamsConversation.person_id == person_id,
                                                            TeamsConversation.conversation_type == "personal")
                            .order_by(TeamsConversation.updated_at.desc()).limit(1))
            if chat is not None:
                return chat.conversation_id, chat.service_url
            person = s.get(Person, person_id)
            if person is None or not person.aad_object_id:
                raise PermanentError("the person has no Entra object id any more")
            aad, user_id = person.aad_object_id, person.teams_user_id
        conversation_id = client.create_conversation(aad_object_id=aad, user_id=user_id)
        if not user_id:
            user_id = self._teams_user_id(client, conversation_id, aad)
        now = clock.now()
        try:
            with db.transaction() as s:
                s.add(TeamsConversation(conversation_id=conversation_id, conversation_type="personal",
                                        service_url=client.service_url, person_id=person_id,
                                        tenant_id=self.cfg.teams_tenant_id, created_at=now, updated_at=now))
        except IntegrityError:
            pass  # another thread opened the same chat at the same moment: it is the same conversation
        if user_id:
            with db.transaction() as s:
                s.execute(update(Person).where(Person.id == person_id, Person.teams_user_id.is_(None))
                          .values(teams_user_id=user_id[:200]))
        return conversation_id, client.service_url

    @staticmethod
    def _teams_user_id(client, conversation_id: str, aad: str) -> str | None:
        """The person's Teams user id ("29:…"), which channel cards list for their automatic refresh."""
        try:
            return client.member(conversation_id, aad).get("id") or None
        except ConnectorError as exc:
            log.info("could not learn the Teams user id of %s: %s", aad, exc)
            return None

    @staticmethod
    def _known_service_url(conversation_id: str) -> str | None:
        with db.transaction() as s:
            return s.scalar(select(TeamsConversation.service_url)
                            .where(TeamsConversation.conversation_id == conversation_id))

    def _remember(self, message: Outgoing, payload: dict, conversation_id: str, service_url: str,
                  activity_id: str, card: dict, drawn_stamp: str) -> None:
        now = clock.now()
        with db.transaction() as s:
            row = TeamsCard(incident_id=payload.get("incident_id"), notification_id=message.id,
                            conversation_id=conversation_id, service_url=service_url, activity_id=activity_id,
                            view=payload.get("view", "person"), kind=payload.get("kind", message.kind),
                            person_id=(payload.get("to") or {}).get("person_id"), role=payload.get("role"),
                            update_id=payload.get("update_id"), data=payload.get("data") or {}, revision=0,
                            sent_revision=0, created_at=now, updated_at=now)
            s.add(row)
            s.execute(update(Notification).where(Notification.id == message.id)
                      .values(payload={**payload, "card": card}))
            s.flush()
            incident = s.get(Incident, row.incident_id) if row.incident_id else None
            if incident is not None and outbox.stamp(incident) != drawn_stamp:
                outbox.enqueue_update(s, row)  # it changed while the card was on its way

    # ---- update in place ------------------------------------------------------------------

    def _update(self, client, message: Outgoing, payload: dict) -> Receipt:
        revision = int(payload.get("revision") or 0)
        with db.transaction() as s:
            card = s.get(TeamsCard, payload.get("card_id"))
            if card is None:
                return Receipt("card-gone")
            if card.sent_revision >= revision:
                return Receipt("superseded")  # a newer drawing already reached Teams
            drawn = outbox.draw(s, card)
            where = (card.conversation_id, card.activity_id, card.service_url)
        if drawn is None:
            return Receipt("nothing-to-draw")
        conversation_id, activity_id, service_url = where
        client.update(conversation_id, activity_id, card_activity(drawn), service_url=service_url)
        with db.transaction() as s:
            s.execute(update(TeamsCard).where(TeamsCard.id == payload["card_id"], TeamsCard.sent_revision < revision)
                      .values(sent_revision=revision))
            s.execute(update(Notification).where(Notification.id == message.id)
                      .values(payload={**payload, "card": drawn}))
        return Receipt(activity_id)

    # ---- the person removed the bot --------------------------------------------------------

    def _unreachable(self, message: Outgoing, payload: dict, exc: ConnectorError) -> None:
        """Forget their chat, say so on the timeline, and make sure the message reaches them by email."""
        person_id = payload["to"]["person_id"]
        try:
            with db.transaction() as s:
                s.execute(delete(TeamsConversation).where(TeamsConversation.person_id == person_id,
                                                          TeamsConversation.conversation_type == "personal"))
                row = s.get(Notification, message.id)
                person = s.get(Person, person_id)
                incident = s.get(Incident, row.incident_id) if row is not None and row.incident_id else None
                if row is None or person is None or incident is None:
                    return
                twin = s.scalar(select(Notification.id).where(
                    Notification.incident_id == incident.id, Notification.person_id == person_id,
                    Notification.kind == row.kind, Notification.slot == row.slot,
                    Notification.channel.in_(("email", "log"))).limit(1))
                how = "the message goes to them by email"
                if twin is None:
                    how = self._email_copy(s, incident, person, row, payload) or "and they have no email address"
                record(s, incident, "teams_unreachable",
                       f"Teams could not reach {person.name} ({exc.status} {exc.code}: they removed the bot or "
                       f"left the chat); {how}", person=person.handle, notification=row.id, channel="teams_bot")
        except Exception:  # the send itself is recorded as failed by the dispatcher; never lose that
            log.exception("recording that Teams could not reach a person failed")

    @staticmethod
    def _email_copy(s, incident: Incident, person: Person, row: Notification, payload: dict) -> str | None:
        if not person.email:
            return None
        data = payload.get("data") or {}
        context = {"repeat": data.get("repeat") or 0, "previous": data.get("previous") or ""}
        if payload.get("role"):
            context["role"] = role_data(policy(), payload["role"])
        if data.get("escalation"):
            context["escalation"] = data["escalation"]
        if data.get("due_at"):
            from datetime import datetime

            due = datetime.fromisoformat(data["due_at"])
            context.update(due_at=due, due_in=max(due - clock.now(), due - due))
        channel = "email" if mail_configured() else "log"
        try:
            notify(s, incident=incident, kind=row.kind, slot=row.slot,
                   recipients=[Recipient(channel, person.email, person.name, person.id)], context=context)
        except (TemplateProblem, ValueError) as exc:
            log.error("could not write the email copy of a Teams card: %s", exc)
            return None
        return "an email copy is on its way"


def make_channel(cfg) -> TeamsBotChannel:
    return TeamsBotChannel(cfg)


def channel_key(cfg) -> tuple:
    return (cfg.teams_app_id, cfg.teams_app_password, cfg.teams_tenant_id, cfg.teams_authority,
            cfg.teams_service_url)
