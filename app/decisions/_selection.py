"""Eligibility, the long-term offer score and the ranking (private, pure).

Eligibility (in this order; the first miss is the candidate's reason):

1. ``inactive`` — disabled, or outside its active window at ``now``.
2. ``segment_mismatch`` — the campaign names segments and the customer is in none.
3. ``moment_mismatch`` — a moment campaign needs a moment it celebrates (any moment when it
   names none); another campaign naming moments needs one of them.
4. ``category_mismatch`` — the campaign names categories the customer never bought.
5. ``locale_unavailable`` — only with ``require_customer_locale``: no message in the
   customer's language.

Ranking of the candidates that pass every gate: moment campaigns first (by the importance of
the moment they celebrate, ``app.moments.PRIORITY``), then service messages, then offers by
their long-term score, highest first; ties go to the lower campaign id. A moment campaign is
a thank-you, not a sale: it is never scored and carries no offer.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import TYPE_CHECKING

from app.decisions import reasons as R
from app.decisions._messages import choose_locale
from app.moments import PRIORITY

if TYPE_CHECKING:
    from app.decisions._state import Contender, Situation
    from app.decisions.inputs import CampaignFacts
    from app.decisions.reasons import Reason
    from app.decisions.settings import PolicySettings

__all__ = ["KIND_ORDER", "check_eligibility", "rank", "rank_key", "score", "why_outranked"]

KIND_ORDER = {"moment": 0, "service": 1, "offer": 2}
_MOMENT_RANK = {code: i for i, code in enumerate(PRIORITY)}


def _window_reason(campaign: CampaignFacts, sit: Situation) -> Reason | None:
    if not campaign.enabled:
        return R.inactive(campaign.id, "disabled")
    now = sit.now
    if campaign.active_from is not None and now < campaign.active_from:
        return R.inactive(campaign.id, "not_started", campaign.active_from)
    if campaign.active_until is not None and now >= campaign.active_until:
        return R.inactive(campaign.id, "ended", campaign.active_until)
    return None


def check_eligibility(sit: Situation, contender: Contender) -> None:
    """Set ``lost`` when the campaign is not for this customer, here, now; else note the
    moments it celebrates."""
    campaign = contender.campaign
    if not campaign.enabled or campaign.active_from or campaign.active_until:
        reason = _window_reason(campaign, sit)
        if reason is not None:
            contender.lost = reason
            return
    customer = sit.customer
    if campaign.segments and campaign.segments.isdisjoint(customer.segments):
        contender.lost = R.segment_mismatch(sorted(campaign.segments))
        return
    found = sit.found_moments
    required = campaign.moments
    if campaign.kind == "moment" or required:
        matched = tuple(m for m in found if not required or m in required)
        if not matched:
            contender.lost = R.moment_mismatch(sorted(required), list(found))
            return
        contender.matched_moments = matched
        contender.moment_rank = _MOMENT_RANK.get(matched[0], len(_MOMENT_RANK))
    if campaign.categories and campaign.categories.isdisjoint(customer.last_purchase_by_category):
        contender.lost = R.category_mismatch(sorted(campaign.categories))
        return
    if sit.settings.require_customer_locale:
        contender.locale, in_language = choose_locale(campaign, customer.locale)
        if not in_language:
            contender.lost = R.locale_unavailable(customer.locale, sorted(campaign.templates))


@functools.lru_cache(maxsize=65_536)
def _offer_score(margin: Decimal | None, p: float, weight: float) -> tuple[float, float, float]:
    value = float(margin) if margin is not None else 0.0
    return round(p * value + weight * (2 * p - 1), 6), p, value


def score(campaign: CampaignFacts, settings: PolicySettings) -> tuple[float, float, float]:
    """(score, p, margin) of an offer: ``p x margin + w x (p - (1 - p))``.

    The expected margin, plus the goodwill ``w`` an accepted invite earns, minus what an
    ignored one costs. ``p`` defaults to the settings' acceptance probability, a missing
    margin counts as 0. (Memoised: a pure function of its three numbers.)
    """
    p = campaign.acceptance_probability
    if p is None:
        p = settings.default_acceptance_probability
    return _offer_score(campaign.margin, p, settings.goodwill_weight)


def rank_key(contender: Contender) -> tuple[int, int, float, str]:
    """Moments (most important moment first), then service, then offers (best score
    first); ties by campaign id."""
    kind = KIND_ORDER[contender.campaign.kind]
    moment = contender.moment_rank if kind == 0 else 0
    best = -(contender.score or 0.0) if kind == 2 else 0.0
    return kind, moment, best, contender.campaign.id


def rank(contenders: list[Contender]) -> list[Contender]:
    """Best first: moments, then service, then offers by score; ties by campaign id."""
    return sorted(contenders, key=rank_key)


def why_outranked(winner: Contender, loser: Contender) -> tuple[str, ...]:
    """Why ``winner`` came before ``loser``: (rule, its facts...) for ``reasons.outranked``."""
    won, kind = winner.campaign, loser.campaign.kind
    if won.kind != kind:
        if won.kind == "moment":
            return ("moment_first", winner.matched_moments[0], kind)
        return ("service_first",)
    if kind == "moment" and winner.moment_rank != loser.moment_rank:
        return ("moment_priority", winner.matched_moments[0], loser.matched_moments[0])
    if kind == "offer" and winner.score != loser.score:
        return ("score", f"{winner.score:.2f}")
    return ("campaign_id",)
