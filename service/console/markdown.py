"""Markdown to HTML for the post-mortem preview: CommonMark plus tables, raw HTML shown as text,
and only safe link schemes (markdown-it refuses `javascript:` and friends)."""
from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(["table",
                                                                                                 "strikethrough"])


def to_html(text: str) -> Markup:
    return Markup(_md.render(text or ""))
