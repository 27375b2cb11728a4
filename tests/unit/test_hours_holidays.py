"""Public holidays (`PH`) from the `holidays` package, with regions.

The table lists 2026 public holidays of several countries, national and regional: a
`Mo-Su 09:00-18:00; PH off` store is closed at noon local time on each, and open at noon
on the nearest ordinary weekday. Regional holidays apply to stores of that region only.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

import app.hours as hours_module
from app.hours import OpeningHoursError, compile_hours
from app.hours import _holidays as holidays_source
from app.hours._expression import clear_caches

DAILY = "Mo-Su 09:00-18:00; PH off"

# (country, region, zone, holiday in 2026, what it is)
HOLIDAYS_2026 = [
    ("GB", None, "Europe/London", date(2026, 1, 1), "New Year's Day (UK-wide)"),
    ("GB", "ENG", "Europe/London", date(2026, 1, 1), "New Year's Day"),
    ("GB", "ENG", "Europe/London", date(2026, 4, 6), "Easter Monday"),
    ("GB", "ENG", "Europe/London", date(2026, 8, 31), "Summer bank holiday"),
    ("GB", "SCT", "Europe/London", date(2026, 1, 2), "2 January (Scotland)"),
    ("GB", "SCT", "Europe/London", date(2026, 8, 3), "Summer bank holiday (Scotland)"),
    ("GB", "SCT", "Europe/London", date(2026, 11, 30), "St Andrew's Day"),
    ("US", None, "America/New_York", date(2026, 1, 19), "Martin Luther King Jr. Day"),
    ("US", None, "America/New_York", date(2026, 7, 3), "Independence Day (observed)"),
    ("US", None, "America/New_York", date(2026, 11, 26), "Thanksgiving"),
    ("US", "CA", "America/Los_Angeles", date(2026, 3, 31), "Cesar Chavez Day (California)"),
    ("DE", None, "Europe/Berlin", date(2026, 5, 14), "Ascension Day"),
    ("DE", None, "Europe/Berlin", date(2026, 10, 3), "German Unity Day"),
    ("DE", "BY", "Europe/Berlin", date(2026, 1, 6), "Epiphany (Bavaria)"),
    ("DE", "BY", "Europe/Berlin", date(2026, 6, 4), "Corpus Christi (Bavaria)"),
    ("FR", None, "Europe/Paris", date(2026, 5, 8), "Victory in Europe Day"),
    ("FR", None, "Europe/Paris", date(2026, 7, 14), "Bastille Day"),
    ("NL", None, "Europe/Amsterdam", date(2026, 4, 27), "King's Day"),
    ("CH", None, "Europe/Zurich", date(2026, 8, 1), "Swiss National Day"),
    ("AU", None, "Australia/Sydney", date(2026, 1, 26), "Australia Day"),
    ("AU", "VIC", "Australia/Melbourne", date(2026, 11, 3), "Melbourne Cup (Victoria)"),
    ("AU", "NSW", "Australia/Sydney", date(2026, 10, 5), "Labour Day (New South Wales)"),
    ("CA", None, "America/Toronto", date(2026, 7, 1), "Canada Day"),
    ("CA", "ON", "America/Toronto", date(2026, 2, 16), "Family Day (Ontario)"),
    ("CA", "QC", "America/Toronto", date(2026, 6, 24), "Fete nationale (Quebec)"),
    ("JP", None, "Asia/Tokyo", date(2026, 5, 6), "Constitution Day (substitute)"),
    ("JP", None, "Asia/Tokyo", date(2026, 9, 22), "Citizens' Holiday"),
    ("JP", None, "Asia/Tokyo", date(2026, 11, 23), "Labour Thanksgiving Day"),
]
# Regional holidays that other regions (or the country as a whole) do not have.
NOT_HOLIDAYS_2026 = [
    ("GB", "ENG", "Europe/London", date(2026, 1, 2)),
    ("GB", "SCT", "Europe/London", date(2026, 4, 6)),
    ("GB", None, "Europe/London", date(2026, 11, 30)),
    ("US", None, "America/Los_Angeles", date(2026, 3, 31)),
    ("US", "NY", "America/New_York", date(2026, 3, 31)),
    ("DE", None, "Europe/Berlin", date(2026, 1, 6)),
    ("DE", "BE", "Europe/Berlin", date(2026, 1, 6)),
    ("AU", "NSW", "Australia/Sydney", date(2026, 11, 3)),
    ("AU", "VIC", "Australia/Melbourne", date(2026, 10, 5)),
    ("CA", "QC", "America/Toronto", date(2026, 2, 16)),
    ("CA", "ON", "America/Toronto", date(2026, 6, 24)),
]


def noon(zone: str, day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))


def ordinary_weekday_near(country: str, region: str | None, day: date) -> date:
    """The nearest Monday-Friday that is no public holiday of the store."""
    calendar = holidays.country_holidays(country, subdiv=region, years=[2025, 2026, 2027])
    for distance in range(1, 15):
        for candidate in (day + timedelta(days=distance), day - timedelta(days=distance)):
            if candidate.weekday() < 5 and candidate not in calendar:
                return candidate
    raise AssertionError(f"no ordinary weekday near {day}")


@pytest.mark.parametrize(
    ("country", "region", "zone", "holiday", "name"),
    HOLIDAYS_2026,
    ids=[f"{c}-{r or 'all'}-{d}" for c, r, _z, d, _n in HOLIDAYS_2026],
)
def test_store_is_closed_on_each_public_holiday(
    country: str, region: str | None, zone: str, holiday: date, name: str
) -> None:
    hours = compile_hours(DAILY, zone, country, region)
    assert hours.state(noon(zone, holiday)) == "closed", name
    assert not hours.is_open(noon(zone, holiday))
    ordinary = ordinary_weekday_near(country, region, holiday)
    assert hours.state(noon(zone, ordinary)) == "open", ordinary
    # The holiday's evening ends as usual, the next ordinary day opens at 09:00.
    assert hours.opens_at(noon(zone, holiday)) is not None


@pytest.mark.parametrize(("country", "region", "zone", "day"), NOT_HOLIDAYS_2026)
def test_regional_holidays_apply_to_their_region_only(
    country: str, region: str | None, zone: str, day: date
) -> None:
    assert compile_hours(DAILY, zone, country, region).state(noon(zone, day)) == "open"


def test_scotland_and_england_differ_on_2_january() -> None:
    england = compile_hours(DAILY, "Europe/London", "GB", "ENG")
    scotland = compile_hours(DAILY, "Europe/London", "GB", "SCT")
    at = noon("Europe/London", date(2026, 1, 2))
    assert (england.state(at), scotland.state(at)) == ("open", "closed")
    # Thursday 1 January is closed in both: Scotland reopens on Saturday the 3rd.
    evening = noon("Europe/London", date(2026, 1, 1), 20)
    assert england.opens_at(evening) == noon("Europe/London", date(2026, 1, 2), 9)
    assert scotland.opens_at(evening) == noon("Europe/London", date(2026, 1, 3), 9)


def test_gb_without_region_uses_uk_wide_holidays() -> None:
    """New Year's Day was missing from the hours library's GB calendar."""
    shop = compile_hours("Mo-Fr 09:00-18:00; PH off", "Europe/London", "GB")
    assert shop.state(noon("Europe/London", date(2026, 1, 1))) == "closed"
    # Easter Monday and the August bank holiday are not UK-wide: they need the region.
    assert shop.state(noon("Europe/London", date(2026, 4, 6))) == "open"
    england = compile_hours("Mo-Fr 09:00-18:00; PH off", "Europe/London", "GB", "ENG")
    assert england.state(noon("Europe/London", date(2026, 4, 6))) == "closed"
    assert england.state(noon("Europe/London", date(2026, 8, 31))) == "closed"


def test_public_holiday_special_hours() -> None:
    hours = compile_hours("Mo-Su 09:00-18:00; PH 10:00-14:00", "Europe/Paris", "FR")
    zone = "Europe/Paris"
    bastille = date(2026, 7, 14)
    assert hours.state(noon(zone, bastille, 9, 30)) == "closed"
    assert hours.opens_at(noon(zone, bastille, 9, 30)) == noon(zone, bastille, 10)
    assert hours.closes_at(noon(zone, bastille, 9, 30)) == noon(zone, bastille, 14)
    assert hours.state(noon(zone, bastille, 13, 59)) == "open"
    assert hours.next_change(noon(zone, bastille, 11)) == noon(zone, bastille, 14)
    assert hours.state(noon(zone, bastille, 15)) == "closed"
    assert hours.opens_at(noon(zone, bastille, 15)) == noon(zone, date(2026, 7, 15), 9)
    assert hours.interval(noon(zone, date(2026, 7, 13), 17)) == (
        noon(zone, date(2026, 7, 13), 9),
        noon(zone, date(2026, 7, 13), 18),
    )


def test_day_before_a_holiday_and_overnight_hours() -> None:
    zone = "Europe/Paris"
    eve = compile_hours("Mo-Su 09:00-19:00; PH -1 day 09:00-12:00; PH off", zone, "FR")
    assert eve.state(noon(zone, date(2026, 7, 13), 15)) == "closed"  # eve of 14 July
    assert eve.closes_at(noon(zone, date(2026, 7, 13), 10)) == noon(zone, date(2026, 7, 13), 12)
    bar = compile_hours("Mo-Su 20:00-02:00; PH off", zone, "FR")
    # OSM semantics: the holiday closes its own date, including the small hours that the
    # evening before runs into; the holiday's own evening is closed, and so are the small
    # hours after it.
    assert bar.state(noon(zone, date(2026, 7, 13), 23)) == "open"
    assert bar.state(noon(zone, date(2026, 7, 14), 1)) == "closed"
    assert bar.state(noon(zone, date(2026, 7, 14), 21)) == "closed"
    assert bar.state(noon(zone, date(2026, 7, 15), 21)) == "open"


def test_region_is_validated() -> None:
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(DAILY, "Europe/London", "GB", "XYZ")
    assert caught.value.field == "region"
    assert "SCT" in caught.value.message
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(DAILY, "Europe/London", None, "SCT")
    assert caught.value.field == "region"
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(DAILY, "Europe/London", "GB", 7)  # type: ignore[arg-type]
    assert caught.value.field == "region"
    with pytest.raises(OpeningHoursError) as caught:
        compile_hours(DAILY, "Europe/Paris", "FR", "BY")
    assert caught.value.field == "region"


def test_region_codes_and_names() -> None:
    assert compile_hours(DAILY, "Europe/London", "gb", "sct").region == "SCT"
    assert compile_hours(DAILY, "Europe/London", "GB", "Scotland").region == "SCT"
    assert compile_hours(DAILY, "Europe/Berlin", "DE", "Bayern").region == "BY"
    assert compile_hours(DAILY, "Europe/London", "GB", " ").region is None
    # A region without public-holiday rules is fine (validated all the same).
    assert compile_hours("Mo-Fr 09:00-18:00", "America/Toronto", "CA", "QC").region == "QC"


def test_region_is_part_of_the_compile_cache_key() -> None:
    england = compile_hours(DAILY, "Europe/London", "GB", "ENG")
    scotland = compile_hours(DAILY, "Europe/London", "GB", "SCT")
    assert england is not scotland
    assert compile_hours(DAILY, "Europe/London", "GB", "ENG") is england
    assert compile_hours(DAILY, "Europe/London", "GB") is compile_hours(
        DAILY, "Europe/London", "GB", None
    )


def test_module_helpers_take_a_region() -> None:
    at = noon("Europe/London", date(2026, 1, 2))
    assert hours_module.state(DAILY, "Europe/London", "GB", at) == "open"
    assert hours_module.state(DAILY, "Europe/London", "GB", at, region="SCT") == "closed"
    assert not hours_module.is_open(DAILY, "Europe/London", "GB", at, region="SCT")
    assert hours_module.opens_at(DAILY, "Europe/London", "GB", at, region="SCT") == noon(
        "Europe/London", date(2026, 1, 3), 9
    )
    hours_module.validate_expression(DAILY, "Europe/London", "GB", region="SCT")


def test_country_without_holiday_calendar_rejects_ph(monkeypatch: pytest.MonkeyPatch) -> None:
    supported = dict(holidays_source._supported())
    del supported["GB"]
    monkeypatch.setattr(holidays_source, "_supported", lambda: supported)
    clear_caches()
    try:
        with pytest.raises(OpeningHoursError) as caught:
            compile_hours(DAILY, "Europe/London", "GB")
        assert caught.value.field == "country"
        # Hours that do not use PH are fine.
        assert compile_hours("Mo-Fr 09:00-18:00", "Europe/London", "GB").country == "GB"
    finally:
        clear_caches()


def test_without_country_ph_never_applies() -> None:
    hours = compile_hours(DAILY, "Europe/London", None)
    assert hours.state(noon("Europe/London", date(2026, 12, 25))) == "open"
    assert hours.next_change(noon("Europe/London", date(2026, 12, 25))) == noon(
        "Europe/London", date(2026, 12, 25), 18
    )


def test_holidays_in_far_years_and_across_year_ends() -> None:
    hours = compile_hours(DAILY, "America/New_York", "US")
    # New Year's Day 2028 is a Saturday: observed on Friday 31 December 2027.
    assert hours.state(noon("America/New_York", date(2027, 12, 31))) == "closed"
    assert hours.state(noon("America/New_York", date(2028, 1, 1))) == "closed"
    assert hours.state(noon("America/New_York", date(2099, 7, 3))) == "closed"  # a Friday
    assert hours.next_change(noon("America/New_York", date(2027, 12, 30), 19)) == noon(
        "America/New_York", date(2028, 1, 2), 9
    )
