"""Examples for the hours module, with the exact expected instants."""

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import msgspec
import pytest
from opening_hours import OpeningHours, State

import app.hours as hours_module
from app.hours import (
    DayException,
    OpeningHoursError,
    StoreHours,
    TimeRange,
    WeeklyHours,
    closes_at,
    compile_hours,
    is_open,
    minutes_to_close,
    opens_at,
    validate_expression,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(tz: ZoneInfo, *args: int, fold: int = 0) -> datetime:
    """An aware local datetime (fold=1: the second pass of a repeated hour)."""
    return datetime(*args, tzinfo=tz, fold=fold)  # type: ignore[misc]


def same_instant(left: datetime | None, right: datetime) -> bool:
    """Exact instant equality that also checks the result is in the store's zone.

    Compares timestamps: `==` between datetimes of one zone compares wall clocks and
    ignores `fold`, and a fold=1 datetime never equals one in another zone (PEP 495).
    """
    return (
        left is not None and left.timestamp() == right.timestamp() and left.tzinfo == right.tzinfo
    )


def same_interval(
    got: tuple[datetime, datetime | None] | None, start: datetime, end: datetime
) -> bool:
    """Exact instant equality of an interval."""
    return got is not None and same_instant(got[0], start) and same_instant(got[1], end)


# -- regular week, public holidays --------------------------------------------------------

SHOP = "Mo-Fr 09:00-18:00; Sa 10:00-14:00; PH off"


def test_open_weekday_in_london() -> None:
    hours = compile_hours(SHOP, "Europe/London", "GB")
    at = utc(2026, 3, 27, 12)  # Friday, GMT
    assert hours.state(at) == "open"
    assert hours.is_open(at)
    assert same_interval(
        hours.interval(at), local(LONDON, 2026, 3, 27, 9), local(LONDON, 2026, 3, 27, 18)
    )
    assert same_instant(hours.opens_at(at), local(LONDON, 2026, 3, 27, 9))
    assert same_instant(hours.closes_at(at), local(LONDON, 2026, 3, 27, 18))
    assert hours.minutes_to_close(at) == 360.0
    assert same_instant(hours.next_change(at), local(LONDON, 2026, 3, 27, 18))


def test_closed_evening_opens_next_morning_and_intervals_are_half_open() -> None:
    hours = compile_hours(SHOP, "Europe/London", "GB")
    at = utc(2026, 3, 27, 18)  # exactly closing time
    assert hours.state(at) == "closed"
    assert hours.interval(at) is None
    assert hours.minutes_to_close(at) is None
    assert same_instant(hours.opens_at(at), local(LONDON, 2026, 3, 28, 10))
    assert same_instant(hours.closes_at(at), local(LONDON, 2026, 3, 28, 14))
    # Saturday 14:00 -> Monday 09:00, which is already BST (+01:00).
    monday = hours.opens_at(utc(2026, 3, 28, 14))
    assert same_instant(monday, local(LONDON, 2026, 3, 30, 9))
    assert monday is not None
    assert monday.utcoffset() == timedelta(hours=1)


def test_public_holidays_close_the_store() -> None:
    hours = compile_hours(SHOP, "Europe/London", "GB")
    assert hours.state(utc(2026, 12, 25, 12)) == "closed"  # Christmas, a Friday
    # Boxing Day falls on Saturday and its substitute is Monday Dec 28: the `holidays`
    # calendar lists both, so both are closed.
    assert hours.state(utc(2026, 12, 26, 12)) == "closed"
    assert same_instant(hours.opens_at(utc(2026, 12, 24, 19)), local(LONDON, 2026, 12, 29, 9))
    assert hours.state(utc(2026, 12, 28, 12)) == "closed"
    assert same_instant(hours.opens_at(utc(2026, 12, 26, 15)), local(LONDON, 2026, 12, 29, 9))
    # Without a country there are no holidays.
    assert compile_hours(SHOP, "Europe/London", None).state(utc(2026, 12, 25, 12)) == "open"


def test_us_holiday_uses_country_calendar() -> None:
    hours = compile_hours("Mo-Su 08:00-20:00; PH off", "America/New_York", "us")
    assert hours.country == "US"
    assert hours.state(local(NEW_YORK, 2026, 11, 26, 12)) == "closed"  # Thanksgiving
    assert hours.state(local(NEW_YORK, 2026, 7, 3, 12)) == "closed"  # July 4th, observed
    assert hours.state(local(NEW_YORK, 2026, 11, 27, 12)) == "open"


def test_split_day_with_lunch_break() -> None:
    hours = compile_hours("Mo-Fr 09:00-12:00,14:00-18:00", "Europe/Paris", "FR")
    paris = ZoneInfo("Europe/Paris")
    at = local(paris, 2026, 1, 5, 12, 30)
    assert hours.state(at) == "closed"
    assert same_instant(hours.opens_at(at), local(paris, 2026, 1, 5, 14))
    assert same_instant(hours.closes_at(at), local(paris, 2026, 1, 5, 18))
    morning = local(paris, 2026, 1, 5, 11)
    assert hours.minutes_to_close(morning) == 60.0


def test_overnight_span_crosses_midnight() -> None:
    hours = compile_hours("Fr-Sa 22:00-02:00", "Europe/London", None)
    at = utc(2026, 1, 10, 1)  # Saturday 01:00, inside Friday's span
    assert same_interval(
        hours.interval(at), local(LONDON, 2026, 1, 9, 22), local(LONDON, 2026, 1, 10, 2)
    )
    assert hours.minutes_to_close(at) == 60.0
    assert same_instant(hours.opens_at(utc(2026, 1, 10, 2)), local(LONDON, 2026, 1, 10, 22))
    assert same_instant(hours.closes_at(utc(2026, 1, 10, 2)), local(LONDON, 2026, 1, 11, 2))


def test_24_7_never_closes() -> None:
    hours = compile_hours("24/7", "Asia/Kolkata", "IN")
    at = utc(2026, 6, 1, 12)
    assert hours.state(at) == "open"
    assert hours.closes_at(at) is None
    assert hours.next_change(at) is None
    assert hours.minutes_to_close(at) is None
    # Open for the whole 400-day look-back: the start is clamped to it.
    interval = hours.interval(at)
    assert interval is not None
    assert interval[0] == at - timedelta(days=400)
    assert interval[1] is None
    assert hours.opens_at(at) == at - timedelta(days=400)


def test_dated_exceptions() -> None:
    hours = compile_hours(
        "Mo-Su 09:00-18:00; Dec 24 10:00-14:00; Dec 25 off", "Europe/London", "GB"
    )
    assert hours.state(utc(2026, 12, 24, 9, 30)) == "closed"
    assert same_instant(hours.opens_at(utc(2026, 12, 24, 9, 30)), local(LONDON, 2026, 12, 24, 10))
    assert same_instant(hours.closes_at(utc(2026, 12, 24, 9, 30)), local(LONDON, 2026, 12, 24, 14))
    assert hours.state(utc(2026, 12, 25, 12)) == "closed"
    assert same_instant(hours.opens_at(utc(2026, 12, 25, 12)), local(LONDON, 2026, 12, 26, 9))


def test_seasonal_shop_is_found_months_ahead() -> None:
    hours = compile_hours("Dec 24 10:00-14:00; Dec 25 off", "Europe/London", "GB")
    at = utc(2026, 1, 2)
    assert same_instant(hours.opens_at(at), local(LONDON, 2026, 12, 24, 10))
    assert same_instant(hours.closes_at(at), local(LONDON, 2026, 12, 24, 14))
    summer = compile_hours("Jun-Aug Mo-Su 10:00-18:00", "Europe/London", "GB")
    assert same_instant(summer.opens_at(at), local(LONDON, 2026, 6, 1, 10))


def test_nothing_within_the_400_day_horizon_is_none() -> None:
    hours = compile_hours("2028 Jun 1 10:00-12:00", "Europe/London", None)
    assert hours.opens_at(utc(2026, 1, 1)) is None
    assert hours.closes_at(utc(2026, 1, 1)) is None
    assert same_instant(hours.opens_at(utc(2027, 6, 1)), local(LONDON, 2028, 6, 1, 10))


# -- DST -----------------------------------------------------------------------------


def test_london_spring_gap_opens_at_first_valid_instant() -> None:
    # 2026-03-29: 01:00 GMT jumps to 02:00 BST; 01:30 never happens.
    hours = compile_hours("Mo-Su 01:30-03:00", "Europe/London", "GB")
    at = utc(2026, 3, 29, 0, 30)
    assert hours.state(at) == "closed"
    assert same_instant(hours.opens_at(at), local(LONDON, 2026, 3, 29, 2))
    assert same_interval(
        hours.interval(utc(2026, 3, 29, 1)),
        local(LONDON, 2026, 3, 29, 2),
        local(LONDON, 2026, 3, 29, 3),
    )
    assert hours.minutes_to_close(utc(2026, 3, 29, 1)) == 60.0


def test_london_autumn_fold_is_open_during_both_passes() -> None:
    # 2026-10-25: 02:00 BST falls back to 01:00 GMT; 01:00-02:00 happens twice.
    hours = compile_hours("Mo-Su 01:00-02:00", "Europe/London", "GB")
    first_pass = utc(2026, 10, 25, 0, 30)  # 01:30 BST
    second_pass = utc(2026, 10, 25, 1, 30)  # 01:30 GMT
    expected = (local(LONDON, 2026, 10, 25, 1), local(LONDON, 2026, 10, 25, 2))
    assert same_interval(hours.interval(first_pass), *expected)
    assert same_interval(hours.interval(second_pass), *expected)
    assert hours.minutes_to_close(first_pass) == 90.0
    assert hours.minutes_to_close(second_pass) == 30.0
    assert hours.state(utc(2026, 10, 25, 2)) == "closed"


def test_new_york_spring_gap() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    hours = compile_hours("Mo-Su 02:30-04:00", "America/New_York", "US")
    at = local(NEW_YORK, 2026, 3, 8, 1)
    assert same_instant(hours.opens_at(at), local(NEW_YORK, 2026, 3, 8, 3))
    assert same_instant(hours.closes_at(at), local(NEW_YORK, 2026, 3, 8, 4))
    night = compile_hours("Mo-Su 22:00-02:30", "America/New_York", "US")
    evening = local(NEW_YORK, 2026, 3, 7, 22)
    assert same_instant(night.closes_at(evening), local(NEW_YORK, 2026, 3, 8, 3))
    assert night.minutes_to_close(evening) == 240.0  # 4.5 wall-clock hours, 4 real ones


def test_new_york_fold_opens_on_the_first_pass() -> None:
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    hours = compile_hours("Mo-Su 01:00-02:00", "America/New_York", "US")
    at = local(NEW_YORK, 2026, 11, 1, 0, 30)
    assert same_instant(hours.opens_at(at), local(NEW_YORK, 2026, 11, 1, 1))  # EDT
    assert same_instant(hours.closes_at(at), local(NEW_YORK, 2026, 11, 1, 2))  # EST
    assert hours.state(utc(2026, 11, 1, 5, 0)) == "open"  # 01:00 EDT


def test_new_york_fold_reports_the_repeated_hour_changes() -> None:
    hours = compile_hours("Mo-Su 01:40-03:00", "America/New_York", "US")
    first_pass = local(NEW_YORK, 2026, 11, 1, 1, 50)  # EDT, open
    assert hours.state(first_pass) == "open"
    # The wall clock goes back to 01:00: closed again until 01:40 EST.
    assert same_instant(hours.next_change(first_pass), local(NEW_YORK, 2026, 11, 1, 1, fold=1))
    second_pass = local(NEW_YORK, 2026, 11, 1, 1, 20, fold=1)
    assert hours.state(second_pass) == "closed"
    assert same_instant(hours.opens_at(second_pass), local(NEW_YORK, 2026, 11, 1, 1, 40, fold=1))
    assert same_instant(hours.closes_at(second_pass), local(NEW_YORK, 2026, 11, 1, 3))


def test_sydney_both_directions() -> None:
    hours = compile_hours("Mo-Su 02:30-04:00", "Australia/Sydney", "AU")
    # 2026-10-04: 02:00 AEST jumps to 03:00 AEDT.
    assert same_instant(
        hours.opens_at(local(SYDNEY, 2026, 10, 4, 1)), local(SYDNEY, 2026, 10, 4, 3)
    )
    fold = compile_hours("Mo-Su 02:00-03:00", "Australia/Sydney", "AU")
    # 2026-04-05: 03:00 AEDT falls back to 02:00 AEST: open 02:00 AEDT to 03:00 AEST.
    at = utc(2026, 4, 4, 15, 30)  # 02:30 AEDT
    assert same_interval(
        fold.interval(at), local(SYDNEY, 2026, 4, 5, 2), local(SYDNEY, 2026, 4, 5, 3)
    )
    assert fold.minutes_to_close(at) == 90.0


def test_kolkata_half_hour_offset() -> None:
    hours = compile_hours("Mo-Fr 09:00-18:00", "Asia/Kolkata", "IN")
    at = utc(2026, 1, 5, 3)  # 08:30 IST, Monday
    assert hours.state(at) == "closed"
    opening = hours.opens_at(at)
    assert same_instant(opening, local(KOLKATA, 2026, 1, 5, 9))
    assert opening == utc(2026, 1, 5, 3, 30)
    assert hours.closes_at(at) == utc(2026, 1, 5, 12, 30)


def test_lord_howe_half_hour_dst() -> None:
    # 2026-10-04: 02:00 (+10:30) jumps to 02:30 (+11:00).
    hours = compile_hours("Mo-Su 02:00-03:00", "Australia/Lord_Howe", "AU")
    at = local(LORD_HOWE, 2026, 10, 4, 1)
    assert same_instant(hours.opens_at(at), local(LORD_HOWE, 2026, 10, 4, 2, 30))
    assert hours.opens_at(at) == utc(2026, 10, 3, 15, 30)
    assert hours.minutes_to_close(utc(2026, 10, 3, 15, 30)) == 30.0
    # 2026-04-05: 02:00 (+11:00) falls back to 01:30 (+10:30); 01:30-02:00 happens twice.
    fold = compile_hours("Mo-Su 01:30-02:00", "Australia/Lord_Howe", "AU")
    start = utc(2026, 4, 4, 14, 30)  # 01:30 +11:00
    assert same_interval(
        fold.interval(start), local(LORD_HOWE, 2026, 4, 5, 1, 30), local(LORD_HOWE, 2026, 4, 5, 2)
    )
    assert fold.minutes_to_close(start) == 60.0


# -- library bugs the module works around (canaries: they fail when the library changes) -


def test_library_aware_mode_opens_fold_hour_late() -> None:
    oh = OpeningHours("Mo-Su 01:00-02:00", timezone=NEW_YORK)
    before = local(NEW_YORK, 2026, 11, 1, 0, 30)
    late = oh.next_change(before)
    assert late is not None
    assert late.timestamp() == utc(2026, 11, 1, 6).timestamp()  # 01:00 EST: an hour late...
    assert oh.state(utc(2026, 11, 1, 5, 30).astimezone(NEW_YORK))[0] == State.OPEN  # ...yet


def test_library_aware_mode_misses_changes_in_the_repeated_hour() -> None:
    oh = OpeningHours("Mo-Su 01:40-03:00", timezone=NEW_YORK)
    first_pass = local(NEW_YORK, 2026, 11, 1, 1, 50)
    found = oh.next_change(first_pass)
    assert found is not None
    assert found.timestamp() == utc(2026, 11, 1, 8).timestamp()  # skips 01:00-01:40 EST
    assert oh.state(local(NEW_YORK, 2026, 11, 1, 1, 20, fold=1))[0] == State.CLOSED


def test_library_rejects_gap_times_and_fixed_offsets() -> None:
    oh = OpeningHours("24/7", timezone=NEW_YORK)
    with pytest.raises(TypeError, match="incompatible timezone"):
        oh.state(local(NEW_YORK, 2026, 3, 8, 2, 30))
    with pytest.raises(TypeError):
        oh.state(datetime(2026, 3, 8, 12, tzinfo=UTC))
    hours = compile_hours("24/7", "America/New_York", "US")
    assert hours.state(local(NEW_YORK, 2026, 3, 8, 2, 30)) == "open"
    assert hours.state(datetime(2026, 3, 8, 12, tzinfo=timezone(timedelta(hours=-3)))) == "open"


def test_library_fallback_rule_next_change_is_wrong() -> None:
    oh = OpeningHours("Mo-Fr 09:00-18:00 || unknown")
    assert oh.next_change(datetime(2026, 1, 9, 19)) is None  # but Saturday is unknown
    hours = compile_hours("Mo-Fr 09:00-18:00 || unknown", "Europe/London", "GB")
    friday_evening = utc(2026, 1, 9, 19)
    assert hours.state(friday_evening) == "closed"
    assert same_instant(hours.next_change(friday_evening), local(LONDON, 2026, 1, 10))
    assert hours.state(utc(2026, 1, 10, 12)) == "unknown"
    assert same_instant(hours.opens_at(utc(2026, 1, 10, 12)), local(LONDON, 2026, 1, 12, 9))


def test_library_reads_blank_as_24_7() -> None:
    assert OpeningHours("   ").state(datetime(2026, 1, 1))[0] == State.OPEN


# -- unknown -------------------------------------------------------------------------


@pytest.mark.parametrize("expression", [None, "", "   "])
def test_no_expression_is_unknown(expression: str | None) -> None:
    hours = compile_hours(expression, "Europe/London", "GB")
    at = utc(2026, 1, 5, 12)
    assert hours.expression == ""
    assert hours.state(at) == "unknown"
    assert not hours.is_open(at)
    assert hours.opens_at(at) is None
    assert hours.closes_at(at) is None
    assert hours.interval(at) is None
    assert hours.next_change(at) is None
    assert hours.minutes_to_close(at) is None


def test_unknown_rule_and_comment() -> None:
    hours = compile_hours('Mo-Fr 09:00-18:00; Sa unknown "call us"', "Europe/London", "GB")
    saturday = utc(2026, 1, 10, 12)
    assert hours.state(saturday) == "unknown"
    assert not hours.is_open(saturday)
    assert hours.comment(saturday) == "call us"
    assert same_instant(hours.opens_at(saturday), local(LONDON, 2026, 1, 12, 9))
    assert same_instant(hours.next_change(saturday), local(LONDON, 2026, 1, 11))
    # A comment on an open rule keeps it open.
    assert compile_hours('open "call us"', "UTC", None).state(saturday) == "open"


# -- bad input -----------------------------------------------------------------------


def test_naive_datetime_is_rejected() -> None:
    hours = compile_hours(SHOP, "Europe/London", "GB")
    with pytest.raises(ValueError, match="naive"):
        hours.state(datetime(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="naive"):
        is_open(SHOP, "Europe/London", "GB", datetime(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="supported range"):
        hours.state(datetime(1, 1, 1, tzinfo=UTC))


def test_invalid_expression_names_the_offending_part() -> None:
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours("Mo-Fr 09:00-25:61", "Europe/London", "GB")
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.field == "opening_hours"
    assert error.expression == "Mo-Fr 09:00-25:61"
    assert (error.line, error.column, error.position) == (1, 16, 15)
    assert error.fragment == "61"
    assert error.expected == "minute"
    assert error.message == (
        "Invalid opening_hours expression at column 16, near '61' in rule "
        "'Mo-Fr 09:00-25:61': expected minute"
    )
    assert error.to_dict()["fragment"] == "61"


def test_invalid_rule_in_the_middle() -> None:
    with pytest.raises(OpeningHoursError) as caught:
        validate_expression("Mo-Fr 09:00-18:00; Sx 10:00-12:00; PH off")
    assert caught.value.position == 19
    assert caught.value.fragment == "Sx"
    assert caught.value.rule == "Sx 10:00-12:00"


def test_multiline_error_keeps_line_and_column() -> None:
    with pytest.raises(OpeningHoursError) as caught:
        validate_expression("Mo-Fr 09:00-18:00;\nSa 10:00-14:00")
    assert (caught.value.line, caught.value.column, caught.value.position) == (1, 19, 18)
    assert caught.value.fragment == "\n"


@pytest.mark.parametrize(
    ("timezone_name", "country", "field"),
    [
        ("Mars/Olympus", "GB", "timezone"),
        ("", "GB", "timezone"),
        ("../etc/passwd", "GB", "timezone"),
        ("Europe/London", "XX", "country"),
        ("Europe/London", "GBR", "country"),
    ],
)
def test_bad_zone_or_country(timezone_name: str, country: str, field: str) -> None:
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(SHOP, timezone_name, country)
    assert caught.value.field == field
    assert caught.value.message


def test_school_holidays_are_rejected() -> None:
    with pytest.raises(OpeningHoursError, match="School holidays") as caught:
        compile_hours("Mo-Fr 09:00-18:00; SH off", "Europe/Paris", "FR")
    assert caught.value.position == 19


def test_validate_expression_accepts_valid_and_blank() -> None:
    assert validate_expression(SHOP, "Europe/London", "GB") is None
    assert validate_expression(None) is None


# -- caching and module-level helpers -------------------------------------------------


def test_compile_is_cached_and_normalised() -> None:
    first = compile_hours(SHOP, "Europe/London", "gb")
    assert compile_hours(SHOP, "Europe/London", "GB") is first
    assert compile_hours(f"  {SHOP} ", "Europe/London", "GB") is first
    assert isinstance(first, StoreHours)
    assert (first.expression, first.timezone, first.country) == (SHOP, "Europe/London", "GB")


def test_module_level_helpers() -> None:
    at = utc(2026, 3, 27, 12)
    assert is_open(SHOP, "Europe/London", "GB", at)
    assert same_instant(opens_at(SHOP, "Europe/London", "GB", at), local(LONDON, 2026, 3, 27, 9))
    assert same_instant(closes_at(SHOP, "Europe/London", "GB", at), local(LONDON, 2026, 3, 27, 18))
    assert minutes_to_close(SHOP, "Europe/London", "GB", at) == 360.0
    assert hours_module.state(SHOP, "Europe/London", "GB", at) == "open"
    assert hours_module.interval(SHOP, "Europe/London", "GB", at) is not None
    assert hours_module.next_change(SHOP, "Europe/London", "GB", at) == utc(2026, 3, 27, 18)


# -- structured weekly form -----------------------------------------------------------

NINE_TO_SIX = (TimeRange(open="09:00", close="18:00"),)


def test_weekly_from_and_to_expression() -> None:
    weekly = WeeklyHours.from_expression(SHOP)
    assert weekly == WeeklyHours(
        monday=NINE_TO_SIX,
        tuesday=NINE_TO_SIX,
        wednesday=NINE_TO_SIX,
        thursday=NINE_TO_SIX,
        friday=NINE_TO_SIX,
        saturday=(TimeRange(open="10:00", close="14:00"),),
        public_holidays_closed=True,
    )
    assert weekly.to_expression() == SHOP


def test_weekly_exceptions_and_overnight() -> None:
    weekly = WeeklyHours(
        friday=(TimeRange(open="22:00", close="02:00"),),
        saturday=(TimeRange(open="10:00", close="14:00"),),
        exceptions=(
            DayException(date="12-24", intervals=(TimeRange(open="10:00", close="14:00"),)),
            DayException(date="2026-12-25", closed=True),
        ),
    )
    expression = weekly.to_expression()
    # ', ' keeps Friday's overnight range alive past midnight despite the Saturday rule.
    assert expression == "Fr 22:00-02:00, Sa 10:00-14:00; Dec 24 10:00-14:00; 2026 Dec 25 off"
    assert WeeklyHours.from_expression(expression) == weekly
    hours = compile_hours(expression, "Europe/London", None)
    assert hours.state(utc(2026, 1, 10, 1)) == "open"  # Saturday 01:00


def test_weekly_from_expression_follows_osm_override_semantics() -> None:
    # With '; ' the Saturday rule cuts Friday's overnight range at midnight.
    weekly = WeeklyHours.from_expression("Fr 22:00-02:00; Sa 10:00-14:00")
    assert weekly is not None
    assert weekly.friday == (TimeRange(open="22:00", close="24:00"),)
    full = WeeklyHours.from_expression("24/7")
    assert full is not None
    assert full.sunday == (TimeRange(open="00:00", close="24:00"),)


@pytest.mark.parametrize(
    "expression",
    [
        "Jun-Aug 10:00-18:00",
        'Mo-Fr 09:00-18:00 "by appointment"',
        "unknown",
        "Mo-Fr 09:00-18:00 || unknown",
        "PH off; Mo-Fr 09:00-18:00",  # PH first: weekday rule overrides it
        "sunrise-sunset",
        "",
    ],
)
def test_weekly_returns_none_for_inexpressible(expression: str) -> None:
    assert WeeklyHours.from_expression(expression) is None


def test_weekly_raises_for_invalid_expression() -> None:
    with pytest.raises(OpeningHoursError) as caught:
        WeeklyHours.from_expression("Mo-Fr 09:00-25:61")
    assert caught.value.fragment == "61"


def test_weekly_json_validation() -> None:
    raw = b'{"monday": [{"open": "09:00", "close": "18:00"}], "exceptions": []}'
    decoded = msgspec.json.decode(raw, type=WeeklyHours)
    assert decoded.monday == NINE_TO_SIX
    assert decoded.to_expression() == "Mo 09:00-18:00"
    assert WeeklyHours().to_expression() == "closed"
    for bad in (
        b'{"monday": [{"open": "9:00", "close": "18:00"}]}',
        b'{"monday": [{"open": "14:00", "close": "18:00"}, {"open": "09:00", "close": "12:00"}]}',
        b'{"monday": [{"open": "10:00", "close": "10:00"}]}',
        b'{"exceptions": [{"date": "2026-02-30", "closed": true}]}',
        b'{"exceptions": [{"date": "12-25"}]}',
        b'{"exceptions": [{"date": "12-25", "closed": true}, {"date": "12-25", "closed": true}]}',
    ):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(bad, type=WeeklyHours)
