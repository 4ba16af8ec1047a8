"""Fixtures of the on-call tests: a two-person weekly rotation, people in both hemispheres, the outbox."""
import pytest

from service.wiring import run_tick
from tests.conftest import ADMIN
from tests.rotations.helpers import vcalendar


def weekly(first: str, second: str, since: str = "20260302T090000", zone: str = "Europe/London") -> str:
    """`first` and `second` alternate weekly, handing over on Mondays 09:00 in `zone`, from `since` (a Monday)."""
    day = int(since[6:8])
    return vcalendar(
        f"UID:first@test\nDTSTART;TZID={zone}:{since}\nDURATION:P7D\nRRULE:FREQ=WEEKLY;INTERVAL=2\nSUMMARY:On call: {first}",
        f"UID:second@test\nDTSTART;TZID={zone}:{since[:6]}{day + 7:02d}{since[8:]}\nDURATION:P7D\n"
        f"RRULE:FREQ=WEEKLY;INTERVAL=2\nSUMMARY:On call: {second}",
        header=f"X-WR-TIMEZONE:{zone}\n",
    )


@pytest.fixture
def people(make_person):
    """Alice in London, Bob in Sydney (DST in the southern summer), Carol with no zone of her own (the policy's)."""
    make_person("alice", "Alice Archer", timezone="Europe/London")
    make_person("bob", "Bob Baker", timezone="Australia/Sydney")
    make_person("carol", "Carol Chen")


@pytest.fixture
def put_calendar(client):
    def put(name: str, text: str):
        response = client.put(f"/api/rotations/{name}/calendar", data=text.encode(),
                              headers={**ADMIN, "Content-Type": "text/calendar"})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return put


@pytest.fixture
def outbox(client):
    """The outbox rows of a kind (optionally for one recipient handle), oldest first."""
    def rows(kind: str, recipient: str | None = None) -> list[dict]:
        query = f"/api/notifications?kind={kind}&limit=200" + (f"&recipient={recipient}" if recipient else "")
        response = client.get(query, headers=ADMIN)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return rows


@pytest.fixture
def tick(frozen_clock):
    """Set the clock to `moment` (when given) and run one tick."""
    def run(moment=None):
        if moment is not None:
            frozen_clock.set(moment)
        results = run_tick(frozen_clock.now())
        assert all(r == "ok" for r in results.values()), results
        return results

    return run


from tests.acks.conftest import smtp_sink  # noqa: E402,F401  (aiosmtpd on loopback)
from tests.notify.conftest import certificate, graph, trust  # noqa: E402,F401  (the HTTPS Graph double)
