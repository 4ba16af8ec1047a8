"""Outside text is escaped for Markdown wherever a card template puts it, however the template handles it."""
import json

import pytest

from service.notify.markdown import escape_markdown
from service.notify.templates import Renderer, TemplateProblem

EVIL = "**x** [y](https://evil.example) _z_"
SAFE = escape_markdown(EVIL)


def card(tmp_path, body_items: str, **context) -> dict:
    """Render an override card template whose body is `body_items` (Jinja) with `context`."""
    (tmp_path / "notice.teams.json.j2").write_text(
        '{"type": "AdaptiveCard", "version": "1.4", "body": [' + body_items + '],'
        ' "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "{{ url }}"}]}')
    message = Renderer(tmp_path).teams("notice", {"url": "https://h.example/board#INC_1-(2)", **context})
    return message["attachments"][0]["content"]


def texts(card_: dict) -> list[str]:
    return [b.get("text") or b for b in card_["body"]]


def test_escaping_makes_markdown_plain_text():
    assert escape_markdown("[a](b) **c** _d_ `e` <f> ~g~ |h| &i") == \
        "\\[a\\](b) \\*\\*c\\*\\* \\_d\\_ \\`e\\` \\<f\\> \\~g\\~ \\|h\\| \\&i"
    assert escape_markdown("# h\n- l\n+ l\n> q\n12. n\n3) n\na - b") == \
        "\\# h\n\\- l\n\\+ l\n\\> q\n12\\. n\n3\\) n\na - b"
    assert escape_markdown("back\\slash") == "back\\\\slash"


@pytest.mark.parametrize("expression, expected", [
    ('"**Title:** " ~ title', "**Title:** " + SAFE),               # the template's own bold stays
    ('"**" + title + "**"', "**" + SAFE + "**"),
    ('"**%s**" % title', "**" + SAFE + "**"),
    ('"**{}**".format(title)', "**" + SAFE + "**"),
    ("title|upper", escape_markdown(EVIL.upper())),
    ("title|truncate(12, true, '...', 0)", escape_markdown(EVIL[:9] + "...")),
    ('items|join(", ")', escape_markdown(EVIL + ", " + EVIL)),
    ("title.strip()", SAFE),
    ('title if title else "none"', SAFE),
    ("nested.deep[0].text", SAFE),
])
def test_taint_survives_what_templates_do_with_text(tmp_path, expression, expected):
    body = '{"type": "TextBlock", "text": "{{ ' + expression.replace('"', "'") + ' }}"}'
    got = card(tmp_path, body, title=EVIL, items=[EVIL, EVIL], nested={"deep": [{"text": EVIL}]})
    assert texts(got)[0] == expected


def test_facts_and_tojson_are_escaped_and_urls_are_not(tmp_path):
    got = card(tmp_path, '{"type": "FactSet", "facts": [{"title": "{{ title }}", "value": "Impact: {{ title }}"}]},'
                         '{"type": "TextBlock", "text": {{ title|tojson }}},'
                         '{"type": "Image", "url": "{{ url }}", "altText": "{{ title }}"}', title=EVIL)
    assert got["body"][0]["facts"] == [{"title": SAFE, "value": "Impact: " + SAFE}]
    assert got["body"][1]["text"] == SAFE
    assert got["body"][2] == {"type": "Image", "url": "https://h.example/board#INC_1-(2)", "altText": EVIL}
    assert got["actions"][0]["url"] == "https://h.example/board#INC_1-(2)"  # a URL is never escaped
    assert "\ue000" not in json.dumps(got) and "\ue001" not in json.dumps(got)


def test_comparisons_still_see_the_plain_value(tmp_path):
    got = card(tmp_path, '{"type": "TextBlock", "text": "{{ \'yes\' if status == \'resolved\' else \'no\' }}"}',
               status="resolved")
    assert texts(got) == ["yes"]


def test_markers_in_outside_text_cannot_forge_an_unescaped_stretch(tmp_path):
    forged = "\ue001**bold**\ue000"
    got = card(tmp_path, '{"type": "TextBlock", "text": "{{ title }}"}', title=forged)
    assert texts(got) == ["\\*\\*bold\\*\\*"]


def test_a_broken_card_still_reports_its_json_error(tmp_path):
    (tmp_path / "notice.teams.json.j2").write_text('{"type": "AdaptiveCard", "body": [{{ title }}')
    with pytest.raises(TemplateProblem, match="does not render valid JSON"):
        Renderer(tmp_path).teams("notice", {"title": EVIL})
