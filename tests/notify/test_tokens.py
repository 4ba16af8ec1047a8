import pytest

from service import ack_tokens
from service.ack_tokens import AckToken, InvalidAckToken, make_ack_token, make_token, read_ack_token, read_token
from service.config import Config
from service.runtime import runtime


class Row:
    def __init__(self, id, incident_id, person_id):
        self.id, self.incident_id, self.person_id = id, incident_id, person_id


@pytest.fixture(autouse=True)
def secret():
    previous = runtime.config
    runtime.config = Config(secret_key="s3cret")
    yield
    runtime.config = previous


def test_round_trip_binds_incident_person_and_notification():
    token = make_ack_token(Row(42, 7, 3))
    assert read_ack_token(token) == (7, 3, 42)


def test_token_is_short_and_safe_in_urls_and_email_local_parts():
    token = make_ack_token(Row(123456, 98765, 4321))
    assert len("herald+" + token) <= 64  # RFC 5321 local-part limit
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize("mutate", [
    lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],  # signature changed (not in base64 padding bits)
    lambda t: "W" + t[1:],                                      # payload changed
    lambda t: t.split(".")[0],                                  # signature removed
    lambda t: "",
])
def test_tampered_tokens_are_refused(mutate):
    token = make_ack_token(Row(1, 2, 3))
    with pytest.raises(InvalidAckToken):
        read_ack_token(mutate(token))


def test_token_from_another_secret_is_refused():
    token = make_ack_token(Row(1, 2, 3))
    runtime.config = Config(secret_key="another")
    with pytest.raises(InvalidAckToken):
        read_ack_token(token)


def test_expired_token_is_refused(frozen_clock):
    """Token times come from the app clock: a page token is good for 30 days."""
    token = make_ack_token(Row(1, 2, 3))
    frozen_clock.advance(days=29)
    assert read_ack_token(token) == (2, 3, 1)
    frozen_clock.advance(days=2)
    with pytest.raises(InvalidAckToken):
        read_ack_token(token)
    with pytest.raises(InvalidAckToken):
        read_token(token)


@pytest.fixture
def kinds():
    """A registered kind besides pages (as service/wiring.py registers escalations)."""
    saved = dict(ack_tokens._kinds)
    ack_tokens.register_token_kind("sample", object())
    yield
    ack_tokens._kinds.clear()
    ack_tokens._kinds.update(saved)


def test_every_kind_reads_back_as_itself(kinds):
    page = make_ack_token(Row(42, 7, 3))
    sample = make_token("sample", 7, 42)
    assert read_token(page) == AckToken("page", 7, 42, person_id=3)
    assert read_token(sample) == AckToken("sample", 7, 42)
    assert page != sample
    assert len("herald+" + sample) <= 64
    with pytest.raises(InvalidAckToken):  # another kind's token is never a page's
        read_ack_token(sample)


def test_unknown_kinds_are_neither_made_nor_read(kinds):
    sample = make_token("sample", 1, 2)
    with pytest.raises(ValueError):
        make_token("nobody", 1, 2)
    with pytest.raises(ValueError):
        ack_tokens.register_token_kind("page", object())
    ack_tokens._kinds.pop("sample")
    with pytest.raises(InvalidAckToken):
        read_token(sample)


def test_tampered_kind_tokens_are_refused(kinds):
    token = make_token("sample", 1, 2)
    with pytest.raises(InvalidAckToken):
        read_token("W" + token[1:])


def test_a_row_without_person_gets_no_token():
    with pytest.raises(ValueError):
        make_ack_token(Row(1, 2, None))
