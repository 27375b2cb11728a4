"""``GET /v1/audit``: who changed what, when."""

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from app.audit import services
from app.audit.schemas import AuditPage
from app.auth import requires
from app.common import BRAND_ID_PATTERN, Caller, CursorParam, PageSize
from app.db import Conn
from app.limits import ID_MAX, LABEL_MAX
from app.problems import problem_responses

__all__ = ["AuditController"]


class AuditController(Controller):
    """Who changed what, when: before and after."""

    path = "/v1/audit"
    tags = ["audit"]
    guards = [requires("manager", "admin")]

    @get(
        "/",
        operation_id="listAudit",
        summary="Read the audit log, newest first",
        description="Admins see everything; managers see entries that concern only their stores.",
        responses=problem_responses(400, 401, 403, 404, 422),
    )
    async def list_audit(
        self,
        conn: Conn,
        principal: Caller,
        cursor: CursorParam = None,
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
            Parameter(
                description="store, geofence, campaign, ...", required=False, max_length=LABEL_MAX
            ),
        ] = None,
        resource_id: Annotated[
            str | None,
            Parameter(
                description="Only entries about this resource", required=False, max_length=ID_MAX
            ),
        ] = None,
    ) -> AuditPage:
        return await services.list_audit(
            conn,
            principal,
            cursor=cursor,
            limit=limit,
            store_id=store_id,
            resource_type=resource_type,
            resource_id=resource_id,
        )
