"""HTTP route of the app's events: ``POST /v1/events`` (role ``customer``).

Thin: size check, envelope, then :func:`app.events.services.ingest_events`. The body is
decoded here rather than by Litestar so that one invalid event is rejected on its own
instead of failing its whole batch; the OpenAPI document still describes it
(:class:`~app.events.schemas.EventBatch`, through a documentation-only dependency).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK

from app.auth import requires
from app.common import principal_of, provide_now
from app.customers.services import customer_id_of
from app.events.schemas import EventBatch, EventResults, decode_envelope
from app.events.services import DeviceRateLimiter, GeoView, ingest_events
from app.problems import (
    PROBLEM_JSON,
    Problem,
    ProblemError,
    ValidationProblem,
    field_from_message,
    problem_responses,
)
from app.settings import Settings

if TYPE_CHECKING:
    import asyncpg

__all__ = ["EVENT_CONTROLLERS", "EventsController"]

log = logging.getLogger("kairos.events")


_RATE_LIMITED = {
    429: ResponseSpec(
        data_container=Problem,
        description="Too many events from this device; retry after `Retry-After` seconds",
        media_type=PROBLEM_JSON,
    )
}


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, "payload-too-large", "Request body too large", f"the body exceeds {limit} bytes"
    )


async def _check_size(request: Request[Any, Any, Any]) -> None:
    """``before_request``: bodies over ``KAIROS_INGEST_MAX_BODY_BYTES`` are a 413, before
    any decoding."""
    limit = request.app.state.settings.ingest.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    if len(await request.body()) > limit:
        raise _too_large(limit)


def _document_batch(data: EventBatch) -> EventBatch:
    """Never called: it only puts :class:`EventBatch` in the OpenAPI document as the body."""
    return data  # pragma: no cover


def _limiter(request: Request[Any, Any, Any]) -> DeviceRateLimiter:
    state = request.app.state
    limiter: DeviceRateLimiter | None = getattr(state, "event_limiter", None)
    if limiter is None:
        settings: Settings = state.settings
        limiter = DeviceRateLimiter(settings.ingest.rate_limit_per_minute)
        state.event_limiter = limiter
    return limiter


class EventsController(Controller):
    """What the app reports: check-ins, geofence enter / exit / dwell, location fixes."""

    path = "/v1/events"
    tags = ["events"]

    @post(
        "/",
        operation_id="postEvents",
        guards=[requires("customer")],
        status_code=HTTP_200_OK,
        before_request=_check_size,
        # The edge leaves a NUL or an out-of-range number inside one event to this route,
        # which rejects that event alone (one bad event never costs the others).
        opt={"edge_items": "events"},
        dependencies={"batch_body": Provide(_document_batch, sync_to_thread=False)},
        summary="Report a batch of 1-100 events (check-ins, geofence events, location fixes)",
        description=(
            "The calling customer (the token's `sub`) reports what their app saw. Each event "
            "is answered on its own, in the order sent: `accepted`, `duplicate` (its "
            "`event_id` was stored before: the first answer is replayed) or `rejected` "
            "(`invalid` with the offending field such as `events[3].lat`, `in_future` when "
            "more than 2 minutes ahead, `customer_erased`); one bad event never costs the "
            "others. Accepted events are committed before the answer. Events are processed "
            "in `occurred_at` order. Reports older than the policy's `stale_after_seconds` "
            "or less accurate than its `max_accuracy_m` are stored without a decision "
            "(`stored_as`). The server checks every claimed geofence or store against its "
            "own index (`claim_mismatch` when they disagree: the server's view wins), "
            "derives enter / exit / dwell from fixes with hysteresis, and runs the policy on "
            "every enter, dwell and check-in: `decisions` lists each outcome, its reason "
            "codes and the invite. Mocked locations and impossible jumps are flagged and "
            "never lead to an invite (`suspected_spoof`). At most "
            "`KAIROS_INGEST_RATE_LIMIT` (120) events per device per minute: then 429 with "
            "`Retry-After`. Bodies over 256 KiB are a 413."
        ),
        responses={**problem_responses(400, 401, 403, 413, 422), **_RATE_LIMITED},
    )
    async def post_events(self, request: Request[Any, Any, Any]) -> EventResults:
        # The caller, the instant and the connection straight from the request and the pool,
        # not as dependencies: Litestar resolves several in an anyio task group and cleans a
        # generator one up through an exit stack, which cost this route (the app's busiest)
        # a tenth of its time. The connection is taken only once the body is decoded.
        principal = principal_of(request)
        now = provide_now(request.app.state)
        settings: Settings = request.app.state.settings
        body = await request.body()
        try:
            raws = decode_envelope(body)
        except msgspec.ValidationError as exc:
            field, message = field_from_message(str(exc), None)
            raise ValidationProblem.single(field, message) from None
        except msgspec.DecodeError:
            raise ProblemError(
                400, "malformed-json", "Malformed JSON body", "The request body is not valid JSON."
            ) from None
        if len(raws) > settings.ingest.max_batch:
            raise ValidationProblem.single(
                "events", f"at most {settings.ingest.max_batch} events per request"
            )
        state = request.app.state
        pool: asyncpg.Pool = state.pool
        async with pool.acquire() as conn:
            answer = await ingest_events(
                conn,
                principal=principal,
                customer_id=customer_id_of(principal),
                raws=raws,
                now=now,
                geo=GeoView(index=state.geo.index, meta=state.geo.meta),
                settings=settings.ingest,
                limiter=_limiter(request),
            )
        log.debug(
            "events: %d accepted, %d duplicate, %d rejected",
            answer.accepted,
            answer.duplicates,
            answer.rejected,
        )
        return answer


EVENT_CONTROLLERS = (EventsController,)
"""Every controller of this package, for ``app.main.route_handlers()``."""
