"""HTTP routes of the invites area: thin wrappers around :mod:`app.invites.services`."""

from __future__ import annotations

import time
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK

from app.auth import requires
from app.common import Caller, CursorParam, Now, PageSize
from app.customers.services import customer_id_of
from app.db import Conn
from app.invites import services
from app.invites.schemas import AppReceipt, InviteStatus, MyInvitePage, ReceiptResult
from app.problems import problem_responses

__all__ = ["MyInvitesController", "ReceiptsController"]

_SIGNED: dict[str, Any] = {"exclude_from_auth": True}


class ReceiptsController(Controller):
    """Delivery receipts from push gateways and relays."""

    path = "/v1/receipts"
    tags = ["receipts"]
    security = [{}]  # no bearer token: the Standard Webhooks signature authenticates
    opt = _SIGNED

    @post(
        "/",
        operation_id="postReceipt",
        status_code=HTTP_200_OK,
        summary="Report an invite's delivery (signed webhook from a gateway or relay)",
        description=(
            "Authenticated by a Standard Webhooks signature, not a bearer token: headers "
            "`webhook-id`, `webhook-timestamp` (Unix seconds, within 5 minutes of now) and "
            "`webhook-signature` (`v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`, "
            "one or more, space-separated) with a secret from `KAIROS_RECEIPTS_SECRETS`. "
            'Body: `{"type": "invite.delivered" | "invite.opened" | '
            '"invite.dismissed" | "invite.failed", "timestamp": <instant>, '
            '"data": {"invite_id": <uuid>, "occurred_at"?: <instant>, '
            '"detail"?: <text>}}`. '
            "The same `webhook-id` again answers as the first time and changes nothing. "
            "Status moves pending → sending → sent → delivered → opened / dismissed; a "
            "receipt that would move it backwards or out of a final status is a 409 "
            "(`illegal-transition`), kept on record but not applied."
        ),
        responses=problem_responses(400, 401, 404, 409, 422),
    )
    async def post_receipt(
        self, request: Request[Any, Any, Any], conn: Conn, now: Now
    ) -> ReceiptResult:
        body = await request.body()
        return await services.receive_signed_receipt(
            conn,
            request.app.state.settings.push.receipts_secrets,
            request.headers,
            body,
            now=now,
            wall=time.time(),
        )


InviteIdParam = Annotated[UUID, Parameter(description="The invite's id")]


class MyInvitesController(Controller):
    """The customer app's own invites (role ``customer``; ``sub`` is the customer)."""

    path = "/v1/me/invites"
    tags = ["me"]
    guards = [requires("customer")]

    @get(
        "/",
        operation_id="listMyInvites",
        summary="My invites, newest first",
        description=(
            "Every invite decided for the calling customer with its status (`pending` until "
            "sent, e.g. deferred to the store's opening; then `sent`, `delivered`, `opened`, "
            "`dismissed`, or `cancelled` / `expired` / `failed`). Cursor pages."
        ),
        responses=problem_responses(401, 403, 422),
    )
    async def list_my_invites(
        self,
        conn: Conn,
        principal: Caller,
        status: Annotated[
            InviteStatus | None,
            Parameter(description="Only invites with this status", required=False),
        ] = None,
        cursor: CursorParam = None,
        limit: PageSize = 50,
    ) -> MyInvitePage:
        return await services.list_my_invites(
            conn, customer_id_of(principal), status=status, cursor=cursor, limit=limit
        )

    @post(
        "/{invite_id:uuid}/receipts",
        operation_id="postMyInviteReceipt",
        status_code=HTTP_200_OK,
        summary="Tell Kairos an invite was opened or dismissed",
        description=(
            "Idempotent: the same status again answers 200 with `applied: false`. A status "
            "the invite cannot take (dismissing an opened invite, opening one that was never "
            "sent) is a 409 `illegal-transition`, kept on record. Another customer's invite "
            "is a 404."
        ),
        responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
    )
    async def post_receipt(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        invite_id: InviteIdParam,
        data: JSONBody[AppReceipt],
    ) -> ReceiptResult:
        return await services.receive_app_receipt(
            conn, customer_id_of(principal), invite_id, data, now=now
        )
