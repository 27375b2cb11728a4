"""Decision and policy routes: thin handlers that parse, call one service function, answer.

* ``GET /v1/decisions``, ``GET /v1/decisions/{id}`` — managers (their stores) and admins.
* ``POST /v1/decisions/preview`` — managers (their stores) and admins; writes nothing.
* ``POST /v1/decisions/{id}/replay`` — admins.
* ``GET/PUT /v1/policy`` — admins.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, Response, get, post, put
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK

from app.auth import requires
from app.common import BRAND_ID_PATTERN, Caller, CursorParam, IfMatch, Now, PageSize, etag
from app.db import Conn
from app.decisions import services
from app.decisions.reasons import ReasonCode
from app.decisions.schemas import DecisionOut, DecisionPage, PolicyOut, PreviewIn, ReplayOut
from app.decisions.settings import PolicySettings
from app.problems import problem_responses

__all__ = ["DECISION_CONTROLLERS", "DecisionController", "PolicyController"]

DecisionId = Annotated[UUID, Parameter(description="The decision's id")]


CustomerFilter = Annotated[
    str | None,
    Parameter(
        description="Only decisions for this customer",
        pattern=BRAND_ID_PATTERN,
        max_length=128,
        required=False,
    ),
]
StoreFilter = Annotated[
    str | None,
    Parameter(
        description="Only decisions at this store (404 when it is not one of yours)",
        pattern=BRAND_ID_PATTERN,
        max_length=128,
        required=False,
    ),
]
CampaignFilter = Annotated[
    str | None,
    Parameter(
        description="Only decisions naming this campaign",
        pattern=BRAND_ID_PATTERN,
        max_length=128,
        required=False,
    ),
]
OutcomeFilter = Annotated[
    Literal["send", "suppress", "defer", "holdout"] | None,
    Parameter(description="Only decisions with this outcome", required=False),
]
ReasonFilter = Annotated[
    ReasonCode | None,
    Parameter(description="Only decisions carrying this reason code", required=False),
]
Since = Annotated[
    datetime | None,
    Parameter(description="Decided at or after this instant (RFC 3339)", required=False),
]
Until = Annotated[
    datetime | None,
    Parameter(description="Decided before this instant (RFC 3339)", required=False),
]

_MANAGERS = [requires("manager", "admin")]
_ADMINS = [requires("admin")]


class DecisionController(Controller):
    """Why every invite was or wasn't sent."""

    path = "/v1/decisions"
    tags = ["decisions"]

    @get(
        "/",
        operation_id="listDecisions",
        guards=_MANAGERS,
        summary="List decisions, newest first",
        description="Managers see the decisions at their stores, admins all. Filter by "
        "customer, store, campaign, outcome, reason code and time; follow `next_cursor` for "
        "the next page. A store filter naming a store you cannot see answers 404.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def list_decisions(
        self,
        conn: Conn,
        principal: Caller,
        cursor: CursorParam = None,
        limit: PageSize = 50,
        customer_id: CustomerFilter = None,
        store_id: StoreFilter = None,
        campaign_id: CampaignFilter = None,
        outcome: OutcomeFilter = None,
        reason: ReasonFilter = None,
        since: Since = None,
        until: Until = None,
    ) -> DecisionPage:
        return await services.list_decisions(
            conn,
            principal,
            cursor=cursor,
            limit=limit,
            customer_id=customer_id,
            store_id=store_id,
            campaign_id=campaign_id,
            outcome=outcome,
            reason=reason,
            since=since,
            until=until,
        )

    @get(
        "/{decision_id:uuid}",
        operation_id="getDecision",
        guards=_MANAGERS,
        summary="Explain a decision",
        description="The outcome, the decisive reason first (code, sentence, data), the chosen "
        "campaign and its message, every candidate with its score and why it lost, the "
        "moments found, `not_before` and `send_by`.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def get_decision(
        self, conn: Conn, principal: Caller, decision_id: DecisionId
    ) -> DecisionOut:
        return await services.get_decision(conn, principal, decision_id)

    @post(
        "/{decision_id:uuid}/replay",
        operation_id="replayDecision",
        guards=_ADMINS,
        status_code=HTTP_200_OK,
        summary="Replay a decision and compare",
        description="Reloads the customer's history as of `decided_at`, re-runs the policy "
        "with the recorded settings version and event, and answers whether the outcome, "
        "reasons, campaign, message and instants are the same. Campaigns and the store are "
        "read as they are now; `notes` say what changed since. Writes nothing. 409 when the "
        "store has been deleted.",
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def replay_decision(self, conn: Conn, decision_id: DecisionId) -> ReplayOut:
        return await services.replay_decision(conn, decision_id)

    @post(
        "/preview",
        operation_id="previewDecision",
        guards=_MANAGERS,
        status_code=HTTP_200_OK,
        summary="What would happen if customer C stood at store S at instant T?",
        description="The full decision, exactly as the ingest path would make it, with "
        "nothing written. `at` defaults to now. This answers \"why didn't she get the "
        'invite?" before it happens. Managers may preview their own stores only (404).',
        responses=problem_responses(400, 401, 403, 404, 413, 422),
    )
    async def preview_decision(
        self, conn: Conn, principal: Caller, now: Now, data: JSONBody[PreviewIn]
    ) -> DecisionOut:
        return await services.preview_decision(conn, principal, data, now)


class PolicyController(Controller):
    """The policy settings: margins, quiet hours, satiation, caps, the long-term weight."""

    path = "/v1/policy"
    tags = ["policy"]
    guards = _ADMINS

    @get(
        "/",
        operation_id="getPolicy",
        summary="Read the current policy settings",
        description="The highest settings version; `ETag` carries it.",
        responses=problem_responses(401, 403),
    )
    async def get_policy(self, conn: Conn) -> Response[PolicyOut]:
        policy = await services.get_policy(conn)
        return Response(policy, headers={"ETag": etag(policy.version)})

    @put(
        "/",
        operation_id="putPolicy",
        summary="Replace the policy settings (a new version)",
        description="Omitted fields take their defaults. The same settings again write "
        "nothing (same version). Otherwise a new version is written and audited; decisions "
        "record the version they used. Send `If-Match` with the ETag you read: a stale one "
        "gets 412 and changes nothing.",
        responses=problem_responses(400, 401, 403, 412, 413, 422),
    )
    async def put_policy(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        data: JSONBody[PolicySettings],
        if_match: IfMatch = None,
    ) -> Response[PolicyOut]:
        policy, _ = await services.put_policy(conn, principal, data, if_match=if_match, now=now)
        return Response(policy, headers={"ETag": etag(policy.version)})


DECISION_CONTROLLERS = (DecisionController, PolicyController)
"""Every controller of this package, for ``app.main.route_handlers()``."""
