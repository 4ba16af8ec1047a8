"""Who reacts to what: every signal receiver, tick job, background service, first-start step, ORM
listener, CLI group and web blueprint of Herald, in one place. `create_app` calls `wire`.

Nothing in the domains connects itself on import: a module imported here only offers functions.
Order matters and is the order written: receivers of one signal run top to bottom in one
transaction; tick jobs run top to bottom on every tick, the dispatcher last so that what the
others queued leaves in the same tick.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask
from flask_smorest import Api
from sqlalchemy import event

from . import ack_tokens, auth_views, health, processes, web_static, worker
from .acks import graph_inbox, smtp
from .acks import pages as ack_pages
from .acks import stakeholders as stakeholder_acks
from .acks import views as inbound
from .alerts import inbox as alert_inbox
from .alerts import views as alerts
from .console import admin as console_admin
from .console import signin as console_signin
from .console import views as console
from .escalation import acks as escalation_acks
from .escalation import steps as escalation_steps
from .escalation import ticks as escalation
from .escalation import views as escalations
from .incidents import events
from .incidents import views as incidents
from .notify import dispatcher, handoffs, metrics, receipts, triggers
from .notify import views as notifications
from .notify.channels import register_channel
from .notify.outbox import register_payload_builder, register_reach
from .oncall import pages as swap_pages
from .oncall import samples as oncall_samples
from .oncall import ticks as oncall
from .oncall import views as oncall_views
from .people import views as people
from .people.models import Person
from .reports import cli as report_cli
from .reports import views as reports
from .reviews import reminders, review
from .reviews import views as reviews
from .rotations import background as calendar_work
from .rotations import cli as rotation_cli
from .rotations import examples, materialise, subscriptions
from .rotations import views as rotations
from .teams import actions as card_verbs
from .teams import channel as teams_channel
from .teams import cli as teams_cli
from .teams import outbox as teams_cards
from .teams import graph_rooms, warroom
from .teams import views as teams
from .web import sessions as web_sessions
from .web import updates as stakeholder_updates
from .web import views as web

# ---- what happens when an incident changes (incidents/events.py) ------------------------------
RECEIVERS = [
    (events.incident_opened, triggers.on_opened),             # page the severity's roles, notify the others
    (events.update_posted, triggers.on_update_posted),        # stakeholder update out, cadence re-planned
    (events.incident_changed, triggers.on_changed),           # cadence re-planned; raised severity pages
    (events.incident_changed, review.on_incident_changed),    # resolved: review planned; reopened: withdrawn
    (events.role_assigned, triggers.on_role_assigned),        # a handed-over role is paged
    (events.role_assigned, review.on_role_assigned),          # ... and invited to a booked review
    (events.incident_acknowledged, teams_cards.on_incident_event),  # every Teams card about the incident is
    (events.incident_changed, teams_cards.on_incident_event),       # drawn again and updated in place, once,
    (events.update_posted, teams_cards.on_incident_event),          # just before the transaction commits
    (events.role_assigned, teams_cards.on_incident_event),
    (events.incident_opened, warroom.on_opened),              # a major incident's war room and bridge (Graph)
    (events.incident_changed, warroom.on_changed),            # renamed, moved to a chat, archived on close
    (events.role_assigned, warroom.on_role_assigned),         # a later role holder joins the breach chat
]

# ---- the tick, in order ------------------------------------------------------------------------
TICK_JOBS: worker.TickJobs = [
    ("graph-inbox", graph_inbox.poll_inbox),                  # replies from the Exchange mailbox
    ("alerts", alert_inbox.process_due_events),               # monitoring events -> incidents
    ("cadence", triggers.cadence_tick),                       # update reminders, automatic updates
    ("escalation", escalation.run_escalation),                # matrix, repeat pages, assemble check
    ("reviews.reminders", reminders.send_due_reminders),      # post-mortem and action item reminders
    ("rotations.materialise", materialise.resolve_due_rotations),
    ("rotations.handoffs", handoffs.hand_over_on_rotation),   # open incidents follow rotation handoffs
    ("rotations.refresh", subscriptions.refresh_due_subscriptions),
    ("oncall.rotations", oncall.look_after_rotations),        # heads-up, schedule changes, coverage gaps
    ("oncall.swaps", oncall.expire_swaps),                    # swap requests whose stretch began expire
    ("oncall.missing", oncall.missing_rotations),             # hourly: rotations a role names but nobody has
    ("oncall.out_of_office", oncall.out_of_office),           # hourly, with Graph: shifts against time away
    ("dispatch", dispatcher.dispatch_tick),                   # last: sends what the others queued
]

# ---- beside the web server (`herald serve`, `herald worker`): (name, start(app), stop(handle)) ----
BACKGROUND = [
    ("dispatcher", dispatcher.start, dispatcher.stop),
    ("inbound-smtp", smtp.start_listener, smtp.stop_listener),
    ("calendar work", calendar_work.start, calendar_work.stop),
]
FIRST_START = [examples.import_example_rotations]             # after the admin token, on an empty database

# ---- ORM listeners -------------------------------------------------------------------------------
ORM_LISTENERS = [(Person, name, materialise.people_changed)  # calendars are matched to people again
                 for name in ("after_insert", "after_update", "after_delete")]

# ---- the Teams bot: its outbox channel, whom it reaches, how its rows are drawn, its card verbs --------
CHANNELS = [("teams_bot", teams_channel.make_channel, teams_channel.channel_key),
            (warroom.GRAPH_CHANNEL, graph_rooms.make_channel, graph_rooms.channel_key)]  # the war room's Graph calls
CARD_VIEWS = [(warroom.VIEW, warroom.draw)]                   # the war room's live status card
PAYLOAD_BUILDERS = [("teams_bot", teams_cards.BotPayloads())]
REACH = [{"person": teams_cards.reach_person, "stakeholders": teams_cards.reach_stakeholders}]
CARD_VERBS = [  # (verb, handler, kind of card data): see service/teams/actions.py
    ("ack", card_verbs.acknowledge, "incident"),
    ("update", card_verbs.post_update, "incident"),
    ("resolve", card_verbs.resolve, "incident"),
    ("handover", card_verbs.hand_over, "incident"),
    ("refresh", card_verbs.refresh, "incident"),
    ("got_it", card_verbs.got_it, "incident"),               # a stakeholder has read an update (a receipt)
    ("ack", card_verbs.acknowledge_receipt, escalation_steps.TOKEN_KIND),  # an escalation's Acknowledge button
]

# ---- acknowledgement tokens besides pages: (kind, handler) — see service/ack_tokens.py ------------------
# Messages sent with `notify(…, token_kind=kind)` carry a token of the kind; the ack link, email replies and
# the Teams `ack` verb (CARD_VERBS above, with card_verbs.acknowledge_receipt) hand it to the handler.
ACK_KINDS = [
    (escalation_steps.TOKEN_KIND, escalation_acks.HANDLER),
    (receipts.TOKEN_KIND, stakeholder_acks.HANDLER),  # a stakeholder update's Got it
]

# ---- the domains' `herald` commands (service/cli.py adds them) and `templates check` samples ---------
CLI_COMMANDS = [rotation_cli.rotation, rotation_cli.who, report_cli.report, teams_cli.teams]
SAMPLE_CONTEXTS = {"invite": review.sample_review,
                   "reminder": [reminders.sample_postmortem_reminder, reminders.sample_action_reminder],
                   **oncall_samples.SAMPLES}

# ---- HTTP ----------------------------------------------------------------------------------------
API_BLUEPRINTS = [health.blp, auth_views.blp, people.blp, incidents.blp, notifications.blp, reviews.blp,
                  inbound.blp, escalations.blp, rotations.blp, oncall_views.blp, reports.blp, alerts.blp, alerts.pagerduty, teams.blp,
                  stakeholder_updates.blp]                    # GET …/updates with who has seen each
PAGES = [web_static.blp, web_static.docs_assets, web.status, web.board, metrics.blp, ack_pages.blp, swap_pages.blp,
         rotations.calendars, console_signin.blp, console.blp, console_admin.blp]  # the responder console
APP_SETUP = [alerts.init_app,                                 # app-bound state: ingest rate limits
             web_sessions.init_app]                           # browser sessions kept in the database


@dataclass(frozen=True)
class Wiring:
    """What one app runs: `processes` and `worker` read it from `app.extensions["herald.wiring"]`."""

    tick_jobs: worker.TickJobs = field(default_factory=lambda: list(TICK_JOBS))
    background: list = field(default_factory=lambda: list(BACKGROUND))
    first_start: list = field(default_factory=lambda: list(FIRST_START))


def wire(app: Flask, api: Api) -> None:
    for signal, receiver in RECEIVERS:
        signal.connect(receiver)  # idempotent: a second app connects nothing twice
    for target, name, listener in ORM_LISTENERS:
        if not event.contains(target, name, listener):
            event.listen(target, name, listener)
    for name, make, key in CHANNELS:
        register_channel(name, make, key)
    for name, draw in CARD_VIEWS:
        teams_cards.register_view(name, draw)
    for channel, builder in PAYLOAD_BUILDERS:
        register_payload_builder(channel, builder)
    for reach in REACH:
        register_reach(**reach)
    for kind, handler in ACK_KINDS:
        ack_tokens.register_token_kind(kind, handler)
    for verb, handler, kind in CARD_VERBS:
        card_verbs.register_verb(verb, handler, kind=kind)
    for blueprint in API_BLUEPRINTS:
        api.register_blueprint(blueprint)
    for setup in APP_SETUP:
        setup(app)
    for page in PAGES:
        app.register_blueprint(page)
    app.extensions[processes.WIRING] = Wiring()


def run_tick(now: datetime | None = None) -> dict[str, str]:
    """One tick of every job, now (tests and one-off commands; the ticker runs the same list)."""
    return worker.run_tick(TICK_JOBS, now)
