"""Reason codes: every "no" (and every "yes") with a stable code, a sentence and its data.

A :class:`Reason` is what a decision or a losing candidate carries. ``code`` is stable (clients
and dashboards branch on it; it is an enum in the OpenAPI document), ``data`` holds the facts
that led to it, and ``message`` is one sentence a store manager can read, written from that
data by the code's sentence builder (:data:`SENTENCES`). The data is the record; the
sentence can never say something the data does not.

Gates are checked in :data:`GATE_PRECEDENCE` order. A gate either stops every candidate at
once (consent, event quality, store timing, quiet hours, the customer's fatigue) or removes
the candidates it applies to (service before sales, satiation, campaign caps; a closed store
keeps the campaigns that may defer to the opening). The first gate after which no candidate
is left is the decision's reason; see :mod:`app.decisions.policy`.

Sentences use the store's local time (``HH:MM``, 24-hour clock) and name the day when it is
not today ("opens Monday at 09:00").

Structs here keep real annotations so msgspec can resolve them at runtime.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any, Final, Literal, get_args

import msgspec

__all__ = [
    "CANDIDATE_CODES",
    "GATE_PRECEDENCE",
    "OUTCOME_CODES",
    "REASON_CODES",
    "SENTENCES",
    "Reason",
    "ReasonCode",
    "already_inside",
    "campaign_cap",
    "campaign_cooldown",
    "cancellation_pending",
    "category_mismatch",
    "closing_soon",
    "deferred_to_opening",
    "duration",
    "frequency_cap",
    "holdout",
    "hours_unknown",
    "inactive",
    "local_clock",
    "locale_unavailable",
    "low_accuracy",
    "moment_mismatch",
    "no_active_device",
    "no_eligible_campaign",
    "no_location_consent",
    "no_marketing_consent",
    "open_complaint",
    "outranked",
    "quiet_hours",
    "recently_purchased_category",
    "recently_purchased_here",
    "segment_mismatch",
    "selected",
    "sentence",
    "stale_event",
    "store_closed",
    "store_cooldown",
    "suspected_spoof",
    "template_error",
]

ReasonCode = Literal[
    # Gates, in order of precedence (GATE_PRECEDENCE) -------------------------------------
    "no_location_consent",
    "no_marketing_consent",
    "no_active_device",
    "stale_event",
    "low_accuracy",
    "suspected_spoof",
    "hours_unknown",
    "store_closed",
    "closing_soon",
    "quiet_hours",
    "open_complaint",
    "cancellation_pending",
    "recently_purchased",
    "already_inside",
    "frequency_cap",
    "store_cooldown",
    "campaign_cap",
    "no_eligible_campaign",
    "template_error",
    # Why a campaign was not a candidate at all -------------------------------------------
    "inactive",
    "segment_mismatch",
    "moment_mismatch",
    "category_mismatch",
    "locale_unavailable",
    # Why a candidate that passed every gate was not chosen -------------------------------
    "outranked",
    # Outcomes that are not a "no" ---------------------------------------------------------
    "selected",
    "deferred_to_opening",
    "holdout",
]
"""Every code a decision or a candidate can carry."""

REASON_CODES: Final[tuple[str, ...]] = get_args(ReasonCode)

GATE_PRECEDENCE: Final[tuple[str, ...]] = REASON_CODES[: REASON_CODES.index("template_error") + 1]
"""Gate codes, first checked first: consent and reach, event quality, store timing, quiet
hours, service before sales, satiation, fatigue, and finally "nothing suitable"."""

CANDIDATE_CODES: Final[tuple[str, ...]] = (
    "inactive",
    "segment_mismatch",
    "moment_mismatch",
    "category_mismatch",
    "locale_unavailable",
    "outranked",
)
OUTCOME_CODES: Final[tuple[str, ...]] = ("selected", "deferred_to_opening", "holdout")


class Reason(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Why: a stable code and the facts behind it; ``message`` says it in one sentence.

    Attributes:
        code: Stable machine name.
        data: The facts that led to it (instants as ISO 8601 strings, local times as HH:MM).
    """

    code: ReasonCode
    data: dict[str, Any]

    @property
    def message(self) -> str:
        """One sentence for people (store managers, support), written from ``data``."""
        return sentence(self.code, self.data)


# Formatting -------------------------------------------------------------------------------
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def local_clock(instant: dt.datetime, today: dt.date) -> str:
    """``09:00`` when ``instant`` (local) is on ``today``, else ``Monday at 09:00``.

    Within the coming week the weekday names the day; further away the date does
    (``Monday 5 January at 09:00``).
    """
    clock = f"{instant.hour:02d}:{instant.minute:02d}"
    day = instant.date()
    if day == today:
        return clock
    weekday = _WEEKDAYS[day.weekday()]
    if 0 < (day - today).days < 7:
        return f"{weekday} at {clock}"
    return f"{weekday} {day.day} {_MONTHS[day.month - 1]} at {clock}"


def _at(instant_iso: str, today_iso: str) -> str:
    """``at 09:00`` or ``Monday at 09:00`` for a local ISO instant seen on ``today``."""
    clock = local_clock(dt.datetime.fromisoformat(instant_iso), dt.date.fromisoformat(today_iso))
    return clock if clock[0].isalpha() else f"at {clock}"


def duration(seconds: float) -> str:
    """``12 minutes``, ``3 hours``, ``2 days``: rounded down to what reads naturally."""
    whole = max(0, int(seconds))
    if whole < 120:
        return "1 minute" if whole < 60 else f"{whole // 60} minutes"
    if whole < 2 * 3600:
        return f"{whole // 60} minutes"
    if whole < 2 * 86400:
        hours = whole // 3600
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{whole // 86400} days"


def _ago(data: dict[str, Any], key: str) -> str:
    return duration(data[key]) + " ago"


# Builders (cheap: data only) and sentences ------------------------------------------------
# Consent and reach
def no_location_consent(known: bool) -> Reason:
    return Reason(code="no_location_consent", data={"known": known})


def no_marketing_consent() -> Reason:
    return Reason(code="no_marketing_consent", data={"consent_marketing": False})


def no_active_device() -> Reason:
    return Reason(code="no_active_device", data={"active_devices": 0})


# Event quality
def stale_event(age_seconds: float, limit_seconds: int, occurred_at: dt.datetime) -> Reason:
    return Reason(
        code="stale_event",
        data={
            "occurred_at": occurred_at.isoformat(),
            "age_seconds": round(age_seconds, 3),
            "stale_after_seconds": limit_seconds,
        },
    )


def low_accuracy(accuracy_m: float, limit_m: float) -> Reason:
    return Reason(code="low_accuracy", data={"accuracy_m": accuracy_m, "max_accuracy_m": limit_m})


def suspected_spoof(flags: list[str]) -> Reason:
    return Reason(code="suspected_spoof", data={"flags": flags})


# Store timing
def hours_unknown(has_expression: bool) -> Reason:
    return Reason(code="hours_unknown", data={"opening_hours_set": has_expression})


def store_closed(opens_at: dt.datetime | None, now_local: dt.datetime, timezone: str) -> Reason:
    """``opens_at`` and ``now_local`` in the store's zone."""
    return Reason(
        code="store_closed",
        data={
            "opens_at": None if opens_at is None else opens_at.isoformat(),
            "local_date": now_local.date().isoformat(),
            "local_time": f"{now_local.hour:02d}:{now_local.minute:02d}",
            "timezone": timezone,
        },
    )


def closing_soon(
    closes_at: dt.datetime, now: dt.datetime, margin_minutes: int, now_local: dt.datetime
) -> Reason:
    """``closes_at`` and ``now_local`` in the store's zone."""
    return Reason(
        code="closing_soon",
        data={
            "closes_at": closes_at.isoformat(),
            "local_date": now_local.date().isoformat(),
            "minutes_to_close": round((closes_at - now).total_seconds() / 60, 2),
            "closing_margin_minutes": margin_minutes,
        },
    )


def quiet_hours(
    start: str,
    end: str,
    timezone: str,
    local: dt.datetime,
    *,
    own_setting: bool,
    zone_source: str = "customer_location",
) -> Reason:
    """``zone_source``: ``quiet_hours_setting`` (the zone the customer chose for them),
    ``customer_location`` (where they stand) or ``store`` (the store's, for want of both)."""
    return Reason(
        code="quiet_hours",
        data={
            "start": start,
            "end": end,
            "timezone": timezone,
            "zone_source": zone_source,
            "local_time": f"{local.hour:02d}:{local.minute:02d}",
            "at": local.isoformat(),
            "customer_setting": own_setting,
        },
    )


# Service before sales
def open_complaint(case_ids: list[str], blocked: str) -> Reason:
    return Reason(code="open_complaint", data={"case_ids": case_ids, "blocked": blocked})


def cancellation_pending(case_ids: list[str], blocked: str) -> Reason:
    return Reason(code="cancellation_pending", data={"case_ids": case_ids, "blocked": blocked})


# Satiation
def recently_purchased_category(
    purchased: str, blocked: list[str], at: dt.datetime, now: dt.datetime, window_seconds: int
) -> Reason:
    return Reason(
        code="recently_purchased",
        data={
            "rule": "category",
            "category": purchased,
            "blocked_categories": blocked,
            "purchased_at": at.isoformat(),
            "seconds_ago": int((now - at).total_seconds()),
            "refractory_seconds": window_seconds,
        },
    )


def recently_purchased_here(
    order_id: str, at: dt.datetime, now: dt.datetime, window_seconds: int
) -> Reason:
    return Reason(
        code="recently_purchased",
        data={
            "rule": "store",
            "order_id": order_id,
            "purchased_at": at.isoformat(),
            "seconds_ago": int((now - at).total_seconds()),
            "store_purchase_window_seconds": window_seconds,
        },
    )


# Fatigue
def already_inside() -> Reason:
    return Reason(code="already_inside", data={"already_inside": True})


def frequency_cap(window: str, count: int, limit: int) -> Reason:
    return Reason(code="frequency_cap", data={"window": window, "count": count, "limit": limit})


def store_cooldown(last_at: dt.datetime, now: dt.datetime, cooldown_seconds: int) -> Reason:
    return Reason(
        code="store_cooldown",
        data={
            "last_invite_at": last_at.isoformat(),
            "seconds_ago": int((now - last_at).total_seconds()),
            "store_cooldown_seconds": cooldown_seconds,
        },
    )


def campaign_cap(campaign_id: str, rule: str, limit: int, count: int) -> Reason:
    """``rule``: ``per_day`` (rolling 24 hours) or ``per_week`` (rolling 7 days)."""
    return Reason(
        code="campaign_cap",
        data={"campaign_id": campaign_id, "rule": rule, "limit": limit, "count": count},
    )


def campaign_cooldown(
    campaign_id: str, last_at: dt.datetime, now: dt.datetime, cooldown_seconds: int
) -> Reason:
    return Reason(
        code="campaign_cap",
        data={
            "campaign_id": campaign_id,
            "rule": "cooldown_seconds",
            "limit": cooldown_seconds,
            "last_invite_at": last_at.isoformat(),
            "seconds_ago": int((now - last_at).total_seconds()),
        },
    )


# Nothing suitable
def no_eligible_campaign(campaigns: int) -> Reason:
    return Reason(code="no_eligible_campaign", data={"campaigns": campaigns})


def template_error(campaign_id: str, locale: str, problem: str) -> Reason:
    return Reason(
        code="template_error",
        data={"campaign_id": campaign_id, "locale": locale, "problem": problem},
    )


# Eligibility
def inactive(campaign_id: str, why: str, at: dt.datetime | None = None) -> Reason:
    """``why``: ``disabled``, ``not_started`` (until ``at``) or ``ended`` (at ``at``)."""
    return Reason(
        code="inactive",
        data={"campaign_id": campaign_id, "why": why, "at": None if at is None else at.isoformat()},
    )


def segment_mismatch(required: list[str]) -> Reason:
    return Reason(code="segment_mismatch", data={"required_segments": required})


def moment_mismatch(required: list[str], found: list[str]) -> Reason:
    return Reason(
        code="moment_mismatch", data={"required_moments": required, "found_moments": found}
    )


def category_mismatch(required: list[str]) -> Reason:
    return Reason(code="category_mismatch", data={"required_categories": required})


def locale_unavailable(locale: str, available: list[str]) -> Reason:
    return Reason(
        code="locale_unavailable", data={"customer_locale": locale, "available_locales": available}
    )


def outranked(winner_id: str, rule: str, *facts: str) -> Reason:
    """Why the winner came first. ``rule`` and its ``facts``: ``moment_first`` (the winner's
    moment, the loser's kind), ``service_first``, ``moment_priority`` (the winner's moment,
    the loser's), ``score`` (the winner's score), ``campaign_id`` (a tie)."""
    data: dict[str, Any] = {"winner": winner_id, "rule": rule}
    if rule == "moment_first":
        data["moment"], data["kind"] = facts
    elif rule == "moment_priority":
        data["moment"], data["own_moment"] = facts
    elif rule == "score":
        data["winner_score"] = facts[0]
    return Reason(code="outranked", data=data)


# Outcomes
def selected(campaign_id: str, kind: str, **facts: Any) -> Reason:
    return Reason(code="selected", data={"campaign_id": campaign_id, "kind": kind, **facts})


def deferred_to_opening(
    campaign_id: str, opens_at: dt.datetime, now_local: dt.datetime, window_seconds: int
) -> Reason:
    """``opens_at`` and ``now_local`` in the store's zone."""
    return Reason(
        code="deferred_to_opening",
        data={
            "campaign_id": campaign_id,
            "not_before": opens_at.isoformat(),
            "local_date": now_local.date().isoformat(),
            "defer_window_seconds": window_seconds,
        },
    )


def holdout(campaign_id: str, bucket: float, holdout_pct: float) -> Reason:
    return Reason(
        code="holdout",
        data={"campaign_id": campaign_id, "bucket": round(bucket, 6), "holdout_pct": holdout_pct},
    )


# Sentences --------------------------------------------------------------------------------
def _store_closed(d: dict[str, Any]) -> str:
    if d["opens_at"] is None:
        return "The store is closed and does not open within the next 400 days."
    return f"The store is closed; it opens {_at(d['opens_at'], d['local_date'])}."


def _closing_soon(d: dict[str, Any]) -> str:
    return (
        f"The store closes {_at(d['closes_at'], d['local_date'])}, "
        f"in {max(0, int(d['minutes_to_close']))} minutes; invites stop "
        f"{d['closing_margin_minutes']} minutes before closing."
    )


def _quiet_hours(d: dict[str, Any]) -> str:
    whose = "the customer's quiet hours" if d["customer_setting"] else "the default quiet hours"
    where = (
        f"in {d['timezone']}, the zone of the customer's quiet hours,"
        if d.get("zone_source") == "quiet_hours_setting"
        else f"where the customer is ({d['timezone']}),"
    )
    return f"It is {d['local_time']} {where} within {whose} {d['start']}-{d['end']}."


def _case(d: dict[str, Any], what: str, until: str) -> str:
    return (
        f"The customer has {what} ({', '.join(d['case_ids'])}): no {d['blocked']} until it is "
        f"{until}; service and apology messages may still go."
    )


def _recently_purchased(d: dict[str, Any]) -> str:
    if d["rule"] == "store":
        return (
            f"Bought at this store {_ago(d, 'seconds_ago')} (order {d['order_id']}); no offers "
            f"here within {duration(d['store_purchase_window_seconds'])} of a purchase."
        )
    also = [c for c in d["blocked_categories"] if c != d["category"]]
    scope = d["category"] + (" (or " + ", ".join(also) + ")" if also else "")
    return (
        f"Bought {d['category']} {_ago(d, 'seconds_ago')}; no {scope} offers within "
        f"{duration(d['refractory_seconds'])} of buying {d['category']}."
    )


def _invites(count: int) -> str:
    return "1 invite" if count == 1 else f"{count} invites"


def _frequency_cap(d: dict[str, Any]) -> str:
    words = {"24h": "in the last 24 hours", "7d": "in the last 7 days", "local_day": "today"}
    return f"{_invites(d['count'])} {words[d['window']]} (limit {d['limit']})."


def _campaign_cap(d: dict[str, Any]) -> str:
    if d["rule"] == "cooldown_seconds":
        return (
            f"Campaign {d['campaign_id']} was sent to this customer {_ago(d, 'seconds_ago')}; "
            f"it waits {duration(d['limit'])} between invites."
        )
    words = "24 hours" if d["rule"] == "per_day" else "7 days"
    return (
        f"Campaign {d['campaign_id']} reached its cap for this customer: "
        f"{_invites(d['count'])} in the last {words} (limit {d['limit']})."
    )


def _inactive(d: dict[str, Any]) -> str:
    if d["why"] == "disabled":
        return f"Campaign {d['campaign_id']} is disabled."
    if d["why"] == "not_started":
        return f"Campaign {d['campaign_id']} starts at {d['at']}."
    return f"Campaign {d['campaign_id']} ended at {d['at']}."


def _moment_mismatch(d: dict[str, Any]) -> str:
    wanted = ", ".join(d["required_moments"]) or "a relationship moment"
    found = ", ".join(d["found_moments"])
    return f"Only for {wanted}; " + (f"found {found}." if found else "no moment found.")


def _outranked(d: dict[str, Any]) -> str:
    rule, winner = d["rule"], d["winner"]
    why = {
        "moment_first": f"a relationship moment ({d.get('moment')}) comes before {d.get('kind')}s",
        "service_first": "service comes before sales",
        "moment_priority": f"its moment ({d.get('moment')}) matters more than "
        f"{d.get('own_moment')}",
        "score": f"its long-term score is higher ({d.get('winner_score')})",
        "campaign_id": "equal rank; the lower campaign id goes first",
    }[rule]
    return f"Campaign {winner} came first: {why}."


def _selected(d: dict[str, Any]) -> str:
    kind = d["kind"]
    if kind == "moment":
        why = f"the relationship moment {d.get('moment')} calls for a thank-you, not a sale"
    elif kind == "service":
        why = "a service message"
    else:
        why = f"the best long-term offer (score {d.get('score', 0):.2f})"
    return f"Invite with campaign {d['campaign_id']} by {d['send_by_local']}: {why}."


def _deferred(d: dict[str, Any]) -> str:
    return (
        f"The store opens {_at(d['not_before'], d['local_date'])}; campaign {d['campaign_id']} "
        f"waits for the opening (it may wait up to {duration(d['defer_window_seconds'])}), "
        "and delivery checks the customer is still there."
    )


SENTENCES: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "no_location_consent": lambda d: (
        "The customer has not allowed the use of their location."
        if d["known"]
        else "Kairos has no profile for this customer, hence no consent to use their location."
    ),
    "no_marketing_consent": lambda d: "The customer has not agreed to receive invites.",
    "no_active_device": lambda d: "The customer has no active device to send an invite to.",
    "stale_event": lambda d: (
        f"The location report is {duration(d['age_seconds'])} old; reports older than "
        f"{duration(d['stale_after_seconds'])} are not acted on."
    ),
    "low_accuracy": lambda d: (
        f"The location is only accurate to {d['accuracy_m']:.0f} m; invites need "
        f"{d['max_accuracy_m']:.0f} m or better."
    ),
    "suspected_spoof": lambda d: "The location looks spoofed (" + ", ".join(d["flags"]) + ").",
    "hours_unknown": lambda d: (
        "The store's opening hours "
        + ("cannot be determined right now" if d["opening_hours_set"] else "are not known")
        + "; Kairos never invites when unsure."
    ),
    "store_closed": _store_closed,
    "closing_soon": _closing_soon,
    "quiet_hours": _quiet_hours,
    "open_complaint": lambda d: _case(d, "an open complaint", "resolved"),
    "cancellation_pending": lambda d: _case(d, "a pending cancellation", "settled"),
    "recently_purchased": _recently_purchased,
    "already_inside": lambda d: (
        "The customer has stayed inside since an earlier decision for this visit; "
        "no new invite until they have left."
    ),
    "frequency_cap": _frequency_cap,
    "store_cooldown": lambda d: (
        f"Invited at this store {_ago(d, 'seconds_ago')}; one invite per store every "
        f"{duration(d['store_cooldown_seconds'])}."
    ),
    "campaign_cap": _campaign_cap,
    "no_eligible_campaign": lambda d: (
        "No campaign runs at this store right now."
        if d["campaigns"] == 0
        else f"None of the {d['campaigns']} campaigns at this store fits this customer now."
    ),
    "template_error": lambda d: (
        f"The {d['locale']} message of campaign {d['campaign_id']} cannot be rendered: "
        f"{d['problem']}."
    ),
    "inactive": _inactive,
    "segment_mismatch": lambda d: (
        "Only for customers in " + ", ".join(d["required_segments"]) + "."
    ),
    "moment_mismatch": _moment_mismatch,
    "category_mismatch": lambda d: (
        "Only for customers who have bought " + " or ".join(d["required_categories"]) + "."
    ),
    "locale_unavailable": lambda d: (
        f"No message in the customer's language ({d['customer_locale']})."
    ),
    "outranked": _outranked,
    "selected": _selected,
    "deferred_to_opening": _deferred,
    "holdout": lambda d: (
        f"In the control group of campaign {d['campaign_id']} ({d['holdout_pct']:g}% held "
        "out): recorded as if sent, nothing sent, so the campaign's lift can be measured."
    ),
}
"""One sentence builder per code, from the reason's data."""


def sentence(code: str, data: dict[str, Any]) -> str:
    """The sentence for a reason (what :attr:`Reason.message` returns)."""
    return SENTENCES[code](data)
