"""The design's invariants, checked on a simulated day's results.

The report prints them and the simulation test asserts them:

* no invite sent while its store was closed or within the closing margin, in the store's
  own time zone;
* the frequency cap held: no customer got more than the cap's invites (holdouts count, as
  they do for the policy) in the day;
* nothing went to a held-out customer: no invite exists for a (customer, campaign) pair
  the hash puts in that campaign's control group.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.decisions.policy import holdout_bucket
from app.demo.city import COUNTRY, REGION, STORES, TIMEZONE, campaigns
from app.hours import compile_hours

if TYPE_CHECKING:
    from app.simulate.results import DayResults

__all__ = ["CLOSING_MARGIN", "FREQUENCY_CAP", "Invariants", "check_invariants"]

CLOSING_MARGIN = dt.timedelta(minutes=20)
"""The policy's default ``closing_margin_minutes``."""
FREQUENCY_CAP = 2
"""The policy's default ``frequency_cap_per_24h``: the simulated day is shorter than 24 h."""

_COUNTING = frozenset({"pending", "sending", "sent", "delivered", "opened", "dismissed"})


@dataclass(frozen=True, slots=True)
class Invariants:
    """Each list names the violations (empty: the invariant held)."""

    sent_while_closed: list[str]
    over_cap: list[str]
    sent_to_holdout: list[str]
    invites_sent: int

    @property
    def held(self) -> bool:
        return not (self.sent_while_closed or self.over_cap or self.sent_to_holdout)


def check_invariants(results: DayResults) -> Invariants:
    hours = {s.id: compile_hours(s.opening_hours, TIMEZONE, COUNTRY, REGION) for s in STORES}
    closed: list[str] = []
    sent = 0
    for invite in results.invites:
        if invite.sent_at is None or invite.store_id not in hours:
            continue
        sent += 1
        store_hours = hours[invite.store_id]
        closes = store_hours.closes_at(invite.sent_at)
        if not store_hours.is_open(invite.sent_at) or (
            closes is not None and closes - invite.sent_at < CLOSING_MARGIN
        ):
            closed.append(f"invite {invite.id} at {invite.store_id} sent {invite.sent_at}")
    counted = Counter(i.customer_id for i in results.invites if i.status in _COUNTING)
    counted.update(d.customer_id for d in results.decisions if d.outcome == "holdout")
    over = [f"{c}: {n} invites" for c, n in sorted(counted.items()) if n > FREQUENCY_CAP]
    holdout_pct = {cid: body.holdout_pct for cid, body in campaigns()}
    to_holdout = [
        f"invite {i.id} to {i.customer_id} ({i.campaign_id})"
        for i in results.invites
        if i.campaign_id in holdout_pct
        and holdout_bucket(i.customer_id, i.campaign_id) < holdout_pct[i.campaign_id]
    ]
    return Invariants(
        sent_while_closed=closed, over_cap=over, sent_to_holdout=to_holdout, invites_sent=sent
    )
