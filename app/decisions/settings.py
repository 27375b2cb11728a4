"""Policy settings: the knobs of the timing brain, versioned in ``policy_settings``.

One frozen :class:`PolicySettings` value holds every margin, window, cap and weight the
policy uses. The current settings are the highest version in the ``policy_settings`` table;
version 1 holds :data:`DEFAULT_SETTINGS` (written by migration 0005). ``PUT /v1/policy``
writes a new version, and every decision records the version it used, so a replay runs with
the settings of its day.

Structs here keep real annotations so msgspec can resolve them at runtime.
"""

from typing import Annotated

import msgspec
from msgspec import Meta

from app.moments import MomentRules

__all__ = ["DEFAULT_SETTINGS", "PolicySettings"]

ClockTime = Annotated[
    str,
    Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour clock"),
]
Category = Annotated[str, Meta(min_length=1, max_length=64, examples=["coffee"])]
Seconds90Days = Annotated[int, Meta(ge=0, le=90 * 86_400)]
Flag = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$", examples=["mocked"])]


class PolicySettings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Every setting of the decision policy, with its default.

    Attributes:
        closing_margin_minutes: No invite this close to closing (default 20): the customer
            needs time to come in. ``send_by`` is never later than closing minus this margin.
        quiet_hours_start: Start of the default quiet hours (default ``21:00``) in the local
            time where the customer stands. The customer's own quiet hours replace them.
        quiet_hours_end: End of the default quiet hours (default ``08:00``); a start after the
            end spans midnight.
        stale_after_seconds: A location report older than this is not acted on (default 600).
        max_accuracy_m: Reports less accurate than this many metres are not acted on
            (default 150).
        spoof_flags: Event flags that mark a report as spoofed (default ``mocked``,
            ``jumped``).
        refractory_seconds: Per item category, how long after a purchase offers in that
            category (and its substitutes) wait (default ``coffee``: 4 hours).
        default_refractory_seconds: The same for categories not listed (default 24 hours).
        substitutes: Per category, categories a purchase also satiates (default none), e.g.
            ``{"coffee": ["capsules"]}``.
        complements: Per category, categories that go *with* a purchase and stay eligible
            right after it, even at the same store (default none), e.g.
            ``{"garden_furniture": ["garden_shade"]}``.
        store_purchase_window_seconds: Any purchase at a store blocks offers there for this
            long (default 6 hours).
        frequency_cap_per_24h: Invites per customer in any rolling 24 hours (default 2).
        frequency_cap_per_7d: Invites per customer in any rolling 7 days (default 5).
        frequency_cap_per_local_day: Invites per customer per calendar day in the store's
            time zone (default none: only the rolling caps apply).
        store_cooldown_seconds: At most one invite per customer per store in this window
            (default 24 hours).
        default_freshness_seconds: How long an invite stays worth sending when its campaign
            does not say (default 30 minutes); ``send_by`` is the earlier of this and closing
            minus the margin.
        goodwill_weight: Money value of the goodwill an accepted invite earns and an ignored
            one costs (default 5). The offer score is
            ``p x margin + goodwill_weight x (p - (1 - p))``, ``p`` the acceptance
            probability: with the default, a 10.00 margin at 80 % (score 11.00) beats a
            20.00 margin at 50 % (score 10.00).
        default_acceptance_probability: ``p`` for campaigns that do not state one
            (default 0.1).
        require_customer_locale: When true, a campaign without a message in the customer's
            language is not a candidate (``locale_unavailable``); when false (default) the
            campaign's default locale is used.
        moments: Parameters of the relationship-moment rules (``app.moments``).
    """

    closing_margin_minutes: Annotated[int, Meta(ge=0, le=24 * 60)] = 20
    quiet_hours_start: ClockTime = "21:00"
    quiet_hours_end: ClockTime = "08:00"
    stale_after_seconds: Annotated[int, Meta(ge=1, le=86_400)] = 600
    max_accuracy_m: Annotated[float, Meta(gt=0, le=100_000)] = 150.0
    spoof_flags: Annotated[tuple[Flag, ...], Meta(max_length=20)] = ("jumped", "mocked")
    refractory_seconds: Annotated[dict[Category, Seconds90Days], Meta(max_length=500)] = (
        msgspec.field(default_factory=lambda: {"coffee": 4 * 3600})
    )
    default_refractory_seconds: Seconds90Days = 24 * 3600
    substitutes: Annotated[
        dict[Category, Annotated[list[Category], Meta(max_length=50)]], Meta(max_length=500)
    ] = msgspec.field(default_factory=dict)
    complements: Annotated[
        dict[Category, Annotated[list[Category], Meta(max_length=50)]], Meta(max_length=500)
    ] = msgspec.field(default_factory=dict)
    store_purchase_window_seconds: Seconds90Days = 6 * 3600
    frequency_cap_per_24h: Annotated[int, Meta(ge=0, le=1000)] = 2
    frequency_cap_per_7d: Annotated[int, Meta(ge=0, le=7000)] = 5
    frequency_cap_per_local_day: Annotated[int, Meta(ge=0, le=1000)] | None = None
    store_cooldown_seconds: Seconds90Days = 24 * 3600
    default_freshness_seconds: Annotated[int, Meta(ge=60, le=7 * 86_400)] = 30 * 60
    goodwill_weight: Annotated[float, Meta(ge=0, le=1_000_000)] = 5.0
    default_acceptance_probability: Annotated[float, Meta(ge=0, le=1)] = 0.1
    require_customer_locale: bool = False
    moments: MomentRules = MomentRules()


DEFAULT_SETTINGS = PolicySettings()
