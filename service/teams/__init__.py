"""The two-way Teams bot (CONTRACT §6): Herald pages people in Teams and they act from the card.

- `auth.py` checks the Bot Framework token of every inbound activity (PyJWT, keys from the
  published JWKS); `views.py` is the messaging endpoint `/api/teams/messages`.
- `actions.py` answers `Action.Execute` invokes through a registry of verbs (`ack`, `update`,
  `resolve`, `handover`, `refresh`); `commands.py` answers chat commands (`ack`, `oncall`, `help`).
- `connector.py` speaks the Bot Connector REST protocol (msal client credentials through
  `service/microsoft.py`); `channel.py` is the outbox channel `teams_bot` that posts cards and
  updates them in place; `outbox.py` enqueues those rows; `cards.py` draws the cards from Jinja
  templates in `templates/teams_bot/` and checks them against the Adaptive Card rules.
- `identity.py` knows people by their Entra object id; `manifest.py` builds the app package.
"""
