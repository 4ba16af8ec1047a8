"""Every text/background pair of the stylesheet meets WCAG AA (4.5:1), in the light and the dark scheme."""
import re

import pytest

from service.config import PROJECT_ROOT

CSS = (PROJECT_ROOT / "templates" / "web" / "static" / "herald.css").read_text()
WHITE, DARK_BUTTON_TEXT = "#ffffff", "#0d1117"

# (foreground variable or colour, background variable or colour): where the stylesheet puts them together.
PAIRS = [("--fg", "--bg"), ("--muted", "--bg"), ("--accent", "--bg"), ("--muted", "--panel"), ("--fg", "--panel"),
         ("--ok", "--ok-bg"), ("--warn", "--warn-bg"), ("--bad", "--bad-bg"), ("--fg", "--bad-bg"),
         ("--fg", "--ok-bg"), ("--fg", "--warn-bg"), ("--muted", "--bad-bg"), ("--ok", "--bg"), ("--bad", "--bg")]
BADGES = [(WHITE, f"--{key}") for key in ("p1", "p2", "p3", "p4", "other")]


def variables(block: str) -> dict[str, str]:
    return dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})", block))


LIGHT = variables(CSS.split("@media (prefers-color-scheme: dark)")[0])
DARK = {**LIGHT, **variables(CSS.split("@media (prefers-color-scheme: dark)")[1].split("}")[0])}


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colours_meet_wcag_aa(scheme):
    palette = LIGHT if scheme == "light" else DARK
    button_text = WHITE if scheme == "light" else DARK_BUTTON_TEXT
    pairs = PAIRS + BADGES + [(button_text, "--accent")]
    failing = []
    for fg, bg in pairs:
        a, b = palette.get(fg, fg), palette.get(bg, bg)
        if contrast(a, b) < 4.5:
            failing.append(f"{fg} on {bg}: {contrast(a, b):.2f}")
    assert failing == []


def test_the_palette_was_read():
    assert {"--fg", "--bg", "--p1", "--bad-bg"} <= set(LIGHT) and DARK["--bg"] != LIGHT["--bg"]
