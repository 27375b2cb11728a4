"""Store-manager routes: thin handlers that parse, call one service function, answer."""

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from app.auth import requires
from app.common import BRAND_ID_PATTERN, IfMatch, etag, principal_of, utcnow
from app.db import Conn
from app.problems import problem_responses
from app.stores import services
from app.stores.schemas import (
    AuditPage,
    CampaignIn,
    CampaignOut,
    CampaignPage,
    GeofenceIn,
    GeofenceOut,
    GeofencePage,
    StoreIn,
    StoreOut,
    StorePage,
)

__all__ = ["AuditController", "CampaignController", "GeofenceController", "StoreController"]

StoreId = Annotated[
    str, Parameter(pattern=BRAND_ID_PATTERN, description="The brand's store id", max_length=128)
]
GeofenceId = Annotated[
    str,
    Parameter(
        pattern=BRAND_ID_PATTERN, description="Geofence id, unique across the brand", max_length=128
    ),
]
CampaignId = Annotated[
    str, Parameter(pattern=BRAND_ID_PATTERN, description="The brand's campaign id", max_length=128)
]
Cursor = Annotated[
    str | None,
    Parameter(description="next_cursor of the previous page", required=False, max_length=512),
]
PageSize = Annotated[int, Parameter(ge=1, le=500, description="Page size (1-500)")]

_MANAGERS = [requires("manager", "admin")]
_READ_ERRORS = problem_responses(401, 403, 404, 422)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 422)


def _saved(content: Any, version: int, created: bool, location: str) -> Response[Any]:
    headers = {"ETag": etag(version)}
    if created:
        headers["Location"] = location
    return Response(
        content, status_code=HTTP_201_CREATED if created else HTTP_200_OK, headers=headers
    )


def _created_spec(model: type) -> dict[int, ResponseSpec]:
    return {HTTP_201_CREATED: ResponseSpec(data_container=model, description="Created")}


class StoreController(Controller):
    """Stores and their opening hours."""

    path = "/v1/stores"
    tags = ["stores"]
    guards = _MANAGERS

    @get(
        "/",
        operation_id="listStores",
        summary="List the stores you can see",
        description="Managers see the stores in their token's `stores` claim; admins see all. "
        "Ordered by id; follow `next_cursor` for the next page.",
        responses=_READ_ERRORS,
    )
    async def list_stores(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        cursor: Cursor = None,
        limit: PageSize = 50,
        country: Annotated[
            str | None,
            Parameter(description="ISO country code", pattern="^[A-Z]{2}$", required=False),
        ] = None,
        category: Annotated[
            str | None,
            Parameter(description="Only stores with this category", required=False, max_length=64),
        ] = None,
    ) -> StorePage:
        return await services.list_stores(
            conn,
            principal_of(request),
            cursor=cursor,
            limit=limit,
            country=country,
            category=category,
            now=utcnow(),
        )

    @get(
        "/{store_id:str}",
        operation_id="getStore",
        summary="Read a store, its hours in both forms and whether it is open now",
        responses=_READ_ERRORS,
    )
    async def get_store(
        self, request: Request[Any, Any, Any], conn: Conn, store_id: StoreId
    ) -> Response[StoreOut]:
        store = await services.get_store(conn, principal_of(request), store_id, utcnow())
        return Response(store, headers={"ETag": etag(store.version)})

    @put(
        "/{store_id:str}",
        operation_id="putStore",
        summary="Create or replace a store (idempotent)",
        description="`opening_hours` is an OpenStreetMap expression or the structured weekly "
        "form. `timezone` is derived from lat/lng when absent. Send `If-Match` with the ETag you "
        "read to avoid overwriting someone else's change (412 if it is stale). 201 when created, "
        "200 when replaced or unchanged.",
        responses={**_created_spec(StoreOut), **_WRITE_ERRORS},
    )
    async def put_store(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        store_id: StoreId,
        data: JSONBody[StoreIn],
        if_match: IfMatch = None,
    ) -> Response[StoreOut]:
        store, created = await services.put_store(
            conn, principal_of(request), store_id, data, if_match=if_match, now=utcnow()
        )
        return _saved(store, store.version, created, f"/v1/stores/{store_id}")

    @delete(
        "/{store_id:str}",
        operation_id="deleteStore",
        summary="Delete a store with its geofences",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 412),
    )
    async def delete_store(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        store_id: StoreId,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete_store(conn, principal_of(request), store_id, if_match=if_match)


class GeofenceController(Controller):
    """Geofences of a store."""

    path = "/v1/stores/{store_id:str}/geofences"
    tags = ["geofences"]
    guards = _MANAGERS

    @get(
        "/",
        operation_id="listGeofences",
        summary="List a store's geofences",
        responses=_READ_ERRORS,
    )
    async def list_geofences(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        store_id: StoreId,
        cursor: Cursor = None,
        limit: PageSize = 50,
        enabled: Annotated[
            bool | None,
            Parameter(description="Only enabled (true) or disabled (false)", required=False),
        ] = None,
    ) -> GeofencePage:
        return await services.list_geofences(
            conn, principal_of(request), store_id, cursor=cursor, limit=limit, enabled=enabled
        )

    @get(
        "/{geofence_id:str}",
        operation_id="getGeofence",
        summary="Read a geofence",
        responses=_READ_ERRORS,
    )
    async def get_geofence(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        store_id: StoreId,
        geofence_id: GeofenceId,
    ) -> Response[GeofenceOut]:
        fence = await services.get_geofence(conn, principal_of(request), store_id, geofence_id)
        return Response(fence, headers={"ETag": etag(fence.version)})

    @put(
        "/{geofence_id:str}",
        operation_id="putGeofence",
        summary="Create or replace a geofence (idempotent)",
        description="Exactly one of `geometry` (GeoJSON Polygon/MultiPolygon, `[lng, lat]`) or "
        "`circle` (centre and `radius_m`, 10 m - 10 km). Shapes crossing the antimeridian are "
        "rejected. Every running API process matches against the change within a second.",
        responses={**_created_spec(GeofenceOut), **_WRITE_ERRORS},
    )
    async def put_geofence(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        store_id: StoreId,
        geofence_id: GeofenceId,
        data: JSONBody[GeofenceIn],
        if_match: IfMatch = None,
    ) -> Response[GeofenceOut]:
        fence, created = await services.put_geofence(
            conn, principal_of(request), store_id, geofence_id, data, if_match=if_match
        )
        return _saved(
            fence, fence.version, created, f"/v1/stores/{store_id}/geofences/{geofence_id}"
        )

    @delete(
        "/{geofence_id:str}",
        operation_id="deleteGeofence",
        summary="Delete a geofence",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 412),
    )
    async def delete_geofence(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        store_id: StoreId,
        geofence_id: GeofenceId,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete_geofence(
            conn, principal_of(request), store_id, geofence_id, if_match=if_match
        )


class CampaignController(Controller):
    """Campaigns: what may be sent, to whom, where, and how often."""

    path = "/v1/campaigns"
    tags = ["campaigns"]
    guards = _MANAGERS

    @get(
        "/",
        operation_id="listCampaigns",
        summary="List the campaigns you can see",
        description="A manager sees a campaign only when every store it runs in is theirs.",
        responses=_READ_ERRORS,
    )
    async def list_campaigns(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        cursor: Cursor = None,
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
            principal_of(request),
            cursor=cursor,
            limit=limit,
            store_id=store_id,
            kind=kind,
            active=active,
            now=utcnow(),
        )

    @get(
        "/{campaign_id:str}",
        operation_id="getCampaign",
        summary="Read a campaign",
        responses=_READ_ERRORS,
    )
    async def get_campaign(
        self, request: Request[Any, Any, Any], conn: Conn, campaign_id: CampaignId
    ) -> Response[CampaignOut]:
        campaign = await services.get_campaign(conn, principal_of(request), campaign_id, utcnow())
        return Response(campaign, headers={"ETag": etag(campaign.version)})

    @put(
        "/{campaign_id:str}",
        operation_id="putCampaign",
        summary="Create or replace a campaign (idempotent)",
        description="Templates use `{store_name}`-style placeholders; unknown ones are a 422. "
        "Managers may only name their own stores.",
        responses={**_created_spec(CampaignOut), **_WRITE_ERRORS},
    )
    async def put_campaign(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        campaign_id: CampaignId,
        data: JSONBody[CampaignIn],
        if_match: IfMatch = None,
    ) -> Response[CampaignOut]:
        campaign, created = await services.put_campaign(
            conn, principal_of(request), campaign_id, data, if_match=if_match, now=utcnow()
        )
        return _saved(campaign, campaign.version, created, f"/v1/campaigns/{campaign_id}")

    @delete(
        "/{campaign_id:str}",
        operation_id="deleteCampaign",
        summary="Delete a campaign",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 412),
    )
    async def delete_campaign(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        campaign_id: CampaignId,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete_campaign(
            conn, principal_of(request), campaign_id, if_match=if_match, now=utcnow()
        )


class AuditController(Controller):
    """Who changed what, when: before and after."""

    path = "/v1/audit"
    tags = ["audit"]
    guards = _MANAGERS

    @get(
        "/",
        operation_id="listAudit",
        summary="Read the audit log, newest first",
        description="Admins see everything; managers see entries that concern only their stores.",
        responses=_READ_ERRORS,
    )
    async def list_audit(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        cursor: Cursor = None,
        limit: PageSize = 50,
        store_id: Annotated[
            str | None,
            Parameter(
                description="Only entries about this store",
                required=False,
                pattern=BRAND_ID_PATTERN,
            ),
        ] = None,
        resource_type: Annotated[
            str | None,
            Parameter(description="store, geofence, campaign, ...", required=False, max_length=64),
        ] = None,
        resource_id: Annotated[
            str | None,
            Parameter(
                description="Only entries about this resource", required=False, max_length=128
            ),
        ] = None,
    ) -> AuditPage:
        return await services.list_audit(
            conn,
            principal_of(request),
            cursor=cursor,
            limit=limit,
            store_id=store_id,
            resource_type=resource_type,
            resource_id=resource_id,
        )
