"""The simulation's HTTP driver: a day of app and till traffic through the real API.

The driver moves the server's simulation clock (``PUT /v1/dev/clock``, development only)
one simulated minute at a time and holds it there (speed 0) while it posts what happened in
that minute: each customer's events as the app would (``POST /v1/events`` with the
customer's own token, one batch per customer and minute) and the tills' orders through the
integration API (``POST /v1/purchases``). Then it waits until the wall clock catches up with
``speed`` (600: ten simulated minutes a second) and moves on. Stepping the clock instead
of letting it run keeps a loaded machine from turning a slow request into a stale event:
the same day replays the same decisions, however fast the machine is.

The policy is never patched: the server decides with the clock it is handed, and the
outbox worker delivers on the same clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from app.auth import Role, mint_token
from app.demo.people import Person, demo_people, local
from app.simulate.itinerary import Itinerary
from app.simulate.paths import itineraries
from app.simulate.traffic import AppEvent, CustomerTraffic, TillOrder, traffic_for

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = [
    "SimulationConfig",
    "SimulationError",
    "SimulationRun",
    "Tally",
    "Tokens",
    "simulate_day",
]

TICK = dt.timedelta(minutes=1)
_TOKEN_TTL = 12 * 3600


class SimulationError(Exception):
    """The server is not ready for a simulation; the message says what to do."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate.

    Attributes:
        day: The local day (London).
        customers: How many demo customers take part (the story customers first).
        speed: Simulated seconds per real second; 0 = as fast as the server answers.
        start / end: Local times the simulation runs between (``end`` may be ``24:00``).
        concurrency: Customers posting at once within a minute.
    """

    day: dt.date
    customers: int = 500
    speed: float = 600.0
    start: str = "06:00"
    end: str = "24:00"
    concurrency: int = 8

    @property
    def start_at(self) -> dt.datetime:
        return local(self.day, self.start)

    @property
    def end_at(self) -> dt.datetime:
        if self.end == "24:00":
            return local(self.day, "00:00", 1)
        return local(self.day, self.end)


@dataclass
class Tally:
    """What the API answered, counted as the day goes."""

    events_sent: int = 0
    results: Counter[str] = field(default_factory=Counter)  # accepted / duplicate / rejected
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    stored_as: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)  # by outcome, as answered
    orders_sent: int = 0
    orders_recorded: int = 0
    http_errors: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0


@dataclass
class SimulationRun:
    """A finished simulation: what was sent, answered, and how long it took."""

    config: SimulationConfig
    people: tuple[Person, ...]
    itineraries: dict[str, Itinerary]
    tally: Tally
    seconds: float
    started_at: dt.datetime
    ended_at: dt.datetime


class Tokens:
    """Development bearer tokens: one per customer, one admin, one integration."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._cache: dict[tuple[Role, str], str] = {}

    def header(self, role: Role, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub)}"}

    def token(self, role: Role, sub: str) -> str:
        key = (role, sub)
        if key not in self._cache:
            self._cache[key] = mint_token(
                self.settings,
                role=role,
                sub=sub,
                ttl_seconds=_TOKEN_TTL,
            )
        return self._cache[key]

    @property
    def admin(self) -> dict[str, str]:
        return self.header("admin", "kairos-simulate")

    @property
    def integration(self) -> dict[str, str]:
        return self.header("integration", "meridian-pos")


Progress = Callable[[dt.datetime, Tally], None]


class _Driver:
    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: Tokens,
        config: SimulationConfig,
        traffic: list[CustomerTraffic],
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.config = config
        self.tally = Tally()
        self.limit = asyncio.Semaphore(config.concurrency)
        # Everything each customer does, in upload order, consumed minute by minute.
        self.queues: dict[str, list[AppEvent | TillOrder]] = {}
        for t in traffic:
            # What happened before the simulated window is not replayed.
            everything: list[AppEvent | TillOrder] = [*t.events, *t.orders]
            actions = [a for a in everything if _due(a) > config.start_at]
            actions.sort(key=_due)
            self.queues[t.customer_id] = actions
        self.cursor: dict[str, int] = dict.fromkeys(self.queues, 0)

    async def set_clock(self, instant: dt.datetime, speed: float = 0.0) -> None:
        answer = await self.client.put(
            "/v1/dev/clock",
            json={"instant": instant.isoformat(), "speed": speed},
            headers=self.tokens.admin,
        )
        if answer.status_code != 200:
            raise SimulationError(_clock_problem(answer))

    def next_due(self) -> dt.datetime | None:
        """When the next thing happens (None: nothing left)."""
        pending: list[dt.datetime] = []
        for customer_id, actions in self.queues.items():
            position = self.cursor[customer_id]
            if position < len(actions):
                pending.append(_due(actions[position]))
        return min(pending, default=None)

    async def minute(self, until: dt.datetime) -> None:
        """Post everything due up to ``until`` (the clock stands there)."""
        jobs = []
        for customer_id, actions in self.queues.items():
            start = self.cursor[customer_id]
            end = start
            while end < len(actions) and _due(actions[end]) <= until:
                end += 1
            if end > start:
                self.cursor[customer_id] = end
                jobs.append(self.customer(customer_id, actions[start:end], until))
        if jobs:
            await asyncio.gather(*jobs)

    async def customer(
        self, customer_id: str, actions: list[AppEvent | TillOrder], now: dt.datetime
    ) -> None:
        async with self.limit:
            batch: list[AppEvent] = []
            for action in actions:
                if isinstance(action, TillOrder):
                    if batch:
                        await self.post_events(customer_id, batch)
                        batch = []
                    await self.post_order(action)
                else:
                    batch.append(action)
                    if len(batch) == 100:
                        await self.post_events(customer_id, batch)
                        batch = []
            if batch:
                await self.post_events(customer_id, batch)

    async def post_events(self, customer_id: str, batch: list[AppEvent]) -> None:
        body = {"events": [e.body for e in batch]}
        headers = self.tokens.header("customer", customer_id)
        answer = await self._post("/v1/events", body, headers)
        self.tally.events_sent += len(batch)
        if answer is None or answer.status_code != 200:
            return
        for result in answer.json()["results"]:
            self.tally.results[result["status"]] += 1
            if result["status"] == "rejected":
                self.tally.rejected[result.get("reason") or "unknown"] += 1
            if result["status"] != "accepted":
                continue
            self.tally.stored_as[result.get("stored_as") or "current"] += 1
            for flag in result.get("flags") or ():
                self.tally.flags[flag] += 1
            for decision in result.get("decisions") or ():
                self.tally.decisions[decision["outcome"]] += 1

    async def post_order(self, order: TillOrder) -> None:
        self.tally.orders_sent += 1
        answer = await self._post("/v1/purchases", order.body, self.tokens.integration)
        if answer is not None and answer.status_code in (200, 201):
            self.tally.orders_recorded += 1

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response | None:
        for _ in range(5):
            try:
                answer = await self.client.post(path, json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.tally.http_errors[type(exc).__name__] += 1
                return None
            if answer.status_code == 429:  # the app backs off as told, then tries again
                self.tally.rate_limited += 1
                await asyncio.sleep(min(float(answer.headers.get("retry-after", "1")), 5.0))
                continue
            if answer.status_code >= 400:
                self.tally.http_errors[f"{path} {answer.status_code}"] += 1
            return answer
        return None


def _due(action: AppEvent | TillOrder) -> dt.datetime:
    return action.send_at if isinstance(action, AppEvent) else action.at


def _clock_problem(answer: httpx.Response) -> str:
    if answer.status_code == 409:
        return (
            "the server runs on the system clock: start it with `make run` (or "
            "`KAIROS_CLOCK=simulated kairos serve --with-worker`)"
        )
    if answer.status_code == 404:
        return "the server has no simulation clock (KAIROS_ENV=production?)"
    return f"the server refused the simulation clock ({answer.status_code}): {answer.text[:200]}"


async def check_server(client: httpx.AsyncClient, tokens: Tokens) -> None:
    """Raises: SimulationError: the server is unreachable, not simulated, or not seeded."""
    try:
        clock = await client.get("/v1/dev/clock", headers=tokens.admin)
    except httpx.HTTPError as exc:
        raise SimulationError(
            f"no Kairos server at {client.base_url} ({type(exc).__name__}): run `make run` "
            "in another terminal first"
        ) from None
    if clock.status_code != 200:
        raise SimulationError(_clock_problem(clock))
    if clock.json().get("mode") != "simulated":
        raise SimulationError(_clock_problem(httpx.Response(409)))
    store = await client.get("/v1/stores/demo-capsule-regent", headers=tokens.admin)
    if store.status_code != 200:
        raise SimulationError("the demo is not seeded: run `kairos demo seed` first")


async def simulate_day(
    client: httpx.AsyncClient,
    settings: Settings,
    config: SimulationConfig,
    *,
    clear: Callable[[], Awaitable[object]] | None = None,
    drained: Callable[[dt.datetime], Awaitable[bool]] | None = None,
    progress: Progress | None = None,
) -> SimulationRun:
    """Replay ``config.day`` through the API at ``client`` (see the module docstring).

    Args:
        client: The Kairos API (base URL set).
        settings: For the development tokens (the server's signing key).
        clear: Removes an earlier simulation's traffic first (the day must start from the
            seeded history).
        drained: Whether the outbox has nothing left to deliver up to an instant; the driver
            waits for it at the end of the day (up to 30 seconds).
        progress: Called after every simulated minute.

    Raises:
        SimulationError: The server is not ready (see :func:`check_server`).
    """
    tokens = Tokens(settings)
    await check_server(client, tokens)
    if clear is not None:
        await clear()
    people = demo_people()[: config.customers]
    plans = itineraries(people, config.day)
    spoofers = {p.id for p in people if p.persona == "spoofer"}
    traffic = [traffic_for(i, config.day, spoofer=i.customer_id in spoofers) for i in plans]
    driver = _Driver(client, tokens, config, traffic)
    start, end = config.start_at, config.end_at
    wall_start = time.perf_counter()
    now = start
    await driver.set_clock(now)
    while now < end:
        step = TICK
        if config.speed == 0:
            # As fast as possible: jump over minutes in which nobody reports anything.
            upcoming = driver.next_due()
            if upcoming is not None and upcoming > now + TICK:
                step = TICK * ((upcoming - now) // TICK)
        now = min(now + step, end)
        await driver.set_clock(now)
        await driver.minute(now)
        if progress is not None:
            progress(now, driver.tally)
        if config.speed > 0:
            target = wall_start + (now - start).total_seconds() / config.speed
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
    if drained is not None:
        waited = time.perf_counter()
        # Polling the database: the outbox has no "drained" notification to wait on.
        while time.perf_counter() - waited < 30 and not await drained(end):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    return SimulationRun(
        config=config,
        people=people,
        itineraries={i.customer_id: i for i in plans},
        tally=driver.tally,
        seconds=time.perf_counter() - wall_start,
        started_at=start,
        ended_at=end,
    )
