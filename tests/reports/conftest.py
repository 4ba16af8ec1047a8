from tests.oncall.conftest import outbox, people, put_calendar, tick  # noqa: F401
