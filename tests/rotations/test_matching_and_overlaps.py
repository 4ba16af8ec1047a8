"""Who an event names and how overlapping events resolve. Pure: no database."""
from zoneinfo import ZoneInfo

import pytest

from service.rotations.matching import PersonMatcher, PersonRef
from service.rotations.resolve import resolve_calendar

from .helpers import PEOPLE, WINDOW, shift_at, t, vcalendar, who

UTC = ZoneInfo("UTC")
ALICE, BOB, CAROL = PEOPLE[0], PEOPLE[1], PEOPLE[2]
matcher = PersonMatcher(PEOPLE)


def _resolve(*events: str):
    return resolve_calendar(vcalendar(*events), PEOPLE, *WINDOW, UTC)


def event(start: str, end: str, summary: str, uid: str | None = None, extra: str = "") -> str:
    uid = uid or f"{summary}-{start}"
    return f"UID:{uid}\nDTSTART:{start}\nDTEND:{end}\nSUMMARY:{summary}\n{extra}"


# ---- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("summary, expected", [
    ("alice", "alice"),
    ("On call: ALICE", "alice"),
    ("Alice Archer (primary)", "alice"),
    ("alice@example.com", "alice"),
    ("On call — alice's week", "alice"),
    ("Malice aforethought", None),  # not a whole word
    ("al", None),
    ("archer", None),  # a surname alone is neither handle, name, email nor alias
])
def test_summary_names_a_person_by_whole_word(summary, expected):
    match = matcher.match(summary)
    assert (match.person.handle if match.person else None) == expected


def test_alias_matches_as_a_whole_word():
    people = [PersonRef(1, "wei", "Zhang Wei", "wei@example.com", ("Vivian", "z.wei@corp.example"))]
    assert PersonMatcher(people).match("Vivian covers").person.handle == "wei"
    assert PersonMatcher(people).match("Vivianne covers").person is None


def test_first_named_wins_and_several_are_reported():
    match = matcher.match("Bob covers for Alice")
    assert match.person.handle == "bob"
    assert [p.handle for p in match.named] == ["bob", "alice"]


def test_longest_term_wins_at_the_same_position():
    people = [PersonRef(1, "bob", "Bob", "bob@example.com"), PersonRef(2, "bob.smith", "Bob Smith", "bs@example.com")]
    assert PersonMatcher(people).match("bob.smith on call").person.handle == "bob.smith"
    assert PersonMatcher(people).match("Bob Smith on call").person.handle == "bob.smith"


def test_attendee_email_beats_the_summary():
    match = matcher.match("Alice on call", [("mailto:BOB@example.com", {})])
    assert (match.person.handle, match.via) == ("bob", "attendee")


def test_declined_attendee_is_not_on_call():
    match = matcher.match("Alice on call", [("mailto:bob@example.com", {"PARTSTAT": "DECLINED"})])
    assert (match.person.handle, match.via) == ("alice", "summary")


def test_organiser_attending_their_own_invitation_is_not_the_one_on_call():
    attendees = [("mailto:alice@example.com", {"ROLE": "CHAIR"}), ("mailto:carol@example.com", {})]
    assert matcher.match("On call", attendees, organizer="mailto:alice@example.com").person.handle == "carol"
    assert matcher.match("On call", attendees[:1], organizer="mailto:alice@example.com").person.handle == "alice"


def test_nobody_known_keeps_the_label():
    cal = _resolve(event("20260302T090000Z", "20260303T090000Z", "Zed from the agency"))
    assert who(cal, "2026-03-02T10:00") == "Zed from the agency"
    assert cal.report.unknown == ["Zed from the agency"]


def test_several_named_warns_once_per_label():
    cal = _resolve(event("20260302T090000Z", "20260303T090000Z", "Bob and Alice", "u1",
                         "RRULE:FREQ=DAILY;COUNT=5"))
    assert who(cal, "2026-03-04T10:00") == "bob"
    assert sum("names several people" in w for w in cal.report.warnings) == 1


# ---- overlaps ---------------------------------------------------------------------------------


def test_cover_beats_the_weekly_shift_even_across_its_handoff():
    cal = _resolve(
        event("20260302T090000Z", "20260309T090000Z", "alice", "week-a"),
        event("20260309T090000Z", "20260316T090000Z", "bob", "week-b"),
        event("20260308T180000Z", "20260310T090000Z", "carol covers", "cover"),
    )
    assert who(cal, "2026-03-08T17:59") == "alice"
    assert who(cal, "2026-03-08T18:00") == "carol"
    assert who(cal, "2026-03-09T09:00") == "carol"  # across the handoff
    assert who(cal, "2026-03-10T09:00") == "bob"
    cover = shift_at(cal, "2026-03-09T12:00")
    assert (cover.start, cover.end) == (t("2026-03-08T18:00"), t("2026-03-10T09:00"))


def test_weekly_shift_resumes_after_a_cover_inside_it_with_a_distinct_uid():
    cal = _resolve(
        event("20260302T090000Z", "20260309T090000Z", "alice", "week-a"),
        event("20260304T090000Z", "20260304T170000Z", "bob", "day-b"),
    )
    alice = [s for s in cal.shifts if s.person_id == ALICE.id]
    assert [(s.start, s.end) for s in alice] == [(t("2026-03-02T09:00"), t("2026-03-04T09:00")),
                                               (t("2026-03-04T17:00"), t("2026-03-09T09:00"))]
    assert alice[0].uid != alice[1].uid and alice[1].uid.startswith(alice[0].uid)


def test_equal_length_overlap_goes_to_the_later_start():
    cal = _resolve(
        event("20260302T000000Z", "20260303T000000Z", "alice"),
        event("20260302T120000Z", "20260303T120000Z", "bob"),
    )
    assert who(cal, "2026-03-02T11:59") == "alice"
    assert who(cal, "2026-03-02T12:00") == "bob"
    assert who(cal, "2026-03-03T06:00") == "bob"


def test_identical_events_naming_different_people_are_warned_about():
    cal = _resolve(
        event("20260302T000000Z", "20260303T000000Z", "alice", "u-a"),
        event("20260302T000000Z", "20260303T000000Z", "bob", "u-b"),
    )
    assert who(cal, "2026-03-02T10:00") in ("alice", "bob")
    assert any("cover exactly the same time" in w for w in cal.report.warnings)
    swapped = _resolve(
        event("20260302T000000Z", "20260303T000000Z", "bob", "u-b"),
        event("20260302T000000Z", "20260303T000000Z", "alice", "u-a"),
    )
    assert who(swapped, "2026-03-02T10:00") == who(cal, "2026-03-02T10:00")  # file order does not decide


def test_gap_between_events_is_nobody():
    cal = _resolve(
        event("20260302T000000Z", "20260302T120000Z", "alice"),
        event("20260302T130000Z", "20260303T000000Z", "bob"),
    )
    assert who(cal, "2026-03-02T12:30") is None
    assert len(cal.shifts) == 2


def test_end_is_exclusive():
    cal = _resolve(event("20260302T000000Z", "20260302T120000Z", "alice"))
    assert who(cal, "2026-03-02T11:59:59") == "alice"
    assert who(cal, "2026-03-02T12:00") is None
