"""How an escalation is acknowledged from outside: the ack link, an email reply, the Teams card.

`HANDLER` answers tokens of kind "escalation" (`ack_tokens.AckKind`, wired in service/wiring.py):
the ack link and the reply pipeline (service/acks/) and the bot's `ack` verb hand them here. Every
path ends in `steps.acknowledge`. Whom a token may speak for: the link and the card, the recipient
its message went to; a reply, only an address the step was sent to (or an address of a person it
reached), with the page replies' rules for threading and auto-replies.
"""
from __future__ import annotations

from sqlalchemy import select

from .. import clock
from ..ack_tokens import AckPage, AckToken, ReplyOutcome
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..people.models import Person
from ..runtime import policy
from . import steps
from .models import EscalationRecipient, EscalationStep

SNIPPET = 200
INVALID = ("This link is not valid", "The acknowledgement link is damaged, has expired or is for another "
           "incident. Reply \u201cack\u201d to the escalation email, or ask the Incident Commander.")
GONE = ("Escalation not found", "The escalation this link was for no longer exists.")


def _find(s, token: AckToken) -> tuple[Incident, EscalationRecipient] | AckPage:
    """The incident and the recipient the token was made for; a 403/404 page when it cannot speak for them."""
    recipient = steps.recipient_of(s, token.notification_id)
    incident = s.get(Incident, token.incident_id)
    if recipient is None or incident is None:
        return AckPage(404, "ack/problem.html", {"title": GONE[0], "message": GONE[1]})
    if recipient.step.incident_id != incident.id:  # signed for one incident, naming another's message
        return AckPage(403, "ack/problem.html", {"title": INVALID[0], "message": INVALID[1]})
    return incident, recipient


def _facts(s, incident: Incident, recipient: EscalationRecipient) -> dict:
    step = recipient.step
    severity = policy().severities.get(incident.severity)
    by = _by_name(s, step)
    return {"incident": incident, "severity_name": severity.name if severity else incident.severity,
            "step": step, "step_words": steps.describe(step), "recipient": recipient,
            "contacts": [_title(key) for key in step.contacts or []], "acknowledged_by_name": by,
            "via_words": steps.via_words(step.acknowledged_via)}


def _title(key: str) -> str:
    contact = policy().contacts.get(key)
    return contact.title if contact else policy().role_title(key)


def _by_name(s, step: EscalationStep) -> str | None:
    if not step.acknowledged_by:
        return None
    person = s.scalar(select(Person).where(Person.handle == step.acknowledged_by)) \
        if "@" not in step.acknowledged_by else None
    return person.name if person is not None else step.acknowledged_by


def _via_link(recipient: EscalationRecipient) -> str:
    """The link of a Teams card (webhook cards open it) counts as "teams"; any other as "link"."""
    return "teams" if recipient.channel in ("teams", "teams_bot") else "link"


class EscalationAcks:
    """`ack_tokens.AckKind` for escalations."""

    def show(self, s, token: AckToken) -> AckPage:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return found
        incident, recipient = found
        return AckPage(200, "ack/escalation.html", _facts(s, incident, recipient))

    def acknowledge(self, s, token: AckToken) -> AckPage:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return found
        incident, recipient = found
        newly = steps.acknowledge(s, recipient, via=_via_link(recipient), now=clock.now())
        return AckPage(200, "ack/escalation_done.html", {**_facts(s, incident, recipient), "newly": newly})

    def card_acknowledge(self, s, token: AckToken, person) -> tuple[str, str]:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return "refused", found.context["message"]
        _incident, recipient = found
        if recipient.person_id != person.id:
            return "refused", "This escalation was sent to someone else; only they can acknowledge it here."
        newly = steps.acknowledge(s, recipient, via="teams", now=clock.now(), actor=f"teams:{person.handle}")
        return ("acknowledged" if newly else "already_acknowledged"), ""

    def state(self, s, token: AckToken) -> dict | None:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return None
        _incident, recipient = found
        step = recipient.step
        note = ""
        if recipient.acknowledged_at is not None:
            note = f"✅ You acknowledged this escalation at {recipient.acknowledged_at:%Y-%m-%d %H:%M} UTC."
        elif step.acknowledged_at is not None:
            note = (f"✅ Acknowledged by {_by_name(s, step)} {steps.via_words(step.acknowledged_via)} "
                    f"at {step.acknowledged_at:%Y-%m-%d %H:%M} UTC.")
        return {"label": "Acknowledge escalation", "pending": recipient.acknowledged_at is None, "note": note}

    def reply(self, s, reply, token: AckToken, how: str) -> ReplyOutcome:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return ReplyOutcome("unmatched", found.context["message"])
        incident, recipient = found
        step = recipient.step
        sender = reply.sender or ""
        acting = _recipient_for(s, step, sender)
        base = {"incident_id": incident.id, "notification_id": token.notification_id,
                "person_id": acting.person_id if acting else None}
        label = f"escalation {step.rule!r} ({steps.describe(step)})"
        if reply.automatic:
            if acting is not None:
                record(s, incident, "auto_reply", f"Automatic reply from {sender} to {label} ({reply.automatic}), "
                       f"not an acknowledgement: {_snippet(reply.text)}", actor=f"email:{sender}")
            return ReplyOutcome("automatic", reply.automatic, **base)
        if acting is None:
            verb = "acknowledgement" if reply.acknowledges else "reply"
            record(s, incident, "ack_rejected", f"Rejected {verb} of {label} from {sender or 'an unknown sender'}: "
                   "the escalation was not sent to that address", actor=f"email:{sender}", sender=sender,
                   matched_by=how, rule=step.rule, step=step.step)
            return ReplyOutcome("rejected_sender", f"{sender or 'the sender'} is not an address {label} went to",
                                **base)
        if not reply.acknowledges:
            record(s, incident, "reply", f"Reply from {sender} to {label} (not an acknowledgement): "
                   f"{_snippet(reply.text)}", actor=f"email:{sender}")
            return ReplyOutcome("not_a_command",
                                f"first word {reply.first_word!r}" if reply.first_word else "no text above the quote",
                                **base)
        newly = steps.acknowledge(s, acting, via="email", now=clock.now(), address=sender, actor=f"email:{sender}")
        return ReplyOutcome("acknowledged" if newly else "already_acknowledged",
                            label if newly else "acknowledged before", **base)


def _recipient_for(s, step: EscalationStep, sender: str) -> EscalationRecipient | None:
    """The step's recipient `sender` writes as: the one whose email went to that address, else one that
    reached a person who writes from it; None when the step never went to that address."""
    if not sender:
        return None
    for recipient in step.recipients:
        if recipient.channel in ("email", "log") and recipient.address.lower() == sender:
            return recipient
    for recipient in step.recipients:
        person = s.get(Person, recipient.person_id) if recipient.person_id else None
        if person is not None and sender in person.addresses():
            return recipient
    return None


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(no text above the quoted message)"
    return flat if len(flat) <= SNIPPET else flat[:SNIPPET - 1] + "…"


HANDLER = EscalationAcks()
