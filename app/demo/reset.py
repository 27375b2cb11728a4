"""``kairos demo reset``: remove the demo data and nothing else; clear a simulation's traffic.

Demo rows are the ones whose id starts with ``demo-`` (stores, geofences, campaigns,
customers, orders, cases). Deleting a demo customer takes their devices, events, presence,
decisions and invites with it (foreign keys cascade); their purchases, cases and deliveries
go by id. Nothing else is touched: a brand's own store next to the demo ones survives.

These are direct deletes, not data-subject erasures: the demo customers are fiction, and an
erasure would leave tombstones that stop the next seed from re-creating them. The audit
log keeps its history (it is append-only); the demo's entries name the ``kairos-demo`` actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.demo.city import DEMO_PREFIX

if TYPE_CHECKING:
    from app.db import DbConnection

__all__ = ["clear_simulation", "reset_demo"]

_LIKE = DEMO_PREFIX.replace("_", r"\_") + "%"

# Children first; customers last cascade what remains (devices, events, decisions, invites).
_RESET = (
    ("invites", "DELETE FROM invites WHERE customer_id LIKE $1"),
    ("decisions", "DELETE FROM decisions WHERE customer_id LIKE $1 OR store_id LIKE $1"),
    ("events", "DELETE FROM events WHERE customer_id LIKE $1"),
    ("presence", "DELETE FROM presence WHERE customer_id LIKE $1"),
    ("deliveries", "DELETE FROM deliveries WHERE order_id LIKE $1 OR customer_id LIKE $1"),
    ("support_cases", "DELETE FROM support_cases WHERE id LIKE $1 OR customer_id LIKE $1"),
    ("purchases", "DELETE FROM purchases WHERE order_id LIKE $1 OR customer_id LIKE $1"),
    ("devices", "DELETE FROM devices WHERE customer_id LIKE $1"),
    ("customers", "DELETE FROM customers WHERE id LIKE $1"),
    ("campaigns", "DELETE FROM campaigns WHERE id LIKE $1"),
    ("geofences", "DELETE FROM geofences WHERE id LIKE $1 OR store_id LIKE $1"),
    ("stores", "DELETE FROM stores WHERE id LIKE $1"),
)

_SIM_ORDER = DEMO_PREFIX + "sim-"
"""Orders the simulation's tills post start with this; the seed's histories do not."""

_CLEAR = (
    ("invites", "DELETE FROM invites WHERE customer_id LIKE $1"),
    ("decisions", "DELETE FROM decisions WHERE customer_id LIKE $1"),
    ("events", "DELETE FROM events WHERE customer_id LIKE $1"),
    ("presence", "DELETE FROM presence WHERE customer_id LIKE $1"),
    # The last fix and report instant per customer: a new replay starts before them.
    ("customer_tracking", "DELETE FROM customer_tracking WHERE customer_id LIKE $1"),
    ("purchases", "DELETE FROM purchases WHERE order_id LIKE $1 AND order_id LIKE $2"),
)


async def _run(
    conn: DbConnection, statements: tuple[tuple[str, str], ...], *args: str
) -> dict[str, int]:
    removed: dict[str, int] = {}
    async with conn.transaction():
        for table, sql in statements:
            wanted = args[:2] if "$2" in sql else args[:1]
            status = await conn.execute(sql, *wanted)
            removed[table] = int(status.split()[-1])
    return removed


async def reset_demo(conn: DbConnection) -> dict[str, int]:
    """Delete every demo row in one transaction; rows deleted per table."""
    return await _run(conn, _RESET, _LIKE)


async def clear_simulation(conn: DbConnection) -> dict[str, int]:
    """Delete what a simulation left (the demo customers' events, presence and tracking,
    decisions, invites and the tills' orders), so the next run starts from the seeded
    history.

    The decisions of a day depend on the day so far (visits, invites, caps): replaying a day
    over the traffic of an earlier replay of it would decide differently.
    """
    return await _run(conn, _CLEAR, _LIKE, _SIM_ORDER.replace("_", r"\_") + "%")
