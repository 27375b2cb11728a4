"""Every gate of the policy, table-driven, and their order of precedence.

Each gate has a *trigger*: the smallest change to a decision that would otherwise send (a
reachable regular, an open store, one coffee offer) that makes the gate stop it. Alone, a
trigger must give its code and its exact sentence; applied together with a later gate's
trigger, the earlier gate must win, for every pair of gates.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from app.context import CustomerContext, OpenCase
from app.customers.schemas import QuietHours
from app.decisions.inputs import CampaignFacts, DecisionInputs
from app.decisions.policy import Decision, decide
from app.decisions.reasons import GATE_PRECEDENCE, REASON_CODES, SENTENCES
from app.decisions.settings import PolicySettings
from tests.decision_builders import (
    NOW,
    at_local,
    customer,
    event,
    inputs,
    offer,
    service,
    store,
    text,
)


@dataclass
class Scenario:
    """Changes to the default decision; triggers add to it, ``build`` makes the inputs."""

    now: dt.datetime = NOW
    customer: dict[str, Any] = field(default_factory=dict)
    store: dict[str, Any] = field(default_factory=dict)
    event: dict[str, Any] = field(default_factory=dict)
    campaign: dict[str, Any] = field(default_factory=dict)
    event_age_seconds: float = 0.0

    def build(self) -> tuple[DecisionInputs, dt.datetime]:
        occurred = self.now - dt.timedelta(seconds=self.event_age_seconds)
        campaign: CampaignFacts = offer(
            "blend", offer_categories=frozenset({"coffee"}), **self.campaign
        )
        built = inputs(
            campaign,
            customer=customer(at=self.now, **self.customer),
            store=store(**self.store),
            event=event(occurred, **self.event),
        )
        return built, self.now


def _case(scenario: Scenario, kind: str, opened_minutes_ago: float = 60) -> None:
    cases = list(scenario.customer.get("open_cases", ()))
    cases.append(
        OpenCase(
            case_id=f"case-{kind}",
            kind=kind,
            opened_at=scenario.now - dt.timedelta(minutes=opened_minutes_ago),
            store_id="s1",
        )
    )
    scenario.customer["open_cases"] = tuple(cases)


def _at(hour: int, minute: int) -> Callable[[Scenario], None]:
    def move(scenario: Scenario) -> None:
        scenario.now = at_local(hour, minute)

    return move


def _ago(scenario: Scenario, **delta: float) -> dt.datetime:
    return scenario.now - dt.timedelta(**delta)


TRIGGERS: dict[str, Callable[[Scenario], None]] = {
    "no_location_consent": lambda s: s.customer.update(consent_location=False),
    "no_marketing_consent": lambda s: s.customer.update(consent_marketing=False),
    "no_active_device": lambda s: s.customer.update(devices=()),
    "stale_event": lambda s: setattr(s, "event_age_seconds", 11 * 60),
    "low_accuracy": lambda s: s.event.update(accuracy_m=480.0),
    "suspected_spoof": lambda s: s.event.update(flags=frozenset({"mocked", "claim_mismatch"})),
    "hours_unknown": lambda s: s.store.update(opening_hours=None),
    "store_closed": _at(7, 45),
    "closing_soon": _at(18, 50),
    # Quiet all day but one minute: holds whatever instant another trigger picks.
    "quiet_hours": lambda s: s.customer.update(quiet_hours=QuietHours(start="00:00", end="23:59")),
    "open_complaint": lambda s: _case(s, "complaint"),
    "cancellation_pending": lambda s: _case(s, "cancellation"),
    "recently_purchased": lambda s: s.customer.update(
        last_purchase_by_category={"coffee": _ago(s, minutes=10)}
    ),
    "already_inside": lambda s: s.event.update(already_inside=True),
    "frequency_cap": lambda s: s.customer.update(invites_last_24h=2, invites_last_7d=2),
    "store_cooldown": lambda s: s.customer.update(last_invite_at_store=_ago(s, hours=3)),
    "campaign_cap": lambda s: (
        s.campaign.update(cap_per_day=1)
        or s.customer.update(invites_last_24h_by_campaign={"blend": 1})
    ),
    "no_eligible_campaign": lambda s: s.campaign.update(segments=frozenset({"vip"})),
    "template_error": lambda s: s.campaign.update(templates={"en": text(title="{moment}")}),
}

# The sentence each trigger gives on its own (NOW is Friday 12:30 in Zurich).
SENTENCE_ALONE = {
    "no_location_consent": "The customer has not allowed the use of their location.",
    "no_marketing_consent": "The customer has not agreed to receive invites.",
    "no_active_device": "The customer has no active device to send an invite to.",
    "stale_event": (
        "The location report is 11 minutes old; reports older than 10 minutes are not acted on."
    ),
    "low_accuracy": "The location is only accurate to 480 m; invites need 150 m or better.",
    "suspected_spoof": "The location looks spoofed (mocked).",
    "hours_unknown": ("The store's opening hours are not known; Kairos never invites when unsure."),
    "store_closed": "The store is closed; it opens at 09:00.",
    "closing_soon": (
        "The store closes at 19:00, in 10 minutes; invites stop 20 minutes before closing."
    ),
    "quiet_hours": (
        "It is 12:30 where the customer is (Europe/Zurich), within the customer's quiet "
        "hours 00:00-23:59."
    ),
    "open_complaint": (
        "The customer has an open complaint (case-complaint): no offers until it is "
        "resolved; service and apology messages may still go."
    ),
    "cancellation_pending": (
        "The customer has a pending cancellation (case-cancellation): no offers until it is "
        "settled; service and apology messages may still go."
    ),
    "recently_purchased": (
        "Bought coffee 10 minutes ago; no coffee offers within 4 hours of buying coffee."
    ),
    "already_inside": (
        "The customer has stayed inside since an earlier decision for this visit; no new "
        "invite until they have left."
    ),
    "frequency_cap": "2 invites in the last 24 hours (limit 2).",
    "store_cooldown": "Invited at this store 3 hours ago; one invite per store every 24 hours.",
    "campaign_cap": (
        "Campaign blend reached its cap for this customer: 1 invite in the last 24 hours (limit 1)."
    ),
    "no_eligible_campaign": "None of the 1 campaigns at this store fits this customer now.",
    "template_error": (
        "The en message of campaign blend cannot be rendered: no value for {moment}."
    ),
}

CANDIDATE_GATES = {"open_complaint", "cancellation_pending", "recently_purchased", "campaign_cap"}
"""Gates that remove candidates rather than stop the decision: they only apply when there is
an eligible candidate to remove."""

INCOMPATIBLE = {("store_closed", "closing_soon")}
"""Pairs whose triggers cannot hold at once (both pick the instant)."""


def run(*codes: str) -> Decision:
    scenario = Scenario()
    for code in codes:
        TRIGGERS[code](scenario)
    built, now = scenario.build()
    return decide(built, now)


def test_the_baseline_sends() -> None:
    decision = run()
    assert decision.outcome == "send"
    assert decision.reason_codes == ("selected",)


def test_every_gate_has_a_trigger_a_sentence_and_a_place() -> None:
    assert set(TRIGGERS) == set(GATE_PRECEDENCE) == set(SENTENCE_ALONE)
    assert set(SENTENCES) == set(REASON_CODES)
    assert GATE_PRECEDENCE == (
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
    )


@pytest.mark.parametrize("code", GATE_PRECEDENCE)
def test_each_gate_alone(code: str) -> None:
    decision = run(code)
    assert decision.outcome == "suppress"
    assert decision.reason_codes == (code,)
    assert decision.reasons[0].message == SENTENCE_ALONE[code]
    assert decision.summary == f"Suppressed ({code}): {SENTENCE_ALONE[code]}"
    assert decision.title is None
    assert decision.send_by is None
    [candidate] = decision.candidates
    assert not candidate.chosen
    assert candidate.lost_because is not None
    # Nothing eligible: the candidate says why it was not (its segment), the decision sums up.
    expected = "segment_mismatch" if code == "no_eligible_campaign" else code
    assert candidate.lost_because.code == expected


def _expected_winner(first: str, second: str) -> str:
    if first in CANDIDATE_GATES and second == "no_eligible_campaign":
        return second  # nothing eligible: a candidate gate has nothing to remove
    return first


PAIRS = [pair for pair in itertools.combinations(GATE_PRECEDENCE, 2) if pair not in INCOMPATIBLE]


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}>{b}" for a, b in PAIRS])
def test_precedence_for_every_pair(first: str, second: str) -> None:
    decision = run(first, second)
    assert decision.outcome == "suppress"
    assert decision.reasons[0].code == _expected_winner(first, second)


def test_preconditions_stop_before_any_campaign_is_considered() -> None:
    decision = run("no_marketing_consent", "no_eligible_campaign")
    [candidate] = decision.candidates
    assert candidate.lost_because is not None
    assert candidate.lost_because.code == "no_marketing_consent"
    assert candidate.score is None


def test_a_later_gate_still_names_what_earlier_candidate_gates_removed() -> None:
    # The complaint removes the offer; a service message survives it, then its cap stops it.
    complaint = OpenCase(case_id="k1", kind="complaint", opened_at=NOW, store_id="s1")
    built = inputs(
        offer("blend"),
        service("repair-ready", cap_per_day=0),
        customer=customer(open_cases=(complaint,)),
    )
    decision = decide(built, NOW)
    assert decision.reason_codes == ("campaign_cap", "open_complaint")
    assert decision.summary.startswith(
        "Suppressed (campaign_cap): Campaign repair-ready reached its cap"
    )
    assert "Also: The customer has an open complaint (k1)" in decision.summary


def test_unknown_customer_reads_as_no_consent() -> None:
    unknown = CustomerContext(
        customer_id="c9", store_id="s1", at=NOW, timezone="Europe/Zurich", known=False
    )
    decision = decide(inputs(customer=unknown), NOW)
    assert decision.reason_codes == ("no_location_consent",)
    assert decision.reasons[0].message == (
        "Kairos has no profile for this customer, hence no consent to use their location."
    )


@pytest.mark.parametrize(
    ("accuracy", "code"), [(150.0, "selected"), (150.5, "low_accuracy"), (None, "selected")]
)
def test_accuracy_limit_is_inclusive_and_unknown_accuracy_passes(
    accuracy: float | None, code: str
) -> None:
    assert decide(inputs(event=event(accuracy_m=accuracy)), NOW).reason_codes[0] == code


@pytest.mark.parametrize(("age_seconds", "code"), [(600, "selected"), (601, "stale_event")])
def test_stale_limit(age_seconds: int, code: str) -> None:
    occurred = NOW - dt.timedelta(seconds=age_seconds)
    assert decide(inputs(event=event(occurred)), NOW).reason_codes[0] == code


def test_spoof_flags_are_a_setting() -> None:
    flagged = inputs(event=event(flags=frozenset({"claim_mismatch"})))
    assert decide(flagged, NOW).outcome == "send"
    strict = PolicySettings(spoof_flags=("claim_mismatch", "jumped", "mocked"))
    decision = decide(
        inputs(event=event(flags=frozenset({"claim_mismatch"})), settings=strict), NOW
    )
    assert decision.reason_codes == ("suspected_spoof",)
    assert decision.reasons[0].data == {"flags": ["claim_mismatch"]}


def test_an_expression_that_no_longer_compiles_reads_as_unknown_hours() -> None:
    decision = decide(inputs(store=store(opening_hours="Mo-Fr 25:00-26:00")), NOW)
    assert decision.reason_codes == ("hours_unknown",)
    assert decision.reasons[0].message == (
        "The store's opening hours cannot be determined right now; Kairos never invites "
        "when unsure."
    )


def test_closed_sentence_names_the_day_when_it_is_not_today() -> None:
    saturday_night = at_local(20, 30, day=15)  # Saturday; closed Sunday: opens Monday
    decision = decide(inputs(event=event(saturday_night)), saturday_night)
    assert decision.reasons[0].message == "The store is closed; it opens Monday at 09:00."
    assert decision.reasons[0].data["opens_at"] == "2025-03-17T09:00:00+01:00"
    assert decision.reasons[0].data["local_time"] == "20:30"


def test_closing_margin_boundary_and_setting() -> None:
    twenty_before = at_local(18, 40)
    assert decide(inputs(event=event(twenty_before)), twenty_before).reason_codes == (
        "closing_soon",
    )
    just_before = twenty_before - dt.timedelta(seconds=1)
    assert decide(inputs(event=event(just_before)), just_before).outcome == "send"
    relaxed = PolicySettings(closing_margin_minutes=5)
    assert decide(inputs(event=event(twenty_before), settings=relaxed), twenty_before).outcome == (
        "send"
    )
