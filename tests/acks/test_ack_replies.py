"""The reply parser against real-world replies (tests/acks/mail/*.eml): what was written, by whom, to what."""
from pathlib import Path

import pytest

from service.acks.replies import html_to_text, new_text, parse_message, plus_tokens, read_reply

MAIL = Path(__file__).parent / "mail"
PAGE_1 = "<page.1.alice@herald.example.com>"

# file -> (first word, acknowledges, automatic reason or None, sender)
REPLIES = {
    "outlook_desktop.eml": ("ack", True, None, "alice.archer@example.com"),
    "owa_html_only.eml": ("ok", True, None, "bob@example.com"),
    "gmail.eml": ("ok", True, None, "alice.archer@gmail.com"),
    "gmail_html_only.eml": ("ack", True, None, "alice.archer@gmail.com"),
    "apple_mail.eml": ("acknowledge", True, None, "alice@example.com"),
    "iphone.eml": ("ack", True, None, "bob@example.com"),
    "outlook_german.eml": ("ack", True, None, "juergen.mueller@example.de"),
    "signature_ack.eml": ("ok", True, None, "alice@example.com"),
    "auto_submitted_no.eml": ("acked", True, None, "alice@example.com"),
    "top_posting_not_ack.eml": ("on", False, None, "alice@example.com"),
    "quoted_only.eml": ("", False, None, "alice@example.com"),
    "exchange_out_of_office.eml": ("ok", False, "Auto-Submitted: auto-generated", "alice@example.com"),
    "gmail_vacation.eml": ("ack", False, "Auto-Submitted: auto-replied", "alice.archer@gmail.com"),
    "mailing_list.eml": ("ack", False, "Precedence: list", "alice@example.com"),
    "x_autoreply.eml": ("ok", False, "X-Autoreply", "alice@example.com"),
    "read_receipt.eml": ("ok", False, "delivery or read report", "alice@example.com"),
}


def load(name: str):
    return read_reply(parse_message((MAIL / name).read_bytes()))


def test_every_fixture_is_in_the_table():
    assert sorted(p.name for p in MAIL.glob("*.eml")) == sorted(REPLIES)


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_reply(name):
    word, acknowledges, automatic, sender = REPLIES[name]
    reply = load(name)
    assert reply.first_word == word, reply.text
    assert reply.automatic == automatic
    assert reply.acknowledges is acknowledges
    assert reply.sender == sender
    assert reply.incident_number == "INC-20260302-1"


def test_quoted_page_text_and_signatures_never_count():
    outlook = load("outlook_desktop.eml")
    assert outlook.text == "Ack - looking at the order gateway now.\n\nAlice"
    german = load("outlook_german.eml")
    assert german.text == "ack, bin dran"
    assert german.sender_name == "Jürgen Müller"
    assert load("iphone.eml").text == "Ack"
    assert load("signature_ack.eml").text == "OK!"
    # A reply that only quotes the page (whose text says "ack") acknowledges nothing.
    assert load("quoted_only.eml").text == ""


def test_html_reply_drops_the_quoted_page():
    assert load("owa_html_only.eml").text == "OK, on it"
    assert load("gmail_html_only.eml").text == "ACK — joining the bridge"


def test_x_auto_response_suppress_alone_is_human_mail():
    reply = load("outlook_desktop.eml")
    assert reply.automatic is None


def test_threading_headers():
    reply = load("outlook_desktop.eml")
    assert reply.message_id == "<AM0PR04MB1234A1B2C3D4E5F6A7B8C9D0E1F2@AM0PR04MB1234.eurprd04.prod.outlook.com>"
    assert reply.answers == (PAGE_1,)
    message = parse_message(
        b"From: a@example.com\r\nIn-Reply-To: <c@x>\r\nReferences: <a@x> <b@x>\r\n <c@x>\r\n\r\nack\r\n")
    assert read_reply(message).answers == ("<c@x>", "<b@x>", "<a@x>")


def test_subject_prefixes_in_many_languages():
    for subject in ("Re: [INC-20260302-12] x", "RE: RE: [INC-20260302-12] x", "AW: [inc-20260302-12] x",
                    "SV: Re: [INC-20260302-12]", "Fwd: VS: [INC-20260302-12] x", "Antw: [INC-20260302-12]"):
        raw = f"From: a@example.com\r\nSubject: {subject}\r\n\r\nack\r\n".encode()
        assert read_reply(parse_message(raw)).incident_number == "INC-20260302-12", subject
    raw = b"From: a@example.com\r\nSubject: Re: orders are down\r\n\r\nack\r\n"
    assert read_reply(parse_message(raw)).incident_number is None


def test_plus_tokens_only_for_the_reply_address():
    recipients = ("herald+abc.DEF-1@replies.example.com", "herald@replies.example.com",
                  "herald+other@elsewhere.example.com", "bob+x@replies.example.com")
    assert plus_tokens(recipients, "herald@replies.example.com") == ["abc.DEF-1"]
    assert plus_tokens(recipients, None) == []
    reply = load("gmail.eml")
    assert reply.recipients == ("herald+TOKEN@replies.example.com",)  # Delivered-To and To; tokens keep their case


def test_envelope_recipients_and_null_sender():
    message = parse_message(b"From: alice@example.com\r\nSubject: Re: x\r\n\r\nack\r\n")
    reply = read_reply(message, envelope_recipients=("Herald+Tok@Replies.example.com",), envelope_sender="<>")
    assert reply.recipients == ("Herald+Tok@Replies.example.com",)
    assert plus_tokens(reply.recipients, "herald@replies.example.com") == ["Tok"]
    assert reply.automatic == "null envelope sender"
    assert read_reply(message, envelope_sender="alice@example.com").automatic is None


@pytest.mark.parametrize("body, word", [
    ("ACK", "ack"), ("Ack.", "ack"), ("ok!", "ok"), ("  okay, joining", "okay"),
    ("Acknowledged", "acknowledged"), ("👍 ack", "ack"), ("nack", "nack"), ("acknowledgement pending", "acknowledgement"),
    ("", ""), ("\n\n", ""), ("ackknowledge", "ackknowledge"),
])
def test_first_word(body, word):
    assert read_reply(parse_message(f"From: a@example.com\r\n\r\n{body}\r\n".encode())).first_word == word


def test_no_text_at_all_and_missing_from():
    reply = read_reply(parse_message(b"Subject: Re: [INC-20260302-1]\r\n\r\n"))
    assert reply.sender == "" and reply.text == "" and not reply.acknowledges


def test_unknown_charset_is_read_not_refused():
    raw = (b"From: a@example.com\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nack \xff\r\n")
    assert read_reply(parse_message(raw)).first_word == "ack"


def test_html_to_text_keeps_quote_depth():
    html = "<p>ok</p><blockquote><p>page</p><blockquote>older</blockquote></blockquote><script>x</script>"
    assert html_to_text(html) == "ok\n\n> page\n\n> > older"
    assert new_text(html_to_text(html)) == "ok"
