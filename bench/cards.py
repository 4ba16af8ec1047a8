"""Rendering every Teams card with Markdown escaping, against the same templates rendered without it.

The baseline is a plain Jinja sandbox over the same files that writes `{{ x }}` as the inside of a
JSON string (what the card environment did before outside text was escaped), parsed once, checked and
fitted under the size limit as Herald does; Herald's
card environment taints the context, wraps and escapes outside text and parses the card twice.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from _harness import best_of
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from service.config import PROJECT_ROOT
from service.notify.samples import sample_contexts
from service.notify.templates import (CARD_CONTENT_TYPE, FILES, Renderer, card_problems, fit_teams_message,
                                      in_words, when)
from service.policy import load_policy
from service.wiring import SAMPLE_CONTEXTS

NOW = datetime(2026, 3, 2, 10, 42, tzinfo=timezone.utc)
ROUNDS = 20


def _plain_json(value):
    if isinstance(value, Markup):
        return value
    return Markup("") if value is None else Markup(json.dumps(str(value), ensure_ascii=False)[1:-1])


def main() -> None:
    policy = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
    renderer = Renderer()
    cards = [(kind, ctx) for kind, channel, _, ctx, _ in sample_contexts(renderer, policy, "https://h.example", NOW,
                                                                         extra=SAMPLE_CONTEXTS) if channel == "teams"]
    plain = ImmutableSandboxedEnvironment(loader=ChoiceLoader([FileSystemLoader(str(PROJECT_ROOT / "templates"))]),
                                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                          autoescape=True, finalize=_plain_json)
    plain.filters.update(in_words=in_words, when=when)

    def herald():
        for _ in range(ROUNDS):
            for kind, ctx in cards:
                renderer.teams(kind, ctx)

    def baseline():
        for _ in range(ROUNDS):
            for kind, ctx in cards:
                card = json.loads(plain.get_template(FILES["teams"].format(kind=kind)).render(ctx))
                message = {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}
                card_problems(message)
                fit_teams_message(message)

    herald(), baseline()  # compile and cache the templates first
    escaped, unescaped = best_of(herald), best_of(baseline)
    per_card = escaped / (ROUNDS * len(cards)) * 1000
    print(f"cards: {len(cards)} card variants x {ROUNDS}: escaped {per_card:.2f} ms per card, "
          f"{escaped / unescaped:.2f}x the unescaped render of the same templates")


if __name__ == "__main__":
    main()
