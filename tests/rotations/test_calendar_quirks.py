"""One test per quirk of real calendar exports (the fixtures in calendars/). Pure: no database."""
from datetime import timedelta

from service.rotations.resolve import resolve_calendar

from .helpers import PEOPLE, WINDOW, resolve_fixture, shift_at, t, vcalendar, who

# ---- Google Calendar --------------------------------------------------------------------------


def test_google_weekly_handoff_is_at_local_nine_in_the_vtimezone():
    cal = resolve_fixture("google_berlin.ics")
    assert who(cal, "2026-03-02T07:59") is None
    assert who(cal, "2026-03-02T08:00") == "alice"  # 09:00 CET
    assert who(cal, "2026-03-09T07:59") == "alice"
    assert who(cal, "2026-03-09T08:00") == "bob"


def test_google_handoff_follows_northern_dst():
    cal = resolve_fixture("google_berlin.ics")
    shift = shift_at(cal, "2026-03-30T07:30")  # CEST from 29 March: 09:00 local is 07:00 UTC
    assert who(cal, "2026-03-30T07:30") == "alice"
    assert shift.start == t("2026-03-30T07:00")
    assert shift.end == t("2026-04-06T07:00")


def test_google_exdate_leaves_the_week_uncovered():
    cal = resolve_fixture("google_berlin.ics")
    assert who(cal, "2026-04-14T12:00") is None
    assert who(cal, "2026-04-27T08:00") == "alice"  # the series goes on after the excluded week


def test_google_moved_instance_replaces_its_occurrence():
    cal = resolve_fixture("google_berlin.ics")
    assert who(cal, "2026-03-23T10:59") is None  # Alice's week ended at 08:00 UTC, Bob starts at noon Berlin
    assert who(cal, "2026-03-23T11:00") == "bob"
    bob = [s for s in cal.shifts if s.person_id == 2 and t("2026-03-20") < s.start < t("2026-03-30")]
    assert len(bob) == 1 and bob[0].start == t("2026-03-23T11:00")


def test_google_utc_single_event_matches_its_attendee_not_its_organiser():
    cal = resolve_fixture("google_berlin.ics")
    assert who(cal, "2026-03-18T16:59") == "alice"
    assert who(cal, "2026-03-18T17:00") == "carol"
    assert who(cal, "2026-03-19T07:00") == "alice"


def test_google_utc_recurrence_is_read_in_x_wr_timezone():
    """Google exports some recurring events in UTC; X-WR-TIMEZONE says they repeat at local wall-clock time."""
    cal = resolve_fixture("google_utc_recurring.ics")
    assert shift_at(cal, "2026-03-05T15:00").start == t("2026-03-05T14:00")  # 09:00 EST
    assert shift_at(cal, "2026-03-10T15:00").start == t("2026-03-10T13:00")  # 09:00 EDT after 8 March
    assert who(cal, "2026-03-10T13:30") == "dana"


# ---- Outlook / Exchange -----------------------------------------------------------------------


def test_outlook_quoted_windows_tzid_with_vtimezone():
    cal = resolve_fixture("outlook_windows_tzid.ics", zone="Europe/Berlin")
    assert who(cal, "2026-03-02T08:00") == "erin"
    assert who(cal, "2026-03-09T08:00") == "frank"
    assert shift_at(cal, "2026-03-30T12:00").start == t("2026-03-30T07:00")


def test_outlook_attendee_email_matches_case_insensitively():
    cal = resolve_fixture("outlook_windows_tzid.ics", zone="Europe/Berlin")
    assert who(cal, "2026-03-10T00:00") == "frank"  # ATTENDEE mailto:Frank.Fischer@Example.com
    assert cal.report.people == ["erin", "frank", "gina"]
    assert cal.report.unknown == []


def test_outlook_until_in_utc_is_inclusive():
    cal = resolve_fixture("outlook_windows_tzid.ics", zone="Europe/Berlin")
    assert who(cal, "2026-04-13T08:00") == "erin"  # UNTIL=20260413T070000Z is this very occurrence
    assert who(cal, "2026-04-20T08:00") == "frank"
    assert who(cal, "2026-04-27T08:00") is None


def test_outlook_all_day_event_runs_midnight_to_midnight_in_the_calendar_zone():
    """X-MICROSOFT-CDO-ALLDAYEVENT with VALUE=DATE and no X-WR-TIMEZONE: the policy's zone (here Berlin)."""
    cal = resolve_fixture("outlook_windows_tzid.ics", zone="Europe/Berlin")
    cover = shift_at(cal, "2026-04-06T12:00")
    assert who(cal, "2026-04-06T12:00") == "gina"
    assert (cover.start, cover.end) == (t("2026-04-05T22:00"), t("2026-04-06T22:00"))
    assert who(cal, "2026-04-06T22:00") == "frank"  # the weekly shift resumes after the cover


def test_windows_zone_name_without_vtimezone_and_southern_dst():
    """TZID=AUS Eastern Standard Time, no VTIMEZONE; Sydney leaves DST on 5 April 2026."""
    cal = resolve_fixture("outlook_no_vtimezone.ics")
    assert shift_at(cal, "2026-04-03T23:00").start == t("2026-04-03T22:00")  # 09:00 AEDT (+11)
    long_day = shift_at(cal, "2026-04-04T22:30")
    assert (long_day.start, long_day.end) == (t("2026-04-03T22:00"), t("2026-04-04T23:00"))  # 25 hours
    assert shift_at(cal, "2026-04-06T00:00").start == t("2026-04-05T23:00")  # 09:00 AEST (+10)
    assert who(cal, "2026-04-06T00:00") == "harriet"


def test_exchange_custom_zones_with_the_same_tzid_do_not_bleed_into_each_other():
    """Both files define "Customized Time Zone"; icalendar caches the first process-wide."""
    india = resolve_fixture("exchange_custom_zone_india.ics")
    brazil = resolve_fixture("exchange_custom_zone_brazil.ics")
    assert shift_at(india, "2026-03-03T00:00").start == t("2026-03-02T04:30")  # 10:00 +05:30
    assert shift_at(brazil, "2026-03-03T00:00").start == t("2026-03-02T13:00")  # 10:00 -03:00
    assert who(india, "2026-03-03T00:00") == "ishaan"
    assert who(brazil, "2026-03-03T00:00") == "Plantão - João"  # "João" is no handle; the label stays


# ---- Apple and others -------------------------------------------------------------------------


def test_apple_export_with_nested_valarm_and_southern_autumn_dst():
    cal = resolve_fixture("apple_sydney.ics")
    kenji = shift_at(cal, "2026-04-04T12:00")
    assert who(cal, "2026-04-04T12:00") == "kenji"
    assert (kenji.start, kenji.end) == (t("2026-04-03T22:00"), t("2026-04-04T23:00"))
    assert who(cal, "2026-04-04T23:00") == "lena"


def test_apple_southern_spring_dst_and_a_start_inside_the_gap():
    """02:30 on 4 October 2026 does not exist in Sydney; RFC 5545 reads it with the offset before the gap."""
    cal = resolve_fixture("apple_sydney.ics")
    assert who(cal, "2026-10-03T16:29") == "kenji"
    cover = shift_at(cal, "2026-10-03T16:30")
    assert who(cal, "2026-10-03T16:30") == "lena"
    assert (cover.start, cover.end) == (t("2026-10-03T16:30"), t("2026-10-03T19:30"))
    assert who(cal, "2026-10-03T19:30") == "kenji"
    assert shift_at(cal, "2026-10-03T23:00").start == t("2026-10-03T22:00")  # 09:00 AEDT (+11)


def test_floating_times_are_read_in_the_policy_zone():
    cal = resolve_fixture("floating.ics", zone="America/Chicago")
    assert shift_at(cal, "2026-03-03T00:00").start == t("2026-03-02T14:00")  # 08:00 CST
    assert shift_at(cal, "2026-03-10T00:00").start == t("2026-03-09T13:00")  # 08:00 CDT
    assert who(cal, "2026-03-10T00:00") == "omar"
    assert who(cal, "2026-03-30T00:00") is None  # floating UNTIL 23 March 08:00 includes that start only


def test_all_day_dates_use_x_wr_timezone_midnights_across_dst():
    cal = resolve_fixture("allday_sydney.ics", zone="Europe/London")
    week = shift_at(cal, "2026-04-02T00:00")
    assert who(cal, "2026-04-02T00:00") == "priya"
    assert (week.start, week.end) == (t("2026-03-31T13:00"), t("2026-04-07T14:00"))
    one_day = shift_at(cal, "2026-04-08T00:00")
    assert who(cal, "2026-04-08T00:00") == "quinn"  # an all-day event without DTEND lasts one day
    assert (one_day.start, one_day.end) == (t("2026-04-07T14:00"), t("2026-04-08T14:00"))


def test_recurrence_id_in_another_zone_than_its_master():
    cal = resolve_fixture("recurrence_id_other_zone.ics")
    assert who(cal, "2026-03-09T12:59") == "rosa"
    assert who(cal, "2026-03-09T14:00") is None  # the moved week starts at 15:00 London
    assert who(cal, "2026-03-09T15:00") == "sam"
    assert all(s.person_id != 16 for s in cal.shifts if t("2026-03-09T13:00") <= s.start < t("2026-03-23"))


def test_cancelled_instance_in_utc_removes_that_week():
    cal = resolve_fixture("recurrence_id_other_zone.ics")
    assert who(cal, "2026-03-18T12:00") is None
    assert who(cal, "2026-03-24T12:00") == "rosa"


def test_mozilla_style_tzid_resolves_to_its_iana_zone():
    cal = resolve_fixture("thunderbird_mozilla_tzid.ics")
    assert shift_at(cal, "2026-03-24T00:00").start == t("2026-03-23T07:00")  # 08:00 CET
    assert shift_at(cal, "2026-03-31T00:00").start == t("2026-03-30T06:00")  # 08:00 CEST
    assert who(cal, "2026-03-31T00:00") == "tobias"
    assert cal.report.warnings == []


def test_rdate_list_and_period_and_count():
    cal = resolve_fixture("rdate_and_cancelled.ics")
    starts = [s.start for s in cal.shifts]
    assert starts == [t("2026-03-07T07:00"), t("2026-03-14T07:00"), t("2026-03-21T07:00"),
                      t("2026-04-10T06:00"), t("2026-05-01T06:00")]
    assert shift_at(cal, "2026-05-01T17:59").end == t("2026-05-01T18:00")


def test_cancelled_event_is_ignored_everywhere():
    cal = resolve_fixture("rdate_and_cancelled.ics")
    assert who(cal, "2026-03-14T10:00") == "uma"  # Victor's cancelled event on the same morning is gone
    assert "victor" not in cal.report.people
    assert cal.report.events == 1


# ---- report and warnings ----------------------------------------------------------------------


def test_unknown_tzid_without_definition_warns_and_reads_in_the_calendar_zone():
    text = vcalendar("UID:x\nDTSTART;TZID=Mars/Olympus_Mons:20260302T090000\nDTEND;TZID=Mars/Olympus_Mons:"
                     "20260303T090000\nSUMMARY:alice")
    cal = resolve_calendar(text, PEOPLE, *WINDOW, __import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert shift_at(cal, "2026-03-02T09:00").start == t("2026-03-02T08:00")
    assert any("Mars/Olympus_Mons" in w for w in cal.report.warnings)


def test_unknown_x_wr_timezone_warns_and_falls_back_to_the_policy_zone():
    text = vcalendar("UID:x\nDTSTART:20260302T090000\nDTEND:20260303T090000\nSUMMARY:alice",
                     header="X-WR-TIMEZONE:Middle/Earth\n")
    cal = resolve_calendar(text, PEOPLE, *WINDOW, __import__("zoneinfo").ZoneInfo("UTC"))
    assert shift_at(cal, "2026-03-02T10:00").start == t("2026-03-02T09:00")
    assert any("Middle/Earth" in w for w in cal.report.warnings)


def test_event_without_duration_is_reported_and_ignored():
    text = vcalendar("UID:x\nDTSTART:20260302T090000Z\nSUMMARY:alice",
                     "UID:y\nDTSTART:20260303T090000Z\nDTEND:20260304T090000Z\nSUMMARY:bob")
    cal = resolve_calendar(text, PEOPLE, *WINDOW, __import__("zoneinfo").ZoneInfo("UTC"))
    assert [s.person_id for s in cal.shifts] == [2]
    assert any("no duration" in w for w in cal.report.warnings)


def test_report_counts_events_shifts_people_and_unknown_labels():
    cal = resolve_fixture("google_berlin.ics", people=[p for p in PEOPLE if p.handle != "bob"])
    report = cal.report
    assert report.events == 4
    assert report.people == ["alice", "carol"]
    assert report.unknown == ["On call: Bob Baker"]
    assert report.shifts == len(cal.shifts)
    assert any("name nobody Herald knows" in w for w in report.warnings)
    bob_weeks = [s for s in cal.shifts if s.label == "On call: Bob Baker"]
    assert bob_weeks and all(s.person_id is None for s in bob_weeks)


def test_shifts_are_clipped_to_the_window_and_never_overlap():
    window = (t("2026-03-05T00:00"), t("2026-03-05T00:00") + timedelta(days=20))
    cal = resolve_fixture("google_berlin.ics", window=window)
    assert cal.shifts[0].start == window[0]
    assert cal.shifts[-1].end <= window[1]
    for before, after in zip(cal.shifts, cal.shifts[1:]):
        assert before.end <= after.start
