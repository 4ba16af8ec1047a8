"""Message templates: files in `templates/`, rendered in a Jinja sandbox.

One file per kind and channel: `<kind>.teams.json.j2` (an Adaptive Card 1.4), `<kind>.email.txt.j2`
(first line `Subject: …`, a blank line, then the body) and `<kind>.email.html.j2`. Undefined
variables are errors; HTML is autoescaped; in the JSON templates every `{{ value }}` is escaped as
the inside of a JSON string, so a title with quotes or newlines cannot break the card (use
`{{ value|tojson }}` to insert a whole JSON value). A folder named by HERALD_TEMPLATES overrides
the defaults file by file.
"""
from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, Template, TemplateError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from ..config import PROJECT_ROOT
from ..policy import duration_in_words
from . import markdown

DEFAULT_DIR = PROJECT_ROOT / "templates"
TEAMS_LIMIT_BYTES = 28_000  # Teams counts decimal kilobytes
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
FILES = {"teams": "{kind}.teams.json.j2", "email_text": "{kind}.email.txt.j2", "email_html": "{kind}.email.html.j2"}


class TemplateProblem(Exception):
    """A template is missing, fails to render, or renders something the channel cannot carry."""


def in_words(value) -> str:
    """A timedelta (or seconds) as "1 hour 5 minutes"."""
    if value is None:
        return ""
    if not isinstance(value, timedelta):
        value = timedelta(seconds=float(value))
    return duration_in_words(value)


def when(value: datetime | None, tz=None) -> str:
    """"Mon 2 Mar 2026 10:00 UTC", plus the local time when `tz` (a ZoneInfo) is not UTC."""
    if value is None:
        return ""
    text = value.strftime("%a %-d %b %Y %H:%M UTC")
    if tz is not None and str(tz) not in ("UTC", "Etc/UTC"):
        local = value.astimezone(tz)
        text += f" ({local:%H:%M} {tz})"
    return text


def local(value: datetime | None, tz=None) -> str:
    """"Mon 2 Mar 2026 11:00 CET": the moment on the wall clock of `tz` (a ZoneInfo or a zone name)."""
    if value is None:
        return ""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    moment = value.astimezone(zone) if zone is not None else value
    return f"{moment:%a %-d %b %Y %H:%M} {moment.tzname()}"


def _mark_value(value):
    """finalize for email templates: every printed value is wrapped, so its line breaks are known as its own.

    The subject is the first line *of the template*: a CR/LF inside a title must not end it (the rest
    would become the first line of the body). `Renderer.email` reads the wrappers and drops them.
    """
    if value is None or isinstance(value, Markup):
        return value
    text = markdown.strip_text(str(value))
    if "\n" not in text and "\r" not in text:  # nothing that could end the subject line: no wrapper needed
        return text
    return markdown.OPEN + text + markdown.CLOSE


def _split_subject(text: str) -> tuple[str, str]:
    """(first line, the rest) where only a line break of the template itself ends the first line."""
    depth = 0
    for i, char in enumerate(text):
        if char == markdown.OPEN:
            depth += 1
        elif char == markdown.CLOSE:
            depth = max(depth - 1, 0)
        elif char == "\n" and depth == 0:
            return text[:i], text[i + 1:]
    return text, ""


class CardTemplate(Template):
    """A card template: its context is tainted, and the rendered card has outside text escaped."""

    def new_context(self, vars=None, shared=False, locals=None):
        return super().new_context(markdown.taint(vars) if vars else vars, shared, locals)

    def render(self, *args, **kwargs) -> str:
        try:
            return json.dumps(self.render_json(*args, **kwargs), ensure_ascii=False)
        except BrokenJson as exc:
            return markdown.strip_text(exc.text)  # the caller reports the broken JSON

    def render_json(self, *args, **kwargs):
        """The rendered card as parsed JSON with outside text escaped: what Herald sends, without printing
        the card and parsing it again. Raises BrokenJson when the template does not write JSON."""
        text = super().render(*args, **kwargs)
        try:
            card = json.loads(text)
        except ValueError as exc:
            raise BrokenJson(str(exc), text) from exc
        return markdown.land(card)


class BrokenJson(ValueError):
    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox for message templates. `{{ incident.title }}` on a context dict looks the key up first.

    Jinja tries an attribute before an item, so every `a.b` on a dict (all of a template context) raised and
    caught an AttributeError before finding the key: about 400 times per P1 open. The same answer, sooner: a
    name that is also a dict method (`links.get`) still means the method, and a missing key falls back to
    the sandbox's own lookup (and its undefined).
    """

    def getattr(self, obj, attribute):
        if type(obj) is dict and not hasattr(dict, attribute):
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class CardEnvironment(MessageEnvironment):
    """The sandbox for Adaptive Card templates: JSON-string output and Markdown taint (see markdown.py).

    Any template rendered here (webhook cards, bot cards) gets the escaping without asking for it.
    """

    code_generator_class = markdown.TaintCodeGenerator
    template_class = CardTemplate
    intercepted_binops = frozenset(["+", "%"])
    taint_join = staticmethod(markdown.join)

    def __init__(self, **options):
        super().__init__(autoescape=True, finalize=markdown.finalize_json, **options)
        self.filters["tojson"] = markdown.tojson

    def call_binop(self, context, operator, left, right):
        if not (markdown.tainted(left) or markdown.tainted(right)
                or (isinstance(right, tuple) and any(markdown.tainted(r) for r in right))):
            return super().call_binop(context, operator, left, right)
        if isinstance(left, str) and not markdown.tainted(left):  # "**%s**" % title keeps its own **
            right = tuple(markdown.wrapped(r) for r in right) if isinstance(right, tuple) else markdown.wrapped(right)
        elif operator == "+" and isinstance(left, str):
            left, right = markdown.wrapped(left), markdown.wrapped(right)
        return markdown.retaint(super().call_binop(context, operator, left, right), (left, right))

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (the sandbox's own signature)
        # str.format arrives wrapped by the sandbox (wrap_str_format); its owner is on __wrapped__
        owner = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
        if isinstance(owner, str) and not markdown.tainted(owner):  # "{}: {}".format(title, impact)
            args = tuple(markdown.wrapped(a) for a in args)
            kwargs = {k: markdown.wrapped(v) for k, v in kwargs.items()}
        result = super().call(__context, __obj, *args, **kwargs)
        return markdown.retaint(result, (owner, *args, *kwargs.values()))


def _tainting(func):
    @functools.wraps(func)  # keeps jinja_pass_arg (pass_context, pass_eval_context)
    def wrapper(*args, **kwargs):
        return markdown.retaint(func(*args, **kwargs), (*args, *kwargs.values()))
    return wrapper


def _environment(loader, *, json_mode: bool, auto_reload: bool = True) -> ImmutableSandboxedEnvironment:
    options = dict(loader=loader, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                   keep_trailing_newline=False, auto_reload=auto_reload)
    if json_mode:
        env = CardEnvironment(**options)
        env.filters.update(in_words=in_words, when=when, local=local)
        env.filters.update({name: _tainting(f) for name, f in env.filters.items() if name != "tojson"})
        return env
    else:
        env = MessageEnvironment(
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False,
                                         default=False),
            finalize=_mark_value, **options,
        )
    env.filters.update(in_words=in_words, when=when, local=local)
    return env


class Renderer:
    """Renders one kind for one channel. Overrides come first; the packaged defaults are the fallback."""

    def __init__(self, override_dir: str | Path | None = None):
        self.override_dir = Path(override_dir).resolve() if override_dir else None
        folders = [str(DEFAULT_DIR)]
        if self.override_dir and self.override_dir != DEFAULT_DIR.resolve():
            folders.insert(0, str(self.override_dir))
        loader = ChoiceLoader([FileSystemLoader(f) for f in folders])
        # An override folder is looked at again when its files change; the packaged defaults only change
        # with a new release, so they are not checked on every message.
        self._text = _environment(loader, json_mode=False, auto_reload=self.has_overrides)
        self._json = _environment(loader, json_mode=True, auto_reload=self.has_overrides)

    @property
    def has_overrides(self) -> bool:
        return self.override_dir is not None and self.override_dir != DEFAULT_DIR.resolve()

    def kinds(self) -> list[str]:
        """Every kind with at least one template file (defaults and overrides)."""
        names = set(self._text.list_templates(filter_func=lambda n: n.endswith(".j2") and "/" not in n))
        return sorted({n.split(".", 1)[0] for n in names if not n.startswith("_") and n.count(".") >= 3})

    def files_for(self, kind: str) -> list[str]:
        return [pattern.format(kind=kind) for pattern in FILES.values()]

    def _render(self, env, name: str, context: dict, *, as_json: bool = False):
        try:
            template = env.get_template(name)
            return template.render_json(context) if as_json else template.render(context)
        except BrokenJson as exc:
            raise TemplateProblem(f"{name}: does not render valid JSON: {exc}") from exc
        except Exception as exc:  # template errors, and filters or attributes raising inside the sandbox
            where = template_location(exc, name)
            message = exc.message if isinstance(exc, TemplateError) and exc.message else str(exc)
            raise TemplateProblem(f"{where}: {type(exc).__name__}: {message}") from exc

    def teams(self, kind: str, context: dict) -> dict:
        """The Workflows webhook message: the Adaptive Card wrapped in the documented envelope."""
        name = FILES["teams"].format(kind=kind)
        card = self.json(name, context)
        message = {"type": "message",
                   "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}]}
        problems = card_problems(message)
        if problems:
            raise TemplateProblem(f"{name}: " + "; ".join(problems))
        return fit_teams_message(message)

    def json(self, name: str, context: dict):
        """Any JSON template by file name (e.g. the Teams bot's cards), escaped like the Teams cards."""
        return self._render(self._json, name, context, as_json=True)

    def email(self, kind: str, context: dict) -> dict:
        """{"subject", "text", "html"}: the subject is the text template's first line (`Subject: …`)."""
        text_name = FILES["email_text"].format(kind=kind)
        first, body = _split_subject(self._render(self._text, text_name, context))
        first, body = markdown.strip_text(first), markdown.strip_text(body)
        if not first.lower().startswith("subject:"):
            raise TemplateProblem(f"{text_name}: the first line must be 'Subject: …'")
        subject = " ".join(first[len("subject:"):].split())  # one line, whatever the values hold
        if not subject:
            raise TemplateProblem(f"{text_name}: the subject is empty")
        html = markdown.strip_text(self._render(self._text, FILES["email_html"].format(kind=kind), context))
        return {"subject": subject, "text": body.strip("\n") + "\n", "html": html}


def template_location(exc: Exception, name: str) -> str:
    """"file:line" of the template line that failed (Jinja puts template frames into the traceback)."""
    if getattr(exc, "lineno", None):
        return f"{getattr(exc, 'name', None) or name}:{exc.lineno}"
    found = name
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            found = f"{Path(filename).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def card_problems(message: dict) -> list[str]:
    """What makes `message` unfit for a Teams Workflows webhook (empty when it is fine)."""
    problems = []
    attachments = message.get("attachments")
    if message.get("type") != "message" or not isinstance(attachments, list) or len(attachments) != 1:
        return ["the message must be {'type': 'message', 'attachments': [one card]}"]
    attachment = attachments[0]
    if attachment.get("contentType") != CARD_CONTENT_TYPE:
        problems.append(f"contentType must be {CARD_CONTENT_TYPE}")
    card = attachment.get("content")
    if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
        return problems + ["the content must be an AdaptiveCard object"]
    if card.get("version") != "1.4":
        problems.append("the card version must be 1.4")
    if not isinstance(card.get("body"), list) or not card["body"]:
        problems.append("the card needs a non-empty body")
    for action in _actions(card):
        if action.get("type") != "Action.OpenUrl":
            problems.append(f"{action.get('type')} is not supported in webhook cards; use Action.OpenUrl")
        elif not str(action.get("url", "")).startswith(("https://", "http://")):
            problems.append("every Action.OpenUrl needs an http(s) url")
    return problems


def _actions(node):
    if isinstance(node, dict):
        if str(node.get("type", "")).startswith("Action."):
            yield node
        for value in node.values():
            yield from _actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _actions(value)


def message_size(message: dict) -> int:
    return len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def fit_teams_message(message: dict, limit: int = TEAMS_LIMIT_BYTES) -> dict:
    """Shorten the longest texts until the message is under Teams' size limit (about 28 KB)."""
    marker = " … (shortened; the full text is in Herald)"
    for _ in range(200):
        excess = message_size(message) - limit
        if excess <= 0:
            return message
        longest = max(_text_nodes(message), key=lambda pair: len(pair[0][pair[1]]), default=None)
        if longest is None:
            break
        holder, key = longest
        text = holder[key]
        keep = max(len(text) - excess - len(marker) - 64, len(text) // 2, 0)
        if keep >= len(text):
            break
        holder[key] = text[:keep].rstrip() + marker
    if message_size(message) > limit:
        raise TemplateProblem(f"the Teams card stays over {limit} bytes even with shortened texts")
    return message


def _text_nodes(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "value") and isinstance(value, str) and len(value) > 80:
                yield node, key
            else:
                yield from _text_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _text_nodes(value)


_renderers: dict[str | None, Renderer] = {}


def renderer(override_dir: str | None = None) -> Renderer:
    """A cached Renderer for the configured override folder (Jinja caches compiled templates)."""
    if override_dir not in _renderers:
        _renderers[override_dir] = Renderer(override_dir)
    return _renderers[override_dir]
