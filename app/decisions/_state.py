"""Working state of one :func:`~app.decisions.policy.decide` call (private, pure).

:class:`Situation` holds the inputs and what is derived from them once (the store's local
time, its hours state, the moments found); :class:`Contender` is one campaign on its way
through eligibility, the gates and the ranking. Both live for one call only.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.hours import OpeningHoursError, compile_hours

if TYPE_CHECKING:
    from app.context import CustomerContext
    from app.decisions.inputs import CampaignFacts, DecisionInputs, EventFacts, StoreFacts
    from app.decisions.reasons import Reason
    from app.decisions.settings import PolicySettings
    from app.hours import HoursState, StoreHours
    from app.moments import Moment

__all__ = ["Contender", "Situation", "zone"]

UTC = dt.UTC


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone ``name``, or None when it is missing or unknown (never raises)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class Situation:
    """The inputs of one decision and what is derived from them, each at most once.

    The store's hours are compiled and queried only when a gate asks (most decisions stop at
    consent or event quality before that); moments are set once the preconditions pass.
    """

    __slots__ = (
        "_closes_at",
        "_hours",
        "_inputs",
        "_now_local",
        "_opens_at",
        "_state",
        "customer",
        "event",
        "found_moments",
        "moments",
        "now",
        "settings",
        "settings_version",
        "store",
        "store_zone",
    )

    def __init__(self, inputs: DecisionInputs, now: dt.datetime) -> None:
        self._inputs = inputs
        self.customer: CustomerContext = inputs.customer
        self.store: StoreFacts = inputs.store
        self.event: EventFacts = inputs.event
        self.settings: PolicySettings = inputs.settings
        self.settings_version = inputs.settings_version
        self.now = now
        self.moments: tuple[Moment, ...] = ()
        self.found_moments: tuple[str, ...] = ()
        self.store_zone: dt.tzinfo = zone(self.store.timezone) or UTC
        self._now_local: dt.datetime | None = None
        self._hours: StoreHours | bool | None = False  # False: not compiled yet
        self._state: HoursState | None = None
        self._opens_at: dt.datetime | bool | None = False
        self._closes_at: dt.datetime | bool | None = False

    def set_moments(self, moments: tuple[Moment, ...]) -> None:
        self.moments = moments
        self.found_moments = tuple(m.code for m in moments)

    @property
    def hours(self) -> StoreHours | None:
        """The store's compiled hours; None when unknown (no expression, or one that no
        longer compiles, or an unknown zone): never invite when unsure."""
        if self._hours is False:
            hours = self._inputs.hours
            store = self.store
            if hours is None and zone(store.timezone) is not None:
                try:
                    hours = compile_hours(
                        store.opening_hours, store.timezone, store.country, store.region
                    )
                except OpeningHoursError:
                    hours = None
            self._hours = hours
        return self._hours  # type: ignore[return-value]

    @property
    def state(self) -> HoursState:
        """``open``, ``closed`` or ``unknown`` at ``now``."""
        if self._state is None:
            hours = self.hours
            self._state = "unknown" if hours is None else hours.state(self.now)
        return self._state

    @property
    def now_local(self) -> dt.datetime:
        """``now`` on the store's wall clock."""
        if self._now_local is None:
            self._now_local = self.now.astimezone(self.store_zone)
        return self._now_local

    def opens_at(self) -> dt.datetime | None:
        """When the store opens: now's interval start if open, else the next opening."""
        if self._opens_at is False:
            hours = self.hours
            self._opens_at = None if hours is None else hours.opens_at(self.now)
        return self._opens_at  # type: ignore[return-value]

    def closes_at(self) -> dt.datetime | None:
        """When the store closes: the end of now's interval (open) or of the next one."""
        if self._closes_at is False:
            hours = self.hours
            self._closes_at = None if hours is None else hours.closes_at(self.now)
        return self._closes_at  # type: ignore[return-value]

    def closes_after(self, opening: dt.datetime) -> dt.datetime | None:
        """End of the open interval that starts at ``opening``."""
        hours = self.hours
        return None if hours is None else hours.closes_at(opening)

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(self.store_zone)


class Contender:
    """One campaign during a decision.

    Attributes:
        locale: The template locale the customer gets (their language, else the default);
            chosen when the campaign is rendered (or checked, with ``require_customer_locale``).
        matched_moments: Found moments this campaign celebrates, most important first.
        moment_rank: Index of the first of them in ``app.moments.PRIORITY`` (ranking).
        score / p / margin: Offers only: the long-term score and its terms.
        lost: Why it is out, once it is.
        not_before: Set when it may wait for the store's opening (defer).
    """

    __slots__ = (
        "campaign",
        "locale",
        "lost",
        "margin",
        "matched_moments",
        "moment_rank",
        "not_before",
        "p",
        "score",
    )

    def __init__(self, campaign: CampaignFacts) -> None:
        self.campaign = campaign
        self.locale: str | None = None
        self.matched_moments: tuple[str, ...] = ()
        self.moment_rank = 1 << 30
        self.score: float | None = None
        self.p: float | None = None
        self.margin: float | None = None
        self.lost: Reason | None = None
        self.not_before: dt.datetime | None = None
