"""Markdown safety for Adaptive Cards: text from outside is shown as text, never as formatting.

Teams renders Markdown in `TextBlock.text` and `Fact.title`/`Fact.value`, so an alert summary
`[Acknowledge here](https://evil.example)` would become a live link inside a page card. Every value
a card template takes from its context (the API, monitoring, calendars, replies: all of it) is
*tainted*; the template's own literals are not. Taint survives `~`, `+`, `%`, filters and method
calls. When a tainted value is written into the card its text is wrapped in two private-use
characters; once the card is parsed, the wrapped stretches in Markdown fields are escaped and the
wrappers are dropped everywhere else (so a URL in `Action.OpenUrl.url` stays a URL).
"""
from __future__ import annotations

import json
import re

from jinja2.compiler import CodeGenerator
from jinja2.runtime import markup_join, str_join
from markupsafe import Markup

OPEN, CLOSE = "\ue000", "\ue001"
_MARKERS = re.compile("[\ue000\ue001]")
_SEGMENT = re.compile("\ue000([^\ue000\ue001]*)(?:\ue001|$)")
# Backslash escapes are CommonMark; these are the characters that start or end inline formatting
# (emphasis, code, links, autolinks, strikethrough, tables, entities) wherever they stand.
_INLINE = re.compile(r"([\\`*_\[\]<>~|&])")
# ...and these only at the start of a line (headings, quotes, lists, setext underlines).
_LINE_START = re.compile(r"(^|\n)([ \t]*)(?:([#>+=-])|(\d{1,9})([.)]))")


class Outside(str):
    """A string that came from outside the template: shown as text wherever it lands."""


class Composed(str):
    """Template text with tainted stretches already wrapped in OPEN … CLOSE."""


def escape_markdown(text: str) -> str:
    """`text` as Markdown that renders exactly `text` (no links, emphasis, headings or lists)."""
    text = _INLINE.sub(r"\\\1", text)
    return _LINE_START.sub(lambda m: m.group(1) + m.group(2) + (
        "\\" + m.group(3) if m.group(3) else m.group(4) + "\\" + m.group(5)), text)


def tainted(value) -> bool:
    return isinstance(value, (Outside, Composed))


def taint(value):
    """Mark every string inside a template context (dicts, lists, tuples) as coming from outside."""
    if isinstance(value, Markup) or isinstance(value, (Outside, Composed)):
        return value
    if isinstance(value, str):
        return Outside(_MARKERS.sub("", value))
    if isinstance(value, dict):
        return {k: taint(v) for k, v in value.items()}
    if isinstance(value, list):
        return [taint(v) for v in value]
    if isinstance(value, tuple):
        return tuple(taint(v) for v in value)
    return value


def wrapped(value):
    """The text of `value` with its tainted stretches wrapped (plain strings unchanged)."""
    if isinstance(value, Outside):
        return Composed(OPEN + str.__str__(value) + CLOSE)
    return value


def _mark_deep(value):
    if isinstance(value, Outside):
        return OPEN + str.__str__(value) + CLOSE
    if isinstance(value, Composed):
        return str.__str__(value)
    if isinstance(value, dict):
        return {k: _mark_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mark_deep(v) for v in value]
    return value


def retaint(result, inputs) -> object:
    """A plain-string `result` computed from tainted `inputs` is tainted too."""
    if not isinstance(result, str) or isinstance(result, (Markup, Outside, Composed)):
        return result
    if OPEN in result or CLOSE in result:
        return Composed(result)
    if any(tainted(i) or (isinstance(i, (list, tuple)) and any(tainted(x) for x in i)) for i in inputs):
        return Outside(result)
    return result


def join(parts, autoescape: bool):
    """`a ~ b` in a card template: tainted parts are wrapped, so the template's own text stays Markdown."""
    parts = list(parts)
    if not any(tainted(p) for p in parts):
        return markup_join(parts) if autoescape else str_join(parts)
    out = (markup_join if autoescape else str_join)([wrapped(p) for p in parts])
    return out if isinstance(out, Markup) else Composed(out)


def finalize_json(value):
    """`{{ x }}` in a card template: the escaped inside of a JSON string, tainted stretches wrapped."""
    if isinstance(value, Markup):  # tojson output and macro calls are JSON already
        return value
    if value is None:
        return Markup("")
    return Markup(json.dumps(str.__str__(wrapped(value)) if isinstance(value, str) else str(value),
                             ensure_ascii=False)[1:-1])


def tojson(value, indent=None):
    """`{{ x|tojson }}` with tainted strings wrapped like `{{ x }}`."""
    text = json.dumps(_mark_deep(value), ensure_ascii=False, indent=indent)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                  .replace("'", "\\u0027"))


def _markdown_fields(node, parent_type=None):
    """Yield (holder, key) for every string Teams renders as Markdown."""
    if isinstance(node, dict):
        kind = node.get("type")
        for key, value in node.items():
            if isinstance(value, str):
                if (kind in ("TextBlock", "TextRun") and key == "text") or \
                        (parent_type == "FactSet" and kind is None and key in ("title", "value")):
                    yield node, key
            else:
                yield from _markdown_fields(value, kind if key == "facts" else None)
    elif isinstance(node, list):
        for value in node:
            yield from _markdown_fields(value, parent_type)


def land(card):
    """Escape the wrapped stretches in Markdown fields and drop the wrappers everywhere (in place)."""
    for holder, key in _markdown_fields(card):
        if OPEN in holder[key]:  # only text with outside stretches needs escaping
            holder[key] = _SEGMENT.sub(lambda m: escape_markdown(m.group(1)), holder[key])
    return strip(card)


def strip(node):
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = strip_text(value) if isinstance(value, str) else strip(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            node[i] = strip_text(value) if isinstance(value, str) else strip(value)
    return node


def strip_text(text: str) -> str:
    if OPEN not in text and CLOSE not in text:  # most strings: no regex pass (every rendered value comes here)
        return text
    return _MARKERS.sub("", text)


class TaintCodeGenerator(CodeGenerator):
    """`~` in card templates goes through `environment.taint_join`, which keeps the taint."""

    def visit_Concat(self, node, frame) -> None:
        auto = "context.eval_ctx.autoescape" if frame.eval_ctx.volatile else repr(bool(frame.eval_ctx.autoescape))
        self.write("environment.taint_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {auto})")
