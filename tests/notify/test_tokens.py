import pytest

from service.ack_tokens import InvalidAckToken, make_ack_token, read_ack_token
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


def test_expired_token_is_refused(monkeypatch):
    import itsdangerous.timed

    token = make_ack_token(Row(1, 2, 3))
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) + 31 * 86400)
    with pytest.raises(InvalidAckToken):
        read_ack_token(token)


def test_a_row_without_person_gets_no_token():
    with pytest.raises(ValueError):
        make_ack_token(Row(1, 2, None))
