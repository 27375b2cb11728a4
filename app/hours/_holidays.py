"""Public-holiday calendars for `PH`, from the maintained `holidays` package.

The hours library ships its own calendars, but they have gaps (its GB calendar lacks New
Year's Day, Easter Monday and the August bank holiday) and no subdivisions, and its Python
API takes no custom calendar. So `PH` is evaluated by this package instead (see
`app.hours._plan`), with the calendars of the `holidays` package:

* ``region`` is an ISO 3166-2 subdivision code as `holidays` names it ("SCT", "BY", "NSW",
  "ON", "CA"), or one of its subdivision names or aliases; it selects the regional
  holidays (2 January in Scotland, Epiphany in Bavaria, ...).
* Without a region, `PH` means the holidays `holidays` lists for the whole country (for GB
  the UK-wide ones: Easter Monday and the August bank holiday are not UK-wide).
* Observed (substitute) days are holidays too: Boxing Day on a Saturday is listed, and so
  is its substitute, Monday 28 December.
* The package's calendars end around 2100: later, `PH` never matches.

Importing `holidays` loads every country module (~0.2 s); this module does it at import, so
that no request pays it.
"""

import functools
from collections.abc import Mapping
from datetime import date

import holidays as _holidays_pkg

from app.hours._errors import OpeningHoursError

__all__ = ["check_region", "has_calendar", "holiday_dates", "regions"]


@functools.cache
def _supported() -> Mapping[str, tuple[str, ...]]:
    return {
        country: tuple(subdivisions)
        for country, subdivisions in _holidays_pkg.list_supported_countries().items()
    }


@functools.cache
def _region_names(country: str) -> Mapping[str, str]:
    """Upper-cased code, name or alias -> the code `holidays` expects, for one country."""
    names = {code.upper(): code for code in _supported().get(country, ())}
    entity = _holidays_pkg.country_holidays(country, years=())
    for alias, code in getattr(type(entity), "subdivisions_aliases", {}).items():
        names.setdefault(alias.upper(), code)
    return names


def has_calendar(country: str) -> bool:
    """Return whether `holidays` knows the public holidays of `country` (alpha-2)."""
    return country in _supported()


def regions(country: str) -> tuple[str, ...]:
    """Return the subdivision codes `holidays` knows for `country` (may be empty)."""
    return _supported().get(country, ())


def check_region(country: str | None, region: str | None) -> str | None:
    """Validate `region` for `country` and return its canonical code (None stays None).

    Raises:
        OpeningHoursError: field 'region', when the region is not a string, is given
            without a country, or is not a subdivision of the country.
    """
    if region is None:
        return None
    if not isinstance(region, str):
        raise OpeningHoursError("region must be a string", field="region")
    stripped = region.strip()
    if not stripped:
        return None
    if country is None:
        raise OpeningHoursError(
            "region requires a country (an ISO 3166-1 alpha-2 code such as 'GB')",
            field="region",
            value=region,
            fragment=region,
        )
    code = _region_names(country).get(stripped.upper()) if has_calendar(country) else None
    if code is None:
        known = regions(country)
        hint = f"one of {', '.join(known[:12])}{', ...' if len(known) > 12 else ''}"
        raise OpeningHoursError(
            f"Unknown region {region!r} for country {country!r}: expected "
            + (hint if known else "no region (the country has no subdivisions)"),
            field="region",
            value=region,
            fragment=region,
        )
    return code


@functools.lru_cache(maxsize=4096)
def holiday_dates(country: str, region: str | None, year: int) -> frozenset[date]:
    """Return the public holidays (including observed days) `holidays` lists for a year.

    An observed day may fall in the neighbouring year (New Year's Day on a Saturday is
    observed on 31 December): callers take the union over the years around a date.
    """
    return frozenset(_holidays_pkg.country_holidays(country, subdiv=region, years=year))


# Pay the one-off import of all country modules now, not in the first request.
holiday_dates("GB", None, 2026)
