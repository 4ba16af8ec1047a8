"""Every card kind through Microsoft's own Adaptive Cards renderer (npm `adaptivecards`) in headless Chromium.

With the Teams light, dark and high-contrast host configs: hostile Markdown from outside renders as the
text it is (no live link, no emphasis), the cards parse without problems, and every text block keeps at
least 3:1 contrast with the card (WCAG's minimum for large and bold text; the headings are both).

The renderer comes from npm into tests/notify/adaptivecards/node_modules, installed here when missing
(the versions are pinned in that folder's package.json). Teams' light and dark host configs are the
ones Microsoft ships in `adaptivecards-designer`; Teams publishes no host config for its high-contrast
theme, so that one is the dark config with Teams' high-contrast palette (black, white, #ffff01 for
links and warnings, #3ff23f, #1aebff), as Teams draws it.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from service.config import PROJECT_ROOT
from service.notify.outbox import render_payload
from service.notify.samples import sample_contexts, sample_incident
from service.notify.templates import Renderer
from service.policy import load_policy
from service.wiring import SAMPLE_CONTEXTS
from tests.browser import _in_ci

HERE = Path(__file__).resolve().parent / "adaptivecards"
MODULES = HERE / "node_modules"
NOW = datetime(2026, 3, 2, 10, 42, tzinfo=timezone.utc)
POLICY = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
EVIL = "Ledger lag **critical** - [Acknowledge here](https://evil.example/ack) <https://evil.example/x> `code`"
EVIL_LINE = "# Heading\n- item\n> quote"


def _install() -> None:
    """npm ci (or install) into the test's own folder, once."""
    if (MODULES / "adaptivecards" / "dist" / "adaptivecards.min.js").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        reason = "npm is not installed (apt-get install npm) so the Adaptive Cards renderer cannot be installed"
        pytest.fail(reason) if _in_ci() else pytest.skip(reason)
    command = [npm, "ci" if (HERE / "package-lock.json").exists() else "install", "--no-audit", "--no-fund",
               "--legacy-peer-deps", "--loglevel=error"]
    done = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed in {HERE}:\n{done.stderr[-2000:]}")


def _high_contrast(dark: dict) -> dict:
    config = copy.deepcopy(dark)
    palette = {"default": "#ffffff", "dark": "#ffffff", "light": "#ffffff", "accent": "#1aebff",
               "good": "#3ff23f", "warning": "#ffff01", "attention": "#ffff01"}
    for style in config["containerStyles"].values():
        style["backgroundColor"] = "#000000"
        for name, colour in palette.items():
            style["foregroundColors"][name] = {"default": colour, "subtle": colour}
    return config


@pytest.fixture(scope="module")
def host_configs() -> dict:
    _install()
    folder = MODULES / "adaptivecards-designer" / "lib" / "hostConfigs"
    light = json.loads((folder / "microsoft-teams-light.json").read_text())
    dark = json.loads((folder / "microsoft-teams-dark.json").read_text())
    return {"light": light, "dark": dark, "high-contrast": _high_contrast(dark)}


@pytest.fixture(scope="module")
def card_page(chromium, host_configs):
    page = chromium.new_page()
    page.goto((HERE / "render.html").as_uri())
    page.add_script_tag(path=str(MODULES / "markdown-it" / "dist" / "markdown-it.min.js"))
    page.add_script_tag(path=str(MODULES / "adaptivecards" / "dist" / "adaptivecards.min.js"))
    page.add_script_tag(path=str(HERE / "render.js"))
    yield page
    page.close()


def _poison(value, path=""):
    """Every string from outside becomes hostile Markdown; URLs and the values templates branch on stay."""
    if isinstance(value, dict):
        return {k: _poison(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_poison(v, path) for v in value]
    if isinstance(value, str) and not value.startswith("http") and not path.endswith(
            (".about", ".problem", ".channel", ".condition", ".method", ".key", ".handle", ".status", ".kind",
             ".severity", ".address", ".number", ".due")):
        return value + " " + (EVIL_LINE if path.endswith((".impact", ".learned", ".doing", ".text")) else EVIL)
    return value


def _cards(poisoned: bool):
    renderer = Renderer()
    incident = sample_incident(POLICY, NOW)
    if poisoned:
        incident.title, incident.impact = EVIL, EVIL_LINE
    for kind, channel, number, context, inc in sample_contexts(renderer, POLICY, "https://herald.example.com", NOW,
                                                              incident, extra=SAMPLE_CONTEXTS):
        if channel != "teams":
            continue
        if poisoned:
            context = _poison(context)
        yield f"{kind}-{number + 1}", render_payload(renderer, kind, "teams", context, inc)["attachments"][0]["content"]


CARD_IDS = [name for name, _ in _cards(False)]


def _rgba(text: str) -> tuple[float, float, float, float]:
    numbers = [float(n) for n in re.findall(r"[\d.]+", text)]
    return (*numbers[:3], numbers[3] if len(numbers) > 3 else 1.0)


def _luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast of a (possibly translucent) text colour drawn over an opaque background."""
    fr, fg, fb, fa = _rgba(foreground)
    br, bg, bb, _ = _rgba(background)
    blended = (fr * fa + br * (1 - fa), fg * fa + bg * (1 - fa), fb * fa + bb * (1 - fa))
    lighter, darker = sorted((_luminance(blended), _luminance((br, bg, bb))), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_contrast_formula_matches_wcag():
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert round(contrast("rgb(248, 210, 42)", "rgb(255, 255, 255)"), 2) == 1.47  # Teams' "Warning" on light
    assert round(contrast("rgb(146, 195, 83)", "rgb(255, 255, 255)"), 2) == 2.07  # Teams' "Good" on light


def test_every_card_kind_is_covered():
    kinds = {name.rsplit("-", 1)[0] for name in CARD_IDS}
    assert kinds == {"escalation", "handoff", "help", "initial", "invite", "notice", "page", "progress", "reminder",
                     "resolution", "shift_reminder", "schedule_change", "coverage_gap", "swap_request", "question"}
    assert len([n for n in CARD_IDS if n.startswith("reminder")]) == 3  # cadence, post-mortem and action item


@pytest.mark.parametrize("theme", ["light", "dark", "high-contrast"])
@pytest.mark.parametrize("name", CARD_IDS)
def test_cards_render_outside_text_as_text_with_readable_headings(card_page, host_configs, theme, name):
    card, clean = dict(_cards(True))[name], dict(_cards(False))[name]
    seen = card_page.evaluate("([card, config]) => renderCard(card, config)", [card, host_configs[theme]])
    plain = card_page.evaluate("([card, config]) => renderCard(card, config)", [clean, host_configs[theme]])
    assert seen["problems"] == []
    # No live link from [Acknowledge here](https://evil.example/ack) or <https://…>, and no emphasis, code,
    # heading, list or quote from outside text: only what the template itself formats.
    assert not [link for link in seen["links"] if "evil.example" in link] and seen["links"] == plain["links"]
    assert seen["formatting"] == plain["formatting"]
    shown = "\n".join(t["text"] for t in seen["texts"])
    assert "**critical** - [Acknowledge here](https://evil.example/ack) <https://evil.example/x> `code`" in shown
    assert seen["buttons"]  # the card's own buttons are there
    for block in seen["texts"]:
        ratio = contrast(block["color"], seen["background"])
        assert ratio >= 3, f"{block['text'][:60]!r} is {ratio:.2f}:1 on {theme} ({block['color']})"


@pytest.mark.parametrize("theme", ["light", "dark", "high-contrast"])
def test_the_templates_own_markdown_still_renders(card_page, host_configs, theme):
    """Escaping is for outside text only: a template's own **bold** and [link](…) are kept."""
    card = {"type": "AdaptiveCard", "version": "1.4", "body": [
        {"type": "TextBlock", "text": "**bold** and [Runbook](https://herald.example.com/runbook)", "wrap": True}]}
    seen = card_page.evaluate("([card, config]) => renderCard(card, config)", [card, host_configs[theme]])
    assert seen["formatting"] == ["STRONG"] and seen["links"] == ["https://herald.example.com/runbook"]
