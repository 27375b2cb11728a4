"""``/v1/campaigns``: thin handlers that parse, call one service function, answer."""

from typing import Annotated

from litestar import Controller, Response, delete, get, put
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from app.auth import requires
from app.campaigns import services
from app.campaigns.schemas import CampaignIn, CampaignOut, CampaignPage
from app.common import (
    BRAND_ID_PATTERN,
    Caller,
    CursorParam,
    IfMatch,
    Now,
    PageSize,
    created_spec,
    etag,
    written_response,
)
from app.db import Conn
from app.limits import ID_MAX
from app.problems import problem_responses

__all__ = ["CampaignController"]

CampaignId = Annotated[
    str,
    Parameter(pattern=BRAND_ID_PATTERN, description="The brand's campaign id", max_length=ID_MAX),
]


class CampaignController(Controller):
    """Campaigns: what may be sent, to whom, where, and how often."""

    path = "/v1/campaigns"
    tags = ["campaigns"]
    guards = [requires("manager", "admin")]

    @get(
        "/",
        operation_id="listCampaigns",
        summary="List the campaigns you can see",
        description="A manager sees a campaign only when every store it runs in is theirs.",
        responses=problem_responses(400, 401, 403, 422),
    )
    async def list_campaigns(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        cursor: CursorParam = None,
        limit: PageSize = 50,
        store_id: Annotated[
            str | None,
            Parameter(
                description="Only campaigns running in this store",
                required=False,
                pattern=BRAND_ID_PATTERN,
            ),
        ] = None,
        kind: Annotated[
            str | None,
            Parameter(
                description="moment, offer or service",
                required=False,
                pattern="^(moment|offer|service)$",
            ),
        ] = None,
        active: Annotated[
            bool | None,
            Parameter(
                description="Only campaigns active now (true) or not (false)", required=False
            ),
        ] = None,
    ) -> CampaignPage:
        return await services.list_campaigns(
            conn,
            principal,
            cursor=cursor,
            limit=limit,
            store_id=store_id,
            kind=kind,
            active=active,
            now=now,
        )

    @get(
        "/{campaign_id:str}",
        operation_id="getCampaign",
        summary="Read a campaign",
        responses=problem_responses(400, 401, 403, 404, 422),
    )
    async def get_campaign(
        self, conn: Conn, principal: Caller, now: Now, campaign_id: CampaignId
    ) -> Response[CampaignOut]:
        campaign = await services.get_campaign(conn, principal, campaign_id, now)
        return Response(campaign, headers={"ETag": etag(campaign.version)})

    @put(
        "/{campaign_id:str}",
        operation_id="putCampaign",
        summary="Create or replace a campaign (idempotent)",
        description="Templates use `{store_name}`-style placeholders; unknown ones are a 422. "
        "Managers may only name their own stores. 201 when created, 200 when replaced or "
        "unchanged (an identical PUT creates no new version).",
        responses={
            **created_spec(CampaignOut),
            **problem_responses(400, 401, 403, 404, 409, 412, 413, 422),
        },
    )
    async def put_campaign(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        campaign_id: CampaignId,
        data: JSONBody[CampaignIn],
        if_match: IfMatch = None,
    ) -> Response[CampaignOut]:
        written = await services.put_campaign(
            conn, principal, campaign_id, data, if_match=if_match, now=now
        )
        return written_response(
            written, version=written.value.version, location=f"/v1/campaigns/{campaign_id}"
        )

    @delete(
        "/{campaign_id:str}",
        operation_id="deleteCampaign",
        summary="Delete a campaign",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(400, 401, 403, 404, 412, 422),
    )
    async def delete_campaign(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        campaign_id: CampaignId,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete_campaign(conn, principal, campaign_id, if_match=if_match, now=now)
