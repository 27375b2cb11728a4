"""The timing brain: ``decide(inputs, now) -> Decision``, a pure function.

No I/O, no clock reads, no randomness, no state between calls: the same inputs and ``now``
give the same decision, byte for byte (invariant 6). ``now`` is the instant of the decision;
everything is judged at it, in the store's own time zone (quiet hours: where the customer
stands).

How a decision is made:

1. **Preconditions** — consent and reach, event quality, known hours, and store timing and
   quiet hours unless a campaign may defer to the opening: when one fails, no campaign (and
   no moment) is looked at; every candidate lost to it.
2. **Moments** — :func:`app.moments.detect_moments` on the visit (or, for a ``purchase``
   trigger, on the order at hand).
3. **Candidates** — every campaign running at the store, checked for eligibility (active
   window, segments, moments, categories ever bought, locale; see ``_selection``).
4. **Gates** — the rest of :data:`~app.decisions.reasons.GATE_PRECEDENCE` (see ``_gates``).
   A gate either stops everything (store timing, quiet hours, the customer's fatigue) or
   removes the candidates it applies to (service before sales, satiation, campaign caps;
   a closed store keeps the campaigns that may defer). The first gate after which no
   candidate is left is the decision's reason: outcome ``suppress``. With no candidate from
   the start the walk goes on, so a closed store still reads ``store_closed``; if no gate
   stops it the reason is ``no_eligible_campaign``.
5. **Ranking** — moments first, then service, then offers by their long-term score.
6. **Message** — the best candidate whose message renders in the customer's locale wins;
   the others lost as ``outranked`` (or ``template_error``). None renders: ``template_error``.
7. **Timing** — ``not_before`` is now (``send``) or the opening (``defer``: the campaign
   opted in and the store opens within its window); ``send_by`` is the earlier of closing
   minus the margin and ``not_before`` plus the freshness window.
8. **Holdout** — a hash of (customer, campaign) below ``holdout_pct`` makes it ``holdout``:
   recorded like a send, nothing sent.

Reasons carry their data; their sentences are written from it when read
(:attr:`~app.decisions.reasons.Reason.message`), so deciding costs no string formatting.

Structs here keep real annotations so msgspec can resolve them at runtime.
"""

import datetime as dt
import hashlib
from operator import attrgetter
from typing import Literal
from uuid import UUID

import msgspec

from app.decisions import reasons as R
from app.decisions._gates import GATES, PRECONDITIONS, timing
from app.decisions._messages import render_for
from app.decisions._selection import check_eligibility, rank, score, why_outranked
from app.decisions._state import Contender, Situation
from app.decisions.inputs import CampaignFacts, CampaignKind, DecisionInputs
from app.decisions.reasons import Reason
from app.decisions.settings import PolicySettings
from app.moments import Moment, MomentEvent, Visit, detect_moments
from app.templates import TemplateProblem

__all__ = [
    "POLICY_VERSION",
    "Candidate",
    "Decision",
    "Outcome",
    "decide",
    "holdout_bucket",
    "score_formula",
]

POLICY_VERSION = "kairos-policy/1"
"""Version of the policy code, recorded with every decision (bump it when the rules change)."""

Outcome = Literal["send", "suppress", "defer", "holdout"]
UTC = dt.UTC
_BY_ID = attrgetter("id")


def score_formula(p: float, margin: float, weight: float, value: float) -> str:
    """The arithmetic of one offer's score, e.g. ``0.80 x 10.00 + 5 x (0.80 - 0.20) = 11.00``."""
    return f"{p:.2f} x {margin:.2f} + {weight:g} x ({p:.2f} - {1 - p:.2f}) = {value:.2f}"


class Candidate(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """A campaign the decision considered.

    Attributes:
        chosen: True for the campaign the decision names.
        rank: Position among the candidates that passed every gate (1 = best); None when it
            was out before the ranking.
        score: Offers only: the long-term score (``score_formula`` shows the arithmetic);
            ``acceptance_probability`` and ``margin`` are the terms used.
        moments: The moments found that this campaign celebrates.
        lost_because: Why it was not chosen (None for the chosen one).
    """

    campaign_id: str
    campaign_name: str
    kind: CampaignKind
    chosen: bool
    rank: int | None
    score: float | None
    acceptance_probability: float | None
    margin: float | None
    goodwill_weight: float
    moments: tuple[str, ...]
    lost_because: Reason | None

    @property
    def score_formula(self) -> str | None:
        if self.score is None or self.acceptance_probability is None or self.margin is None:
            return None
        return score_formula(
            self.acceptance_probability, self.margin, self.goodwill_weight, self.score
        )


class Decision(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What the policy decided, and why.

    Attributes:
        outcome: ``send`` now, ``defer`` to ``not_before``, ``holdout`` (control group: recorded
            like a send, nothing sent) or ``suppress``.
        reasons: The decisive reason first; a suppression also lists what else removed
            candidates on the way, a send or defer ends with ``selected``.
        campaign_id / campaign_kind / campaign_name: The chosen campaign (None: suppressed).
        locale / title / body: The rendered message (send, defer, holdout).
        not_before: Earliest delivery (now, or the opening for ``defer``).
        send_by: After this the invite is worthless: the earlier of closing minus the margin
            and ``not_before`` plus the freshness window.
        moments: The relationship moments found.
        candidates: Every campaign considered, those that passed every gate first (best
            first), with its score and why it lost.
        goodwill_weight: The weight of the offer score in force (see ``score_formula``).
    """

    outcome: Outcome
    reasons: tuple[Reason, ...]
    customer_id: str
    store_id: str
    event_id: UUID | None
    decided_at: dt.datetime
    campaign_id: str | None
    campaign_kind: CampaignKind | None
    campaign_name: str | None
    locale: str | None
    title: str | None
    body: str | None
    not_before: dt.datetime | None
    send_by: dt.datetime | None
    moments: tuple[Moment, ...]
    candidates: tuple[Candidate, ...]
    settings_version: int
    policy_version: str
    goodwill_weight: float

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    @property
    def score_formula(self) -> str:
        """The offer score formula in words, with the weight in force."""
        return (
            f"score = p x margin + {self.goodwill_weight:g} x (p - (1 - p)), where p is the "
            "chance the customer accepts: the expected margin, plus the goodwill an accepted "
            "invite earns, minus what an ignored one costs"
        )

    @property
    def summary(self) -> str:
        """The decision in a sentence or two, for people."""
        first = self.reasons[0]
        if self.outcome == "suppress":
            text = f"Suppressed ({first.code}): {first.message}"
            if len(self.reasons) > 1:
                text += " Also: " + " ".join(r.message for r in self.reasons[1:])
            return text
        chosen = f"{self.campaign_name} ({self.campaign_id})"
        if self.outcome == "holdout":
            return (
                f"Held out of {chosen}: {first.message} It would have been sent: "
                f"{self.reasons[-1].message}"
            )
        verb = "Deferred" if self.outcome == "defer" else "Send"
        text = f"{verb}: {self.reasons[-1].message}"
        if self.outcome == "defer":
            text += " " + first.message
        others = sum(1 for c in self.candidates if c.rank is not None) - 1
        if others > 0:
            text += f" {others} other candidate(s) passed every gate and ranked lower."
        return text


def holdout_bucket(customer_id: str, campaign_id: str) -> float:
    """Where (customer, campaign) falls in [0, 100): the first 8 bytes of a SHA-256 hash.

    Deterministic and independent per campaign: a customer held out of one campaign is not
    thereby held out of every campaign.
    """
    digest = hashlib.sha256(f"{customer_id}:{campaign_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def _candidates(
    contenders: list[Contender], ranked: list[Contender], winner: Contender | None, weight: float
) -> tuple[Candidate, ...]:
    """Ranked candidates first (best first), then the others by campaign id."""
    order = {id(c): i + 1 for i, c in enumerate(ranked)}
    shown = ranked + [c for c in contenders if id(c) not in order]
    return tuple(
        Candidate(
            campaign_id=c.campaign.id,
            campaign_name=c.campaign.name,
            kind=c.campaign.kind,
            chosen=c is winner,
            rank=order.get(id(c)),
            score=c.score,
            acceptance_probability=c.p,
            margin=c.margin,
            goodwill_weight=weight,
            moments=c.matched_moments,
            lost_because=None if c is winner else c.lost,
        )
        for c in shown
    )


def _untouched(
    campaigns: list[CampaignFacts], stop: Reason, settings: PolicySettings
) -> tuple[Candidate, ...]:
    """Candidates of a decision a precondition stopped: none was looked at."""
    weight = settings.goodwill_weight
    return tuple(
        Candidate(
            campaign_id=c.id,
            campaign_name=c.name,
            kind=c.kind,
            chosen=False,
            rank=None,
            score=None,
            acceptance_probability=None,
            margin=None,
            goodwill_weight=weight,
            moments=(),
            lost_because=stop,
        )
        for c in campaigns
    )


def _unique(reasons: list[Reason]) -> tuple[Reason, ...]:
    out: list[Reason] = []
    for reason in reasons:
        if reason not in out:
            out.append(reason)
    return tuple(out)


def decide(inputs: DecisionInputs, now: dt.datetime) -> Decision:
    """Decide whether, what and when to send for one trigger; see the module docstring.

    Raises:
        ValueError: ``now`` is naive, or the customer context is for another store.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    customer, store, settings, event = inputs.customer, inputs.store, inputs.settings, inputs.event
    sit = Situation(inputs, now)
    campaigns = sorted(inputs.campaigns, key=_BY_ID)

    # Preconditions: when one fails, no campaign (and no moment) is looked at. Store timing
    # and quiet hours are among them unless a campaign may defer to the opening.
    for _, gate in PRECONDITIONS:
        stop = gate(sit, [])
        if stop is not None:
            return _decision(sit, "suppress", (stop,), _untouched(campaigns, stop, settings))
    stop = timing(sit, campaigns)
    if stop is not None:
        return _decision(sit, "suppress", (stop,), _untouched(campaigns, stop, settings))

    trigger: MomentEvent = (
        event.order
        if event.kind == "purchase" and event.order is not None
        else Visit(store_id=store.id, at=event.occurred_at)
    )
    sit.set_moments(tuple(detect_moments(customer, trigger, settings.moments)))
    contenders = [Contender(c) for c in campaigns]
    for contender in contenders:
        check_eligibility(sit, contender)
        if contender.lost is None and contender.campaign.kind == "offer":
            contender.score, contender.p, contender.margin = score(contender.campaign, settings)
    remaining = [c for c in contenders if c.lost is None]

    # The other gates, in order of precedence.
    decisive: list[Reason] = []
    removed: list[Reason] = []  # what candidate gates took out on the way
    for _, gate, per_candidate in GATES:
        stop = gate(sit, remaining)
        if stop is not None:
            decisive = [stop]
            for contender in remaining:
                contender.lost = stop
            break
        if not per_candidate or not remaining:
            continue
        survivors = [c for c in remaining if c.lost is None]
        if len(survivors) != len(remaining):
            step = [c.lost for c in remaining if c.lost is not None]
            if not survivors:
                decisive = step
                break
            removed.extend(step)
            remaining = survivors
    else:
        if not remaining:
            decisive = [R.no_eligible_campaign(len(contenders))]
    if decisive:
        return _suppressed(sit, contenders, _unique(decisive + removed))

    # Ranking, then the first candidate whose message renders.
    ranked = rank(remaining)
    failures: list[Reason] = []
    for contender in ranked:
        deferred = contender.not_before
        not_before = deferred or now
        closing = sit.closes_after(deferred) if deferred is not None else sit.closes_at()
        try:
            message = render_for(sit, contender, not_before, closing)
        except TemplateProblem as exc:
            locale = contender.locale or contender.campaign.default_locale
            contender.lost = R.template_error(contender.campaign.id, locale, str(exc))
            failures.append(contender.lost)
            continue
        beaten: dict[tuple[str, ...], Reason] = {}  # one reason per distinct why
        for other in ranked:
            if other is not contender and other.lost is None:
                why = why_outranked(contender, other)
                if why not in beaten:
                    beaten[why] = R.outranked(contender.campaign.id, *why)
                other.lost = beaten[why]
        return _chosen(sit, contenders, ranked, contender, message, not_before, closing)
    return _suppressed(sit, contenders, _unique(failures + removed))


def _chosen(
    sit: Situation,
    contenders: list[Contender],
    ranked: list[Contender],
    winner: Contender,
    message: tuple[str, str, str],
    not_before: dt.datetime,
    closing: dt.datetime | None,
) -> Decision:
    campaign, settings = winner.campaign, sit.settings
    freshness = campaign.freshness_seconds or settings.default_freshness_seconds
    # Arithmetic on instants (UTC): on the store's wall clock "closing minus the margin" would
    # be wall-clock arithmetic, an hour off across a DST change.
    send_by = not_before.astimezone(UTC) + dt.timedelta(seconds=freshness)
    if closing is not None:
        send_by = min(
            send_by,
            closing.astimezone(UTC) - dt.timedelta(minutes=settings.closing_margin_minutes),
        )
    local = sit.local(send_by)
    facts: dict[str, object] = {
        "send_by": send_by.isoformat(),
        "send_by_local": f"{local.hour:02d}:{local.minute:02d}",
        "freshness_seconds": freshness,
    }
    if winner.matched_moments:
        facts["moment"] = winner.matched_moments[0]
    if winner.score is not None:
        facts["score"] = winner.score
    reasons: list[Reason] = [R.selected(campaign.id, campaign.kind, **facts)]
    outcome: Outcome = "send"
    if winner.not_before is not None:
        window = campaign.defer_window_seconds or 0
        reasons.insert(
            0, R.deferred_to_opening(campaign.id, sit.local(not_before), sit.now_local, window)
        )
        outcome = "defer"
    if campaign.holdout_pct > 0:
        bucket = holdout_bucket(sit.customer.customer_id, campaign.id)
        if bucket < campaign.holdout_pct:
            reasons.insert(0, R.holdout(campaign.id, bucket, campaign.holdout_pct))
            outcome = "holdout"
    locale, title, body = message
    return Decision(
        outcome=outcome,
        reasons=tuple(reasons),
        customer_id=sit.customer.customer_id,
        store_id=sit.store.id,
        event_id=sit.event.event_id,
        decided_at=sit.now,
        campaign_id=campaign.id,
        campaign_kind=campaign.kind,
        campaign_name=campaign.name,
        locale=locale,
        title=title,
        body=body,
        not_before=not_before.astimezone(UTC),
        send_by=send_by,
        moments=sit.moments,
        candidates=_candidates(contenders, ranked, winner, settings.goodwill_weight),
        settings_version=sit.settings_version,
        policy_version=POLICY_VERSION,
        goodwill_weight=settings.goodwill_weight,
    )


def _suppressed(
    sit: Situation, contenders: list[Contender], reasons: tuple[Reason, ...]
) -> Decision:
    weight = sit.settings.goodwill_weight
    return _decision(sit, "suppress", reasons, _candidates(contenders, [], None, weight))


def _decision(
    sit: Situation, outcome: Outcome, reasons: tuple[Reason, ...], candidates: tuple[Candidate, ...]
) -> Decision:
    """A decision without a chosen campaign."""
    return Decision(
        outcome=outcome,
        reasons=reasons,
        customer_id=sit.customer.customer_id,
        store_id=sit.store.id,
        event_id=sit.event.event_id,
        decided_at=sit.now,
        campaign_id=None,
        campaign_kind=None,
        campaign_name=None,
        locale=None,
        title=None,
        body=None,
        not_before=None,
        send_by=None,
        moments=sit.moments,
        candidates=candidates,
        settings_version=sit.settings_version,
        policy_version=POLICY_VERSION,
        goodwill_weight=sit.settings.goodwill_weight,
    )
