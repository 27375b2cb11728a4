"""Data-subject requests: export everything held about a customer, or erase them.

Erasure de-identifies the audit trail rather than deleting it. Events, presence, decisions,
invites, devices and support cases are deleted; purchases and deliveries stay for the brand's
accounts with ``customer_id`` NULL. Earlier audit entries about the customer keep their
action, resource type, time and staff actor, but lose their before/after images, and the
customer's id (as actor or resource) is replaced by a random per-erasure reference. The
erasure's own audit entry carries only that reference and row counts. A tombstone (a digest
of the id, see :func:`app.customers.services.erased_digest`) keeps the customer from coming
back through a replayed fact.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from app.audit import audit
from app.auth import Principal
from app.customers.queries import (
    AUDIT_ABOUT_SUBJECT,
    CUSTOMER_LOCK,
    CUSTOMER_SELECT,
    DELIVERIES_OF,
    DEVICE_LIST,
    ERASE_AUDIT_SCRUB,
    ERASE_DELETES,
    ERASE_DELIVERIES_DELINK,
    ERASE_PURCHASES_DELINK,
    EXPORT_ROWS,
    PURCHASES_OF,
    SUBJECT_CASE_IDS,
    SUBJECT_DEVICE_IDS,
    SUPPORT_CASES_OF,
    TOMBSTONE_INSERT,
)
from app.customers.schemas import CustomerExport, ErasureReport
from app.customers.services._devices import device_row
from app.customers.services._facts import delivery_row, purchase_row, support_case_row
from app.customers.services._profile import customer_row, erased_digest
from app.db import DbConnection, transaction
from app.problems import NotFoundProblem

__all__ = ["erase_customer", "export_customer"]


async def _subject_keys(conn: DbConnection, customer_id: str) -> tuple[list[str], list[str]]:
    """Ids of the customer's devices and cases, to find audit entries about them."""
    devices = await conn.fetch(SUBJECT_DEVICE_IDS, customer_id)
    cases = await conn.fetch(SUBJECT_CASE_IDS, customer_id)
    return [r["id"] for r in devices], [r["id"] for r in cases]


async def export_customer(
    conn: DbConnection, actor: Principal, customer_id: str, *, now: datetime
) -> CustomerExport:
    """``GET /v1/customers/{id}/export``: everything held, read in one snapshot; audited.

    Raises:
        NotFoundProblem: No such customer (or already erased).
    """
    async with conn.transaction(isolation="repeatable_read"):
        row = await conn.fetchrow(CUSTOMER_SELECT, customer_id)
        if row is None:
            raise NotFoundProblem("customer", customer_id)
        device_ids, case_ids = await _subject_keys(conn, customer_id)
        rows = {
            name: [r[0] for r in await conn.fetch(sql, customer_id)]
            for name, sql in EXPORT_ROWS.items()
        }
        result = CustomerExport(
            exported_at=now,
            customer=customer_row(row),
            devices=[device_row(r) for r in await conn.fetch(DEVICE_LIST, customer_id)],
            purchases=[purchase_row(r) for r in await conn.fetch(PURCHASES_OF, customer_id)],
            deliveries=[delivery_row(r, now) for r in await conn.fetch(DELIVERIES_OF, customer_id)],
            support_cases=[
                support_case_row(r) for r in await conn.fetch(SUPPORT_CASES_OF, customer_id)
            ],
            events=rows["events"],
            presence=rows["presence"],
            decisions=rows["decisions"],
            invites=rows["invites"],
            audit=[
                r[0]
                for r in await conn.fetch(AUDIT_ABOUT_SUBJECT, customer_id, device_ids, case_ids)
            ],
        )
    async with transaction(conn):
        await audit(
            conn, actor=actor, action="export", resource_type="customer", resource_id=customer_id
        )
    return result


def _count(status: str) -> int:
    """Rows affected, from asyncpg's command tag (``DELETE 3`` / ``UPDATE 2``)."""
    return int(status.rsplit(" ", 1)[-1])


async def erase_customer(
    conn: DbConnection, actor: Principal, customer_id: str, *, now: datetime
) -> ErasureReport:
    """``DELETE /v1/customers/{id}``: erase a customer (see the module docstring).

    Raises:
        NotFoundProblem: No such customer (or already erased).
    """
    reference = f"erased-{uuid.uuid4()}"
    async with transaction(conn):
        if await conn.fetchrow(CUSTOMER_LOCK, customer_id) is None:
            raise NotFoundProblem("customer", customer_id)
        device_ids, case_ids = await _subject_keys(conn, customer_id)
        scrubbed = _count(
            await conn.execute(ERASE_AUDIT_SCRUB, customer_id, device_ids, case_ids, reference)
        )
        delinked = _count(await conn.execute(ERASE_PURCHASES_DELINK, customer_id))
        deliveries = _count(await conn.execute(ERASE_DELIVERIES_DELINK, customer_id))
        removed = {
            table: _count(await conn.execute(sql, customer_id))
            for table, sql in ERASE_DELETES.items()
        }
        await conn.execute(TOMBSTONE_INSERT, erased_digest(customer_id), now)
        report = ErasureReport(
            reference=reference,
            erased_at=now,
            removed=removed,
            purchases_delinked=delinked,
            deliveries_delinked=deliveries,
            audit_entries_deidentified=scrubbed,
        )
        await audit(
            conn,
            actor=actor,
            action="erase",
            resource_type="customer",
            resource_id=reference,
            after={
                "removed": removed,
                "purchases_delinked": delinked,
                "deliveries_delinked": deliveries,
                "audit_entries_deidentified": scrubbed,
            },
        )
    return report
