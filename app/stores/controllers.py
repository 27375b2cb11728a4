"""``/v1/stores`` and their geofences: thin handlers that parse, call one service, answer."""

from typing import Annotated

from litestar import Controller, Response, delete, get, put
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_204_NO_CONTENT

from app.auth import requires
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
from app.limits import ID_MAX, LABEL_MAX
from app.problems import problem_responses
from app.stores import services
from app.stores.schemas import (
    GeofenceIn,
    GeofenceOut,
    GeofencePage,
    StoreIn,
    StoreOut,
    StorePage,
)

__all__ = ["GeofenceController", "StoreController"]

StoreId = Annotated[
    str, Parameter(pattern=BRAND_ID_PATTERN, description="The brand's store id", max_length=ID_MAX)
]
GeofenceId = Annotated[
    str,
    Parameter(
        pattern=BRAND_ID_PATTERN,
        description="Geofence id, unique across the brand",
        max_length=ID_MAX,
    ),
]

_MANAGERS = [requires("manager", "admin")]
_READ_ERRORS = problem_responses(400, 401, 403, 404, 422)
_WRITE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 422)
_DELETE_ERRORS = problem_responses(400, 401, 403, 404, 412, 422)


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
        responses=problem_responses(400, 401, 403, 422),
    )
    async def list_stores(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        cursor: CursorParam = None,
        limit: PageSize = 50,
        country: Annotated[
            str | None,
            Parameter(description="ISO country code", pattern="^[A-Z]{2}$", required=False),
        ] = None,
        category: Annotated[
            str | None,
            Parameter(
                description="Only stores with this category", required=False, max_length=LABEL_MAX
            ),
        ] = None,
    ) -> StorePage:
        return await services.list_stores(
            conn,
            principal,
            cursor=cursor,
            limit=limit,
            country=country,
            category=category,
            now=now,
        )

    @get(
        "/{store_id:str}",
        operation_id="getStore",
        summary="Read a store, its hours in both forms and whether it is open now",
        responses=_READ_ERRORS,
    )
    async def get_store(
        self, conn: Conn, principal: Caller, now: Now, store_id: StoreId
    ) -> Response[StoreOut]:
        store = await services.get_store(conn, principal, store_id, now)
        return Response(store, headers={"ETag": etag(store.version)})

    @put(
        "/{store_id:str}",
        operation_id="putStore",
        summary="Create or replace a store (idempotent)",
        description="`opening_hours` is an OpenStreetMap expression or the structured weekly "
        "form. `timezone` is derived from lat/lng when absent. Send `If-Match` with the ETag you "
        "read to avoid overwriting someone else's change (412 if it is stale). 201 when created, "
        "200 when replaced or unchanged.",
        responses={**created_spec(StoreOut), **_WRITE_ERRORS},
    )
    async def put_store(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        store_id: StoreId,
        data: JSONBody[StoreIn],
        if_match: IfMatch = None,
    ) -> Response[StoreOut]:
        written = await services.put_store(
            conn, principal, store_id, data, if_match=if_match, now=now
        )
        return written_response(
            written, version=written.value.version, location=f"/v1/stores/{store_id}"
        )

    @delete(
        "/{store_id:str}",
        operation_id="deleteStore",
        summary="Delete a store with its geofences",
        status_code=HTTP_204_NO_CONTENT,
        responses=_DELETE_ERRORS,
    )
    async def delete_store(
        self, conn: Conn, principal: Caller, store_id: StoreId, if_match: IfMatch = None
    ) -> None:
        await services.delete_store(conn, principal, store_id, if_match=if_match)


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
        conn: Conn,
        principal: Caller,
        store_id: StoreId,
        cursor: CursorParam = None,
        limit: PageSize = 50,
        enabled: Annotated[
            bool | None,
            Parameter(description="Only enabled (true) or disabled (false)", required=False),
        ] = None,
    ) -> GeofencePage:
        return await services.list_geofences(
            conn, principal, store_id, cursor=cursor, limit=limit, enabled=enabled
        )

    @get(
        "/{geofence_id:str}",
        operation_id="getGeofence",
        summary="Read a geofence",
        responses=_READ_ERRORS,
    )
    async def get_geofence(
        self, conn: Conn, principal: Caller, store_id: StoreId, geofence_id: GeofenceId
    ) -> Response[GeofenceOut]:
        fence = await services.get_geofence(conn, principal, store_id, geofence_id)
        return Response(fence, headers={"ETag": etag(fence.version)})

    @put(
        "/{geofence_id:str}",
        operation_id="putGeofence",
        summary="Create or replace a geofence (idempotent)",
        description="Exactly one of `geometry` (GeoJSON Polygon/MultiPolygon, `[lng, lat]`) or "
        "`circle` (centre and `radius_m`, 10 m - 10 km). Shapes crossing the antimeridian are "
        "rejected. Every running API process matches against the change within a second.",
        responses={**created_spec(GeofenceOut), **_WRITE_ERRORS},
    )
    async def put_geofence(
        self,
        conn: Conn,
        principal: Caller,
        store_id: StoreId,
        geofence_id: GeofenceId,
        data: JSONBody[GeofenceIn],
        if_match: IfMatch = None,
    ) -> Response[GeofenceOut]:
        written = await services.put_geofence(
            conn, principal, store_id, geofence_id, data, if_match=if_match
        )
        return written_response(
            written,
            version=written.value.version,
            location=f"/v1/stores/{store_id}/geofences/{geofence_id}",
        )

    @delete(
        "/{geofence_id:str}",
        operation_id="deleteGeofence",
        summary="Delete a geofence",
        status_code=HTTP_204_NO_CONTENT,
        responses=_DELETE_ERRORS,
    )
    async def delete_geofence(
        self,
        conn: Conn,
        principal: Caller,
        store_id: StoreId,
        geofence_id: GeofenceId,
        if_match: IfMatch = None,
    ) -> None:
        await services.delete_geofence(conn, principal, store_id, geofence_id, if_match=if_match)
