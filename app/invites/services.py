"""The invite status state machine, and receipts from gateways, relays and the app.

Statuses: ``pending → sending → sent → delivered → opened | dismissed``, or ``cancelled`` /
``expired`` / ``failed``. The worker moves invites up to ``sent`` (and back from ``sending``
to ``pending`` for a retry); receipts move them on. A receipt may also arrive while the
worker has not yet recorded ``sent`` (a fast gateway, or a worker that died after sending):
a receipt for an invite that was claimed at least once proves the send, so ``pending`` /
``sending`` may move to a receipt status directly. Anything else not in
:data:`TRANSITIONS` is refused (409 ``illegal-transition``) and the receipt is kept with
``applied = false``. Repeating the current status changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from app.common import clamp_limit, decode_cursor, page
from app.db import DbConnection
from app.invites import queries
from app.invites.schemas import (
    AppReceipt,
    MyInvite,
    MyInvitePage,
    ReceiptEvent,
    ReceiptResult,
)
from app.problems import ConflictProblem, NotFoundProblem, ProblemError, ValidationProblem
from app.webhooks import WebhookVerificationError, verify

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "IllegalTransition",
    "apply_receipt",
    "can_transition",
    "list_my_invites",
    "receive_app_receipt",
    "receive_signed_receipt",
]

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"sending", "cancelled", "expired", "failed"}),
    "sending": frozenset({"pending", "sent", "cancelled", "expired", "failed"}),
    "sent": frozenset({"delivered", "opened", "dismissed", "failed"}),
    "delivered": frozenset({"opened", "dismissed"}),
    "opened": frozenset(),
    "dismissed": frozenset(),
    "failed": frozenset(),
    "expired": frozenset(),
    "cancelled": frozenset(),
}
"""Allowed status changes (besides receipts that prove a send, see the module docstring)."""

TERMINAL = frozenset(status for status, nxt in TRANSITIONS.items() if not nxt)

_RECEIPT_PROVES_SEND = frozenset({"pending", "sending"})


class IllegalTransition(ConflictProblem):
    """409: the invite cannot move from its status to the requested one."""

    def __init__(self, current: str, new: str) -> None:
        super().__init__(
            f"an invite that is {current} cannot become {new}", slug="illegal-transition"
        )
        self.current = current
        self.new = new


def can_transition(current: str, new: str, *, claimed: bool = False) -> bool:
    """Whether ``current → new`` is allowed; ``claimed``: the invite was claimed at least once
    and ``new`` comes from a receipt."""
    if new in TRANSITIONS.get(current, frozenset()):
        return True
    return (
        claimed
        and current in _RECEIPT_PROVES_SEND
        and new in ("delivered", "opened", "dismissed", "failed")
    )


async def apply_receipt(
    conn: DbConnection,
    invite_id: UUID,
    status: str,
    *,
    source: str,
    occurred_at: datetime,
    now: datetime,
    webhook_id: str | None = None,
    detail: str | None = None,
) -> ReceiptResult:
    """Apply one receipt inside the caller's transaction.

    Raises:
        NotFoundProblem: No such invite.
        IllegalTransition: The state machine refuses it (the receipt is still recorded, with
            ``applied = false``, if the caller commits).
    """
    row = await conn.fetchrow(queries.LOCK_INVITE, invite_id)
    if row is None:
        raise NotFoundProblem("invite", str(invite_id))
    current = row["status"]
    if current == status:
        await conn.execute(
            queries.INSERT_RECEIPT,
            invite_id,
            status,
            source,
            occurred_at,
            now,
            webhook_id,
            detail,
            False,
        )
        return ReceiptResult(invite_id=invite_id, status=current, applied=False)
    allowed = can_transition(current, status, claimed=row["attempts"] > 0)
    await conn.execute(
        queries.INSERT_RECEIPT,
        invite_id,
        status,
        source,
        occurred_at,
        now,
        webhook_id,
        detail,
        allowed,
    )
    if not allowed:
        raise IllegalTransition(current, status)
    await conn.execute(queries.APPLY_STATUS, invite_id, status, occurred_at, now, detail)
    return ReceiptResult(invite_id=invite_id, status=status, applied=True)  # type: ignore[arg-type]


class _Stored(msgspec.Struct, kw_only=True):
    status_code: int
    result: ReceiptResult | None = None
    slug: str | None = None
    title: str | None = None
    detail: str | None = None


def _unauthorized(reason: str) -> ProblemError:
    return ProblemError(
        401,
        "invalid-signature",
        "Webhook signature required",
        reason,
        headers={"WWW-Authenticate": 'Standard-Webhooks realm="kairos"'},
    )


def _replay(stored: Any) -> ReceiptResult:
    answer = msgspec.convert(stored, _Stored)
    if answer.result is not None and answer.status_code == 200:
        return answer.result
    raise ProblemError(
        answer.status_code, answer.slug or "conflict", answer.title or "Conflict", answer.detail
    )


async def receive_signed_receipt(
    conn: DbConnection,
    secrets: tuple[str, ...],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    wall: float | None = None,
) -> ReceiptResult:
    """``POST /v1/receipts``: verify the Standard Webhooks signature, then apply the receipt.

    ``wall`` is the real Unix time the signature's timestamp is checked against (transport
    security, like the webhook gateway's own signatures); default ``now``. Under a
    simulation clock ``now`` is simulated, and relays still sign with the real time.

    A ``webhook-id`` seen before answers exactly as the first time (200 or the same problem)
    without applying anything again.

    Raises:
        ProblemError: 401 bad or missing signature or a timestamp outside 5 minutes;
            400 / 422 malformed body; 404 unknown invite; 409 illegal transition.
    """
    if not secrets:
        raise _unauthorized("receipts are not configured (KAIROS_RECEIPTS_SECRETS)")
    try:
        webhook_id = verify(secrets, headers, body, now=now.timestamp() if wall is None else wall)
    except WebhookVerificationError as exc:
        raise _unauthorized(str(exc)) from None
    try:
        event = msgspec.json.decode(body, type=ReceiptEvent)
    except msgspec.ValidationError as exc:
        raise ValidationProblem.single("body", str(exc)) from None
    except msgspec.DecodeError:
        raise ProblemError(
            400, "malformed-json", "Malformed JSON body", "The request body is not valid JSON."
        ) from None
    async with conn.transaction():
        claimed = await conn.fetchval(queries.CLAIM_WEBHOOK, webhook_id, now)
        if claimed is None:
            return _replay(await conn.fetchval(queries.PROCESSED_WEBHOOK, webhook_id))
        try:
            # No savepoint: a refusal raises after its receipt row is written, and keeps it.
            result = await apply_receipt(
                conn,
                event.data.invite_id,
                event.status,
                source="gateway",
                occurred_at=event.data.occurred_at or now,
                now=now,
                webhook_id=webhook_id,
                detail=event.data.detail,
            )
        except IllegalTransition as exc:
            stored = _Stored(
                status_code=exc.status, slug=exc.slug, title=exc.title, detail=exc.detail
            )
            await conn.execute(queries.REMEMBER_WEBHOOK, webhook_id, stored)
            refused = exc
        else:
            await conn.execute(
                queries.REMEMBER_WEBHOOK, webhook_id, _Stored(status_code=200, result=result)
            )
            return result
    raise refused


# The customer's app ---------------------------------------------------------------------------
def _keyset(cursor: str | None) -> tuple[datetime | None, UUID | None]:
    key = decode_cursor(cursor)
    if key is None:
        return None, None
    instant, _, ident = key.partition("|")
    try:
        return datetime.fromisoformat(instant), UUID(ident)
    except ValueError:
        raise ValidationProblem.single(
            "cursor", "not a cursor returned by a previous page"
        ) from None


async def list_my_invites(
    conn: DbConnection, customer_id: str, *, status: str | None, cursor: str | None, limit: int
) -> MyInvitePage:
    """The customer's own invites, newest first, optionally of one status."""
    after_at, after_id = _keyset(cursor)
    limit = clamp_limit(limit)
    rows = await conn.fetch(queries.MY_INVITES, customer_id, status, after_at, after_id, limit + 1)
    shown, next_cursor = page(rows, limit, lambda r: f"{r['created_at'].isoformat()}|{r['id']}")
    return MyInvitePage(
        items=[MyInvite(**dict(r)) for r in shown],
        next_cursor=next_cursor,
    )


async def receive_app_receipt(
    conn: DbConnection, customer_id: str, invite_id: UUID, receipt: AppReceipt, *, now: datetime
) -> ReceiptResult:
    """``POST /v1/me/invites/{id}/receipts``: the customer opened or dismissed an invite.

    Idempotent: the same status again answers 200 with ``applied: false``. Another
    customer's invite is a 404, as if it did not exist.

    Raises:
        NotFoundProblem: No such invite among the customer's.
        IllegalTransition: E.g. dismissing an opened invite, or opening one never sent (409;
            the receipt is kept on record, not applied).
    """
    owner = await conn.fetchval(queries.INVITE_OWNER, invite_id)
    if owner != customer_id:
        raise NotFoundProblem("invite", str(invite_id))
    async with conn.transaction():
        try:
            # No savepoint: a refusal raises after its receipt row is written, and keeps it.
            return await apply_receipt(
                conn,
                invite_id,
                receipt.status,
                source="app",
                occurred_at=receipt.occurred_at or now,
                now=now,
            )
        except IllegalTransition as exc:
            refused = exc
    raise refused
