"""Templates render in a sandbox: strict variables, escaped HTML, JSON that a title cannot break."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from service.cli import main
from service.config import PROJECT_ROOT
from service.notify.context import standard_context
from service.notify.outbox import Recipient, render_payload
from service.notify.samples import _builtin_samples, sample_incident
from service.notify.templates import (
    TEAMS_LIMIT_BYTES, Renderer, TemplateProblem, card_problems, fit_teams_message, in_words, message_size, when,
)
from service.notify.markdown import escape_markdown
from service.policy import load_policy

NOW = datetime(2026, 3, 2, 10, 42, tzinfo=timezone.utc)
POLICY = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
EMAIL = Recipient("email", "alice@example.com", "Alice", 1)
TEAMS = Recipient("teams", "https://example.invalid/hook", "Alice", 1)


def context(kind, incident=None, recipient=EMAIL, **extra):
    incident = incident or sample_incident(POLICY, NOW)
    ctx = standard_context(incident, policy=POLICY, base_url="https://herald.example.com", now=NOW,
                           recipient=recipient, ack_url="https://herald.example.com/ack/TOKEN",
                           ack_by_reply=recipient.channel == "email")
    ctx.update(_builtin_samples(NOW)[kind](incident, POLICY))
    ctx.update(extra)
    return incident, ctx


def render(kind, channel="email", renderer=None, **extra):
    recipient = EMAIL if channel == "email" else TEAMS
    incident, ctx = context(kind, recipient=recipient, **extra)
    return render_payload(renderer or Renderer(), kind, channel, ctx, incident)


def test_the_guides_initial_update():
    email = render("initial")
    assert email["subject"] == '[INC-20260302-1] 🔴 INCIDENT: Orders are failing <for "some" users> & more'
    lines = email["text"].splitlines()
    assert lines[0] == '🔴 INCIDENT: Orders are failing <for "some" users> & more'
    assert "Status: Identified" in lines
    assert "Impact: Nobody can place orders" in lines
    assert "Started: Mon 2 Mar 2026 10:00 UTC" in lines
    assert "We are aware of the issue and actively investigating." in lines
    assert "Updates will be posted every 15 minutes." in lines


def test_the_guides_progress_update():
    text = render("progress")["text"]
    assert text.startswith("🟡 UPDATE: ")
    for line in ("Status: Identified", "Impact: Nobody can place orders", "Duration: 42 minutes",
                 "What we've learned: The new release breaks the order matcher",
                 "What we're doing: Rolling back to yesterday's release", "Next update in 15 minutes."):
        assert line in text.splitlines()


def test_an_automatic_progress_update_says_there_is_nothing_new():
    update = {"id": 1, "kind": "progress", "status": "investigating", "status_label": "Investigating",
              "impact": "", "learned": "", "doing": "", "root_cause": "", "resolution": "", "automatic": True,
              "posted_at": NOW}
    text = render("progress", update=update)["text"]
    assert "nothing new to report" in text
    assert "Impact: Being assessed" in text


def test_the_guides_resolution_update():
    text = render("resolution")["text"]
    assert text.startswith("🟢 RESOLVED: ")
    for line in ("Status: Resolved", "Duration: 42 minutes", "Root cause: A bad deploy", "Resolution: Rolled back",
                 "A full post-mortem will be conducted."):
        assert line in text.splitlines()


def test_a_page_says_what_to_do_and_how_to_acknowledge():
    email = render("page", repeat=0)
    assert email["subject"].startswith("[INC-20260302-1] 🚨 PAGE P1: ")
    text = email["text"]
    assert "You are paged as Incident Commander for INC-20260302-1" in text
    assert '1. Acknowledge within 5 minutes: reply "ack" to this email, or open https://herald.example.com/ack/TOKEN' \
        in text
    assert "Join the incident channel: #incident-20260302" in text
    assert "not acknowledged yet" not in text
    assert "(page 2: not acknowledged yet)" in render("page", repeat=1)["text"]
    assert 'href="https://herald.example.com/ack/TOKEN"' in email["html"]


def test_teams_page_has_open_url_buttons_only():
    message = render("page", channel="teams")
    assert message["type"] == "message"
    attachment = message["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert [(a["type"], a["title"], a["url"]) for a in card["actions"]] == [
        ("Action.OpenUrl", "Acknowledge", "https://herald.example.com/ack/TOKEN"),
        ("Action.OpenUrl", "Open incident", "https://herald.example.com/console/incidents/INC-20260302-1"),
    ]
    team = [fs for fs in card["body"] if fs["type"] == "FactSet"][-1]["facts"]
    assert {"title": "Incident Commander", "value": "Person 1 (acknowledged)"} in team


@pytest.mark.parametrize("kind", ["initial", "progress", "resolution", "page", "notice", "reminder", "escalation",
                                  "handoff"])
def test_every_kind_renders_on_both_channels(kind):
    email = render(kind)
    assert email["subject"].startswith("[INC-20260302-1] ")
    assert email["text"].strip() and email["html"].lstrip().startswith("<!DOCTYPE html>")
    assert card_problems(render(kind, channel="teams")) == []


def test_hostile_text_cannot_break_the_card_or_the_html():
    incident = sample_incident(POLICY, NOW)
    incident.title = 'Quote " backslash \\ newline \n brace } <script>alert(1)</script> {{ 7*7 }}'
    _, ctx = context("initial", incident=incident, recipient=TEAMS)
    card = render_payload(Renderer(), "initial", "teams", ctx, incident)["attachments"][0]["content"]
    # JSON intact, no evaluation, and the title is Markdown-escaped text (Teams renders Markdown)
    assert card["body"][0]["text"] == "🔴 INCIDENT: " + escape_markdown(incident.title)
    _, ctx = context("initial", incident=incident)
    email = render_payload(Renderer(), "initial", "email", ctx, incident)
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]
    assert "<script>alert(1)</script>" in email["text"]  # plain text is not HTML-escaped
    assert "\n" not in email["subject"]  # a newline in a title cannot inject a header


def test_undefined_variables_are_errors(tmp_path):
    (tmp_path / "initial.email.txt.j2").write_text("Subject: {{ incident.titel }}\n\nbody\n")
    with pytest.raises(TemplateProblem, match="initial.email.txt.j2"):
        render("initial", renderer=Renderer(tmp_path))


def test_the_sandbox_refuses_unsafe_attribute_access(tmp_path):
    (tmp_path / "initial.email.txt.j2").write_text("Subject: {{ incident.__class__.__mro__ }}\n\nx\n")
    with pytest.raises(TemplateProblem):
        render("initial", renderer=Renderer(tmp_path))


def test_overrides_win_file_by_file(tmp_path):
    (tmp_path / "initial.email.txt.j2").write_text("Subject: Heads up: {{ incident.title }}\n\nOur words.\n")
    renderer = Renderer(tmp_path)
    email = render("initial", renderer=renderer)
    assert email["subject"] == '[INC-20260302-1] Heads up: Orders are failing <for "some" users> & more'
    assert email["text"] == "Our words.\n"
    assert "We are aware of the issue" in email["html"]  # not overridden: the default
    assert renderer.has_overrides


def test_a_card_with_a_submit_button_is_refused(tmp_path):
    (tmp_path / "initial.teams.json.j2").write_text(json.dumps({
        "type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "x"}],
        "actions": [{"type": "Action.Submit", "title": "Ack"}]}))
    with pytest.raises(TemplateProblem, match="Action.Submit"):
        render("initial", channel="teams", renderer=Renderer(tmp_path))


def test_an_oversized_card_is_shortened_below_the_teams_limit():
    incident = sample_incident(POLICY, NOW)
    incident.impact = "x" * 40000
    incident.title = "*_[" * 3000  # escaping adds a backslash to each: measured after it, as Teams counts
    _, ctx = context("initial", incident=incident, recipient=TEAMS)
    ctx["update"]["impact"] = "y" * 40000
    message = render_payload(Renderer(), "initial", "teams", ctx, incident)
    assert message_size(message) <= TEAMS_LIMIT_BYTES == 28_000  # Teams counts decimal kilobytes
    impact = message["attachments"][0]["content"]["body"][1]["facts"][1]["value"]
    assert impact.startswith("yyy") and impact.endswith("(shortened; the full text is in Herald)")


def test_fit_leaves_small_messages_alone():
    message = {"type": "message", "attachments": [{"content": {"body": [{"text": "short"}]}}]}
    assert fit_teams_message(message) == message


def test_durations_and_times_in_words():
    assert in_words(timedelta(minutes=15)) == "15 minutes"
    assert in_words(timedelta(hours=1, minutes=1)) == "1 hour 1 minute"
    assert in_words(None) == ""
    from zoneinfo import ZoneInfo

    assert when(NOW) == "Mon 2 Mar 2026 10:42 UTC"
    assert when(NOW, ZoneInfo("Europe/Berlin")) == "Mon 2 Mar 2026 10:42 UTC (11:42 Europe/Berlin)"


def test_herald_templates_check_passes_on_the_defaults(monkeypatch):
    monkeypatch.delenv("HERALD_TEMPLATES", raising=False)
    result = CliRunner().invoke(main, ["templates", "check"])
    assert result.exit_code == 0, result.output
    # 42 message templates (14 kinds, every variant), the 3 public texts, the post-mortem draft and
    # 14 drawings of the Teams bot's 5 cards
    assert "all 67 templates render" in result.output
    assert "ok    postmortem.md.j2" in result.output


def test_herald_templates_check_fails_on_a_broken_override(monkeypatch, tmp_path):
    (tmp_path / "page.email.txt.j2").write_text("Subject: {{ nope }}\n\nx\n")
    (tmp_path / "pgae.email.txt.j2").write_text("Subject: typo\n\nx\n")
    monkeypatch.setenv("HERALD_TEMPLATES", str(tmp_path))
    result = CliRunner().invoke(main, ["templates", "check"])
    assert result.exit_code == 1
    assert "FAIL  page.email.txt.j2, page.email.html.j2: page.email.txt.j2:1: UndefinedError" in result.output
    assert "'pgae' is not a kind of notification" in result.output
    assert "ok    page.teams.json.j2" in result.output


def test_missing_override_folder_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("HERALD_TEMPLATES", str(tmp_path / "nope"))
    result = CliRunner().invoke(main, ["templates", "check"])
    assert result.exit_code == 1 and "no such folder" in result.output


@pytest.mark.parametrize("broken, expected", [
    # The review's reminders are `reminder` messages rendered through _review_reminder.*: checked too.
    ("_review_reminder.teams.json.j2", "FAIL  reminder.teams.json.j2: (variant 2) _review_reminder.teams.json.j2:1"),
    ("_review_reminder.email.txt.j2", "FAIL  reminder.email.txt.j2, reminder.email.html.j2: (variant 2)"),
    ("postmortem.md.j2", "FAIL  postmortem.md.j2: postmortem.md.j2:1: UndefinedError"),
    ("notice.teams.json.j2", "FAIL  notice.teams.json.j2: "),
])
def test_herald_templates_check_renders_every_template_and_variant(monkeypatch, tmp_path, broken, expected):
    default = (PROJECT_ROOT / "templates" / broken).read_text()
    if broken == "notice.teams.json.j2":  # break only the every-alert-resolved variant
        text = default.replace('" reports that every alert', '" ~ monitoring.nope ~ " reports that every alert')
    else:
        text = "{{ nope }}" + default
    assert text != default
    (tmp_path / broken).write_text(text)
    monkeypatch.setenv("HERALD_TEMPLATES", str(tmp_path))
    result = CliRunner().invoke(main, ["templates", "check"])
    assert result.exit_code == 1, result.output
    assert expected in result.output


def test_a_line_break_in_a_title_cannot_cut_the_subject():
    from service.notify.samples import sample_contexts
    from service.wiring import SAMPLE_CONTEXTS

    incident = sample_incident(POLICY, NOW)
    incident.title = "Orders\r\nBcc: victim@example.com\n\nfailing\u2028now"
    plain = {(k, n): render_payload(Renderer(), k, ch, c, i)
             for k, ch, n, c, i in sample_contexts(Renderer(), POLICY, "https://h.example", NOW, extra=SAMPLE_CONTEXTS)
             if ch == "email"}
    checked = 0
    for kind, channel, number, ctx, inc in sample_contexts(Renderer(), POLICY, "https://h.example", NOW, incident,
                                                           extra=SAMPLE_CONTEXTS):
        if channel != "email":
            continue
        email = render_payload(Renderer(), kind, "email", ctx, inc)
        assert "\n" not in email["subject"] and "\r" not in email["subject"], kind
        if "Orders are failing" in plain[kind, number]["subject"]:  # the kinds whose subject holds the title
            assert "Orders Bcc: victim@example.com failing" in email["subject"], kind
            checked += 1
        first = email["text"].splitlines()[0]
        assert not first.startswith(("Bcc", "failing")) and first[:3] == plain[kind, number]["text"][:3], kind
    assert checked >= 10

