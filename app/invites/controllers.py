"""HTTP routes of the invites area: thin wrappers around :mod:`app.invites.services`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.status_codes import HTTP_200_OK

from app.common import utcnow
from app.db import Conn
from app.invites import services
from app.invites.schemas import ReceiptResult
from app.problems import problem_responses

__all__ = ["ReceiptsController"]

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
    async def post_receipt(self, request: Request[Any, Any, Any], conn: Conn) -> ReceiptResult:
        body = await request.body()
        return await services.receive_signed_receipt(
            conn,
            request.app.state.settings.push.receipts_secrets,
            request.headers,
            body,
            now=utcnow(),
        )
