"""Selection, eligibility, messages, satiation, caps, defer, holdout and send_by."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from app.context import DeliveryFact, OpenCase
from app.customers.schemas import QuietHours
from app.decisions.policy import Decision, decide, holdout_bucket, score_formula
from app.decisions.settings import PolicySettings
from app.moments import PurchaseMade
from tests.decision_builders import (
    NOW,
    ago,
    at_local,
    campaign,
    customer,
    event,
    inputs,
    moment_campaign,
    offer,
    purchase,
    replace,
    service,
    store,
    text,
)


def chosen(decision: Decision) -> str | None:
    assert decision.outcome != "suppress", decision.summary
    return decision.campaign_id


def lost(decision: Decision, campaign_id: str) -> tuple[str, str]:
    [candidate] = [c for c in decision.candidates if c.campaign_id == campaign_id]
    assert candidate.lost_because is not None
    return candidate.lost_because.code, candidate.lost_because.message


FIRST_VISIT = customer(
    first_visit_at=None, last_visit_at=None, last_visit_at_store=None, orders_total=0
)


# Ranking ----------------------------------------------------------------------------------
def test_ten_at_eighty_percent_beats_twenty_at_fifty_by_default() -> None:
    decision = decide(inputs(offer("big", "20", 0.5), offer("likely", "10", 0.8)), NOW)
    assert chosen(decision) == "likely"
    scores = {c.campaign_id: (c.rank, c.score, c.score_formula) for c in decision.candidates}
    assert scores == {
        "likely": (1, 11.0, "0.80 x 10.00 + 5 x (0.80 - 0.20) = 11.00"),
        "big": (2, 10.0, "0.50 x 20.00 + 5 x (0.50 - 0.50) = 10.00"),
    }
    assert lost(decision, "big") == (
        "outranked",
        "Campaign likely came first: its long-term score is higher (11.00).",
    )
    assert decision.score_formula.startswith("score = p x margin + 5 x (p - (1 - p))")


def test_the_long_term_weight_is_a_setting() -> None:
    short_term = PolicySettings(goodwill_weight=0)
    decision = decide(
        inputs(offer("big", "20", 0.5), offer("likely", "10", 0.8), settings=short_term), NOW
    )
    assert chosen(decision) == "big"
    assert decision.score_formula.startswith("score = p x margin + 0 x (p - (1 - p))")


def test_missing_probability_and_margin_take_the_documented_defaults() -> None:
    bare = campaign("bare", "offer")
    [candidate] = decide(inputs(bare), NOW).candidates
    assert (candidate.acceptance_probability, candidate.margin) == (0.1, 0.0)
    assert candidate.score == pytest.approx(0.1 * 0 + 5 * (0.2 - 1))


def test_equal_scores_go_to_the_lower_campaign_id() -> None:
    decision = decide(inputs(offer("b-offer"), offer("a-offer")), NOW)
    assert chosen(decision) == "a-offer"
    assert lost(decision, "b-offer")[1] == (
        "Campaign a-offer came first: equal rank; the lower campaign id goes first."
    )


def test_moments_outrank_offers_and_a_thank_you_carries_no_offer() -> None:
    welcome = moment_campaign("welcome", "first_visit_ever", margin=Decimal(50))
    decision = decide(inputs(offer("blend", "90", 0.99), welcome, customer=FIRST_VISIT), NOW)
    assert chosen(decision) == "welcome"
    assert decision.campaign_kind == "moment"
    [thanks] = [c for c in decision.candidates if c.chosen]
    assert thanks.score is None  # never scored: it asks for nothing in return
    assert thanks.moments == ("first_visit_ever",)
    assert lost(decision, "blend")[1] == (
        "Campaign welcome came first: a relationship moment (first_visit_ever) comes before offers."
    )
    assert decision.reasons[-1].message == (
        "Invite with campaign welcome by 13:00: the relationship moment first_visit_ever calls "
        "for a thank-you, not a sale."
    )


def test_service_comes_before_sales() -> None:
    decision = decide(inputs(offer("blend"), service("repair-ready")), NOW)
    assert chosen(decision) == "repair-ready"
    assert lost(decision, "blend")[1] == (
        "Campaign repair-ready came first: service comes before sales."
    )


def test_the_more_important_moment_wins() -> None:
    late = DeliveryFact(
        order_id="o-late",
        promised_at=ago(days=5),
        delivered_at=ago(days=3),
        delayed=True,
        followed_by_visit=False,
    )
    back = customer(latest_delivery=late, last_visit_at_store=None)  # also a first here
    apology = moment_campaign("sorry", "first_visit_after_delayed_delivery")
    hello = moment_campaign("hello-here", "first_visit_to_store")
    decision = decide(inputs(hello, apology, customer=back), NOW)
    assert chosen(decision) == "sorry"
    assert [m.code for m in decision.moments] == [
        "first_visit_after_delayed_delivery",
        "first_visit_to_store",
    ]
    assert lost(decision, "hello-here")[1] == (
        "Campaign sorry came first: its moment (first_visit_after_delayed_delivery) matters "
        "more than first_visit_to_store."
    )


# Eligibility ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"enabled": False}, "inactive", "Campaign blend is disabled."),
        (
            {"active_from": NOW + dt.timedelta(days=1)},
            "inactive",
            "Campaign blend starts at 2025-03-15T11:30:00+00:00.",
        ),
        (
            {"active_until": NOW},
            "inactive",
            "Campaign blend ended at 2025-03-14T11:30:00+00:00.",
        ),
        (
            {"segments": frozenset({"vip", "gold"})},
            "segment_mismatch",
            "Only for customers in gold, vip.",
        ),
        (
            {"moments": frozenset({"first_visit_ever"})},
            "moment_mismatch",
            "Only for first_visit_ever; no moment found.",
        ),
        (
            {"categories": frozenset({"garden", "tea"})},
            "category_mismatch",
            "Only for customers who have bought garden or tea.",
        ),
    ],
)
def test_eligibility(changes: dict[str, object], code: str, message: str) -> None:
    decision = decide(inputs(offer("blend", **changes)), NOW)
    assert decision.reason_codes == ("no_eligible_campaign",)
    assert lost(decision, "blend") == (code, message)


def test_eligible_when_the_customer_matches() -> None:
    matching = offer(
        "blend", segments=frozenset({"vip"}), categories=frozenset({"coffee", "garden"})
    )
    assert chosen(decide(inputs(matching, customer=customer(segments=frozenset({"vip"}))), NOW))


def test_a_moment_campaign_needs_a_moment() -> None:
    decision = decide(inputs(moment_campaign("welcome")), NOW)
    assert lost(decision, "welcome") == (
        "moment_mismatch",
        "Only for a relationship moment; no moment found.",
    )
    assert chosen(decide(inputs(moment_campaign("welcome"), customer=FIRST_VISIT), NOW))


def test_no_campaign_at_all() -> None:
    decision = decide(replace(inputs(), campaigns=()), NOW)
    assert decision.reason_codes == ("no_eligible_campaign",)
    assert decision.reasons[0].message == "No campaign runs at this store right now."
    assert decision.candidates == ()


def test_customer_locale_can_be_required() -> None:
    german = customer(locale="de-CH")
    english_only = offer("blend")
    assert decide(inputs(english_only, customer=german), NOW).locale == "en"
    strict = PolicySettings(require_customer_locale=True)
    decision = decide(inputs(english_only, customer=german, settings=strict), NOW)
    assert lost(decision, "blend") == (
        "locale_unavailable",
        "No message in the customer's language (de-CH).",
    )


# Messages ---------------------------------------------------------------------------------
def test_message_in_the_customers_language_with_local_times() -> None:
    bilingual = offer(
        "blend",
        templates={
            "en": text("Hi {first_name}", "Open until {closes_at}"),
            "fr": text("Bonjour {first_name}", "{store_name} : ouvert jusqu'à {closes_at}"),
        },
    )
    decision = decide(inputs(bilingual, customer=customer(locale="fr-CH")), NOW)
    assert (decision.locale, decision.title, decision.body) == (
        "fr",
        "Bonjour Ana",
        "Bahnhofstrasse : ouvert jusqu'à 19:00",
    )


def test_a_missing_first_name_never_breaks_the_message() -> None:
    greeting = offer(
        "blend", templates={"en": text("Hi {first_name}, welcome", "Thanks, {first_name}!")}
    )
    decision = decide(inputs(greeting, customer=customer(first_name=None)), NOW)
    assert (decision.title, decision.body) == ("Hi, welcome", "Thanks!")


def test_falls_back_to_the_default_locale_then_to_the_next_campaign() -> None:
    broken_fr = offer(
        "a-blend",
        templates={"en": text("Hello", "{closes_at}"), "fr": text("{moment}", "x")},
    )
    decision = decide(inputs(broken_fr, customer=customer(locale="fr")), NOW)
    assert (decision.campaign_id, decision.locale, decision.title) == ("a-blend", "en", "Hello")

    broken = offer("a-blend", templates={"en": text("{moment}", "x")})
    decision = decide(inputs(broken, offer("b-blend")), NOW)
    assert decision.campaign_id == "b-blend"
    assert lost(decision, "a-blend") == (
        "template_error",
        "The en message of campaign a-blend cannot be rendered: no value for {moment}.",
    )


def test_the_moment_in_words() -> None:
    welcome = moment_campaign("welcome", templates={"en": text("Welcome", "Thanks for {moment}")})
    decision = decide(inputs(welcome, customer=FIRST_VISIT), NOW)
    assert decision.body == "Thanks for your first visit"


# Service before sales ---------------------------------------------------------------------
COMPLAINT = OpenCase(case_id="k-table", kind="complaint", opened_at=ago(days=2), store_id="s1")


def test_complaint_blocks_offers_and_celebrations_but_not_service_or_apology() -> None:
    late = DeliveryFact(
        order_id="o-table",
        promised_at=ago(days=5),
        delivered_at=None,
        delayed=True,
        followed_by_visit=False,
    )
    unhappy = customer(open_cases=(COMPLAINT,), latest_delivery=late, last_visit_at_store=None)
    celebrate = moment_campaign("hello-here", "first_visit_to_store")
    apology = moment_campaign("sorry", "first_visit_after_delayed_delivery")
    decision = decide(inputs(offer("blend"), celebrate, apology, customer=unhappy), NOW)
    assert chosen(decision) == "sorry"
    assert lost(decision, "blend")[0] == "open_complaint"
    assert lost(decision, "hello-here") == (
        "open_complaint",
        "The customer has an open complaint (k-table): no celebrations until it is resolved; "
        "service and apology messages may still go.",
    )
    decision = decide(inputs(offer("blend"), service("repair-ready"), customer=unhappy), NOW)
    assert chosen(decision) == "repair-ready"


# Satiation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("category", "hours_ago", "blocked"),
    [
        ("coffee", 3.9, True),  # coffee: 4 hours
        ("coffee", 4.1, False),
        ("tea", 23, True),  # default: 24 hours
        ("tea", 25, False),
    ],
)
def test_refractory_window_per_category(category: str, hours_ago: float, blocked: bool) -> None:
    bought = customer(last_purchase_by_category={category: ago(hours=hours_ago)})
    decision = decide(
        inputs(offer("blend", offer_categories=frozenset({category})), customer=bought), NOW
    )
    assert (decision.reason_codes[0] == "recently_purchased") is blocked


def test_substitutes_are_satiated_too() -> None:
    settings = PolicySettings(substitutes={"coffee": ["capsules"]})
    bought = customer(last_purchase_by_category={"coffee": ago(minutes=30)})
    capsules = offer("caps", offer_categories=frozenset({"capsules"}))
    decision = decide(inputs(capsules, customer=bought, settings=settings), NOW)
    assert decision.reasons[0].message == (
        "Bought coffee 30 minutes ago; no coffee (or capsules) offers within 4 hours of buying "
        "coffee."
    )


def test_any_purchase_here_blocks_offers_here_for_six_hours() -> None:
    here = purchase("o-7", ago(hours=2), "books")
    decision = decide(inputs(offer("blend"), customer=customer(last_purchase_at_store=here)), NOW)
    assert decision.reasons[0].message == (
        "Bought at this store 2 hours ago (order o-7); no offers here within 6 hours of a purchase."
    )
    earlier = purchase("o-7", ago(hours=7), "books")
    assert chosen(
        decide(inputs(offer("blend"), customer=customer(last_purchase_at_store=earlier)), NOW)
    )


GARDEN = PolicySettings(complements={"garden_furniture": ["garden_shade"]})
TABLE = PurchaseMade(
    order_id="o-table",
    at=NOW - dt.timedelta(minutes=5),
    channel="store",
    store_id="s1",
    currency="GBP",
    total=Decimal("349.00"),
    categories=frozenset({"garden_furniture"}),
)
UMBRELLA = offer("umbrella", offer_categories=frozenset({"garden_shade"}))
CHAIRS = offer("chairs", offer_categories=frozenset({"garden_furniture"}))


def test_the_umbrella_after_the_garden_table() -> None:
    at_purchase = event(kind="purchase", order=TABLE, accuracy_m=None)
    decision = decide(inputs(CHAIRS, UMBRELLA, event=at_purchase, settings=GARDEN), NOW)
    assert chosen(decision) == "umbrella"
    assert lost(decision, "chairs") == (
        "recently_purchased",
        "Bought garden_furniture 5 minutes ago; no garden_furniture offers within 24 hours of "
        "buying garden_furniture.",
    )
    # Without the complement setting the purchase here blocks the umbrella too.
    decision = decide(inputs(UMBRELLA, event=at_purchase), NOW)
    assert decision.reasons[0].data["rule"] == "store"


def test_no_umbrella_while_a_complaint_about_the_table_is_open() -> None:
    at_purchase = event(kind="purchase", order=TABLE, accuracy_m=None)
    unhappy = customer(open_cases=(COMPLAINT,))
    decision = decide(inputs(UMBRELLA, event=at_purchase, customer=unhappy, settings=GARDEN), NOW)
    assert decision.reason_codes == ("open_complaint",)


# Fatigue ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("facts", "settings", "message"),
    [
        ({"invites_last_24h": 2}, PolicySettings(), "2 invites in the last 24 hours (limit 2)."),
        ({"invites_last_7d": 5}, PolicySettings(), "5 invites in the last 7 days (limit 5)."),
        (
            {"invites_today": 1},
            PolicySettings(frequency_cap_per_local_day=1),
            "1 invite today (limit 1).",
        ),
    ],
)
def test_frequency_caps(facts: dict[str, int], settings: PolicySettings, message: str) -> None:
    decision = decide(inputs(customer=customer(**facts), settings=settings), NOW)
    assert decision.reason_codes == ("frequency_cap",)
    assert decision.reasons[0].message == message


def test_below_the_caps_sends() -> None:
    under = customer(invites_last_24h=1, invites_last_7d=4, invites_today=3)
    assert chosen(decide(inputs(customer=under), NOW))


@pytest.mark.parametrize(
    ("changes", "facts", "message"),
    [
        (
            {"cap_per_week": 2},
            {"invites_last_7d_by_campaign": {"blend": 2}},
            "Campaign blend reached its cap for this customer: 2 invites in the last 7 days "
            "(limit 2).",
        ),
        (
            {"cooldown_seconds": 3 * 86400},
            {"last_invite_at_by_campaign": {"blend": ago(days=2)}},
            "Campaign blend was sent to this customer 2 days ago; it waits 3 days between invites.",
        ),
    ],
)
def test_campaign_caps(changes: dict[str, int], facts: dict[str, object], message: str) -> None:
    decision = decide(inputs(offer("blend", **changes), customer=customer(**facts)), NOW)
    assert decision.reason_codes == ("campaign_cap",)
    assert decision.reasons[0].message == message


def test_a_capped_campaign_leaves_room_for_another() -> None:
    facts = customer(invites_last_24h_by_campaign={"blend": 1})
    decision = decide(inputs(offer("blend", cap_per_day=1), offer("other"), customer=facts), NOW)
    assert chosen(decision) == "other"


# Timing: send_by, defer -------------------------------------------------------------------
def test_send_by_is_the_earlier_of_freshness_and_closing_minus_margin() -> None:
    assert decide(inputs(), NOW).send_by == NOW + dt.timedelta(minutes=30)
    late = at_local(18, 25)
    decision = decide(inputs(event=event(late)), late)
    assert decision.send_by == at_local(18, 40)
    assert decision.not_before == late
    fresh = decide(inputs(offer("blend", freshness_seconds=600)), NOW)
    assert fresh.send_by == NOW + dt.timedelta(minutes=10)


DEFERRING = offer("blend", defer_window_seconds=30 * 60)


def test_defer_to_the_opening_within_the_window() -> None:
    early = at_local(8, 40)
    decision = decide(inputs(DEFERRING, event=event(early)), early)
    assert decision.outcome == "defer"
    assert decision.not_before == at_local(9, 0)
    assert decision.send_by == at_local(9, 30)
    assert decision.reason_codes == ("deferred_to_opening", "selected")
    assert decision.reasons[0].message == (
        "The store opens at 09:00; campaign blend waits for the opening (it may wait up to "
        "30 minutes), and delivery checks the customer is still there."
    )
    assert decision.summary.startswith("Deferred: Invite with campaign blend by 09:30")


def test_no_defer_outside_the_window_or_without_opting_in() -> None:
    earlier = at_local(8, 20)
    assert decide(inputs(DEFERRING, event=event(earlier)), earlier).reason_codes == (
        "store_closed",
    )
    early = at_local(8, 40)
    assert decide(inputs(offer("blend"), event=event(early)), early).reason_codes == (
        "store_closed",
    )


def test_only_the_deferring_campaign_survives_a_closed_store() -> None:
    early = at_local(8, 40)
    decision = decide(inputs(offer("a-now"), DEFERRING, event=event(early)), early)
    assert decision.campaign_id == "blend"
    assert lost(decision, "a-now")[0] == "store_closed"


def test_a_deferred_invite_respects_quiet_hours_at_the_opening() -> None:
    early = at_local(8, 40)
    sleepy = customer(quiet_hours=QuietHours(start="22:00", end="09:15"))
    decision = decide(inputs(DEFERRING, event=event(early), customer=sleepy), early)
    assert decision.reason_codes == ("quiet_hours",)
    assert decision.reasons[0].data["local_time"] == "09:00"


# Quiet hours ------------------------------------------------------------------------------
def test_quiet_hours_where_the_customer_stands() -> None:
    # 21:30 in Zurich is 20:30 in London: quiet by the default 21:00-08:00 in Zurich only.
    open_late = store(opening_hours="Mo-Su 08:00-23:00")
    evening = at_local(21, 30)
    decision = decide(inputs(store=open_late, event=event(evening)), evening)
    assert decision.reasons[0].message == (
        "It is 21:30 where the customer is (Europe/Zurich), within the default quiet hours "
        "21:00-08:00."
    )
    abroad = event(evening, customer_timezone="Europe/London")
    assert decide(inputs(store=open_late, event=abroad), evening).outcome == "send"


def test_the_customers_own_quiet_hours_win() -> None:
    night_owl = customer(quiet_hours=QuietHours(start="23:30", end="06:00"))
    open_late = store(opening_hours="Mo-Su 08:00-23:00")
    evening = at_local(21, 30)
    assert (
        decide(inputs(store=open_late, customer=night_owl, event=event(evening)), evening).outcome
        == "send"
    )


# Holdout ----------------------------------------------------------------------------------
def test_holdout_is_recorded_like_a_send_but_says_so() -> None:
    decision = decide(inputs(offer("blend", holdout_pct=100)), NOW)
    assert decision.outcome == "holdout"
    assert decision.title == "Hi Ana"  # what would have been sent
    assert decision.reason_codes == ("holdout", "selected")
    bucket = holdout_bucket("c1", "blend")
    assert decision.reasons[0].data == {
        "campaign_id": "blend",
        "bucket": round(bucket, 6),
        "holdout_pct": 100,
    }
    assert decide(inputs(offer("blend", holdout_pct=0)), NOW).outcome == "send"


def test_holdout_bucket_is_a_stable_hash() -> None:
    assert holdout_bucket("c1", "blend") == holdout_bucket("c1", "blend")
    assert 0 <= holdout_bucket("c1", "blend") < 100
    assert holdout_bucket("c1", "blend") != holdout_bucket("c1", "other")
    # Pinned: a change of the hash would silently reshuffle every control group.
    assert holdout_bucket("customer-1", "campaign-1") == pytest.approx(34.25732864150933)


def test_score_formula_reads_like_arithmetic() -> None:
    assert score_formula(0.8, 10, 5, 11) == "0.80 x 10.00 + 5 x (0.80 - 0.20) = 11.00"


def test_purchase_trigger_moments_are_the_orders() -> None:
    milestone = PurchaseMade(
        order_id="o-23",
        at=NOW,
        channel="store",
        store_id="s1",
        currency="GBP",
        total=Decimal("20"),
        categories=frozenset({"coffee"}),
    )
    vip = customer(orders_this_year=22, segments=frozenset({"high_value"}))
    thanks = moment_campaign("thanks", "milestone_order")
    decision = decide(
        inputs(thanks, offer("blend"), customer=vip, event=event(kind="purchase", order=milestone)),
        NOW,
    )
    assert chosen(decision) == "thanks"
    assert [m.code for m in decision.moments] == ["milestone_order"]


def test_quiet_hours_with_a_zone_of_their_own() -> None:
    # The customer set 22:00-07:00 in New York: 21:30 in Zurich is 16:30 there.
    open_late = store(opening_hours="Mo-Su 08:00-23:00")
    evening = at_local(21, 30)
    new_yorker = customer(
        quiet_hours=QuietHours(start="22:00", end="07:00", timezone="America/New_York")
    )
    stood = event(evening, customer_timezone="Europe/Zurich")
    assert decide(inputs(store=open_late, customer=new_yorker, event=stood), evening).outcome == (
        "send"
    )
    morning = at_local(9, 30)  # 04:30 in New York
    decision = decide(inputs(customer=new_yorker, event=event(morning)), morning)
    assert decision.reasons[0].message == (
        "It is 04:30 in America/New_York, the zone of the customer's quiet hours, within the "
        "customer's quiet hours 22:00-07:00."
    )
