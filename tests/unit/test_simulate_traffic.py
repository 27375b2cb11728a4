"""The simulated day without a server: paths, the app's traffic, hours, the invariant checks."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
import shapely

from app.demo.city import DEMO_DAY, STORES, geofence_id, geofence_of, store_by_id
from app.demo.people import demo_people, local
from app.demo.stories import STORIES, story_itineraries
from app.simulate.driver import SimulationConfig, SimulationRun, Tally
from app.simulate.invariants import check_invariants
from app.simulate.paths import distance_m, itineraries
from app.simulate.results import DayResults, DecisionRow, InviteRow, open_intervals
from app.simulate.traffic import LATE_UPLOAD_MINUTES, UPLOAD_MINUTES, traffic_for

PEOPLE = demo_people()


def test_the_demo_has_500_people_and_every_story_customer_first() -> None:
    assert len(PEOPLE) == 500
    assert len({p.id for p in PEOPLE}) == 500
    assert [p.id for p in PEOPLE[: len(STORIES)]] == [s.person.id for s in STORIES]
    assert all(p.id.startswith("demo-c-") for p in PEOPLE)
    locales = {p.locale for p in PEOPLE}
    assert locales == {"en-GB", "fr"}


def test_everyone_walks_forward_in_time_and_stops_inside_the_stores() -> None:
    plans = itineraries(PEOPLE, DEMO_DAY)
    assert len(plans) == 500
    fences = {}
    for store in STORES:
        fence = geofence_of(store)
        if fence.geometry is not None:
            fences[store.id] = shapely.Polygon(fence.geometry.coordinates[0])
    visits = 0
    for plan in plans:
        previous = None
        for stop in plan.stops:
            assert stop.arrive <= stop.leave
            if previous is not None:
                assert previous.leave <= stop.arrive, plan.customer_id
            previous = stop
            if stop.store_id is None:
                continue
            visits += 1
            store = store_by_id(stop.store_id)
            if store.id in fences:
                assert fences[store.id].contains(shapely.Point(stop.lng, stop.lat)), store.id
            else:
                assert distance_m((stop.lat, stop.lng), (store.lat, store.lng)) < store.fence_m
    assert visits > 800  # a believable high street: well over one store per customer


def test_the_same_day_replays_the_same_traffic() -> None:
    plan = itineraries(PEOPLE[:40], DEMO_DAY)
    first = [traffic_for(p, DEMO_DAY) for p in plan]
    again = [traffic_for(p, DEMO_DAY) for p in itineraries(PEOPLE[:40], DEMO_DAY)]
    assert [[e.body for e in t.events] for t in first] == [
        [e.body for e in t.events] for t in again
    ]
    assert [[o.body for o in t.orders] for t in first] == [
        [o.body for o in t.orders] for t in again
    ]


def test_the_app_reports_like_a_phone() -> None:
    traffic = [traffic_for(p, DEMO_DAY) for p in itineraries(PEOPLE, DEMO_DAY)]
    events = [e for t in traffic for e in t.events]
    kinds = {e.body["type"] for e in events}
    assert kinds == {"fix", "enter", "exit", "dwell", "checkin"}
    for e in events:
        assert e.send_at >= e.at
        if e.body["type"] == "fix" and not e.offline:
            # Batched fixes arrive before they go stale (ten minutes).
            assert e.send_at - e.at <= dt.timedelta(minutes=UPLOAD_MINUTES)
        elif e.body["type"] != "fix":
            assert e.send_at == e.at or e.resend  # geofence events go at once
        if e.body["type"] in ("enter", "exit", "dwell"):
            assert e.body["geofence_id"].endswith(":front")
        if e.body["type"] == "checkin":
            assert e.body["store_id"].startswith("demo-")
        uuid.UUID(e.body["event_id"])
        assert dt.datetime.fromisoformat(e.body["occurred_at"]) == e.at
    # Some noise: resends (same event id), weak fixes, mocked locations, offline uploads.
    resent = [e for e in events if e.resend]
    assert resent
    first_ids = {e.body["event_id"] for e in events if not e.resend}
    assert all(e.body["event_id"] in first_ids for e in resent)
    assert any(e.body["accuracy_m"] > 150 for e in events)
    assert any(e.body.get("is_mocked") for e in events)
    late = dt.timedelta(minutes=LATE_UPLOAD_MINUTES)
    assert any(e.offline and e.send_at - e.at >= late for e in events)
    orders = [o for t in traffic for o in t.orders]
    assert len({o.body["order_id"] for o in orders}) == len(orders) > 100
    assert all(o.body["order_id"].startswith("demo-sim-20261124-") for o in orders)


def test_stories_are_scripted_as_the_design_tells_them() -> None:
    days = story_itineraries(DEMO_DAY)
    claire = days["demo-c-claire"].stops
    boutique = [s for s in claire if s.store_id == "demo-capsule-regent"]
    assert [s.arrive.strftime("%H:%M") for s in boutique] == ["07:45", "12:30"]
    tom = days["demo-c-tom"].stops
    coffee = next(s for s in tom if s.purchase)
    passing = next(s for s in tom if s.store_id == "demo-capsule-regent")
    assert dt.timedelta(minutes=5) <= passing.arrive - coffee.arrive <= dt.timedelta(minutes=20)
    silent = [cid for cid, day in days.items() if any(s.app_silent for s in day.stops)]
    assert sorted(silent) == ["demo-c-emma", "demo-c-james", "demo-c-oliver"]


@pytest.mark.parametrize(
    ("store_id", "day", "expected"),
    [
        ("demo-capsule-regent", DEMO_DAY, [("09:00", "19:00")]),
        ("demo-bar-lantern", DEMO_DAY, []),  # Fr-Sa only, and the 24th is a Tuesday
        ("demo-bar-lantern", dt.date(2026, 11, 27), [("22:00", "24:00")]),
        ("demo-express-euston", DEMO_DAY, [("06:00", "24:00")]),
        ("demo-pharmacy-marylebone", dt.date(2026, 12, 28), []),  # substitute Boxing Day
        ("demo-pharmacy-marylebone", DEMO_DAY, [("08:00", "19:00")]),
    ],
)
def test_opening_hours_over_the_simulated_window(
    store_id: str, day: dt.date, expected: list[tuple[str, str]]
) -> None:
    store = store_by_id(store_id)
    start, end = local(day, "06:00"), local(day, "00:00", 1)
    found = open_intervals(store.opening_hours, "Europe/London", "GB", "ENG", start, end)
    shown = [
        (a.astimezone(start.tzinfo).strftime("%H:%M"), "24:00" if b == end else
         b.astimezone(start.tzinfo).strftime("%H:%M"))
        for a, b in found
    ]  # fmt: skip
    assert shown == expected


def _results(invites: list[InviteRow], decisions: list[DecisionRow]) -> DayResults:
    run = SimulationRun(
        config=SimulationConfig(day=DEMO_DAY),
        people=(),
        itineraries={},
        tally=Tally(),
        seconds=1.0,
        started_at=local(DEMO_DAY, "06:00"),
        ended_at=local(DEMO_DAY, "00:00", 1),
    )
    return DayResults(run=run, decisions=decisions, invites=invites, stores=[], stories=[])


def _invite(customer: str, campaign: str, store: str, sent: str) -> InviteRow:
    at = local(DEMO_DAY, sent)
    return InviteRow(
        id=uuid.uuid4(), decision_id=uuid.uuid4(), customer_id=customer, store_id=store,
        campaign_id=campaign, kind="offer", status="delivered", cancel_reason=None,
        cancel_message=None, not_before=at, send_by=at + dt.timedelta(minutes=30),
        sent_at=at, delivered_at=at, opened_at=None, created_at=at, title="t",
    )  # fmt: skip


def test_the_invariant_checks_catch_what_they_are_for() -> None:
    fine = _results(
        [_invite("demo-c-claire", "demo-offer-blend", "demo-capsule-regent", "12:31")], []
    )
    assert check_invariants(fine).held
    early = _invite("demo-c-claire", "demo-offer-blend", "demo-capsule-regent", "07:45")
    late = _invite("demo-c-claire", "demo-offer-machine", "demo-capsule-regent", "18:45")
    held_out = _invite("demo-c-rachel", "demo-offer-blend", "demo-capsule-covent", "16:01")
    third = _invite("demo-c-claire", "demo-service-collect", "demo-coffee-soho", "13:00")
    broken = check_invariants(_results([early, late, held_out, third], []))
    assert len(broken.sent_while_closed) == 2  # before 09:00, and within 20 min of 19:00
    assert broken.over_cap == ["demo-c-claire: 3 invites"]
    assert broken.sent_to_holdout == [f"invite {held_out.id} to demo-c-rachel (demo-offer-blend)"]
    assert not broken.held
    holdout = DecisionRow(
        id=uuid.uuid4(), decided_at=local(DEMO_DAY, "10:00"), customer_id="demo-c-tom",
        store_id="demo-coffee-soho", campaign_id="demo-offer-pastry", outcome="holdout",
        reason="holdout", message="", reason_codes=("holdout", "selected"),
    )  # fmt: skip
    two = [
        _invite("demo-c-tom", "demo-offer-blend", "demo-capsule-regent", h)
        for h in ("12:31", "14:00")
    ]
    assert check_invariants(_results(two, [holdout])).over_cap == ["demo-c-tom: 3 invites"]


def test_geofence_ids_and_totals_are_stable() -> None:
    assert geofence_id(store_by_id("demo-capsule-regent")) == "demo-capsule-regent:front"
    order = next(o for p in PEOPLE for o in p.orders if len(o.items) > 1)
    assert order.total == sum((q * price for _, _, q, price in order.items), Decimal(0))
