"""The Litestar application: lifespan-owned pool, auth, problem+json errors, OpenAPI."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.types import ControllerRouterHandler

from app.audit.controllers import AuditController
from app.auth import JWTAuthenticationMiddleware, TokenVerifier, check_every_route_has_a_role
from app.campaigns.controllers import CampaignController
from app.clock import install_clock
from app.clock.controllers import ClockController
from app.common import provide_now, provide_principal, utcnow
from app.customers import CUSTOMER_CONTROLLERS
from app.db import create_pool, provide_connection, resolve_database
from app.decisions.controllers import DECISION_CONTROLLERS
from app.edge import EdgeGuard, RouteTable
from app.events import EVENT_CONTROLLERS
from app.geoindex import GeofenceIndexSync
from app.health import HealthController
from app.invites import INVITE_CONTROLLERS
from app.metrics import HttpMetrics, MetricsController
from app.migrate import migrate_url
from app.openapi import install as install_openapi
from app.openapi import openapi_dict, query_parameters
from app.problems import exception_handlers
from app.settings import Settings
from app.stores.controllers import GeofenceController, StoreController

__all__ = ["create_app", "openapi_config", "route_handlers"]

log = logging.getLogger("kairos")

VERSION = "0.1.0"


def route_handlers() -> list[ControllerRouterHandler]:
    """Every controller Kairos serves."""
    return [
        HealthController,
        StoreController,
        GeofenceController,
        CampaignController,
        AuditController,
        *CUSTOMER_CONTROLLERS,
        *DECISION_CONTROLLERS,
        *INVITE_CONTROLLERS,
        *EVENT_CONTROLLERS,
        MetricsController,
        ClockController,
    ]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Kairos",
        version=VERSION,
        description=(
            "Location-aware loyalty backend: geofence events in, timely push invites out. "
            "Every error is RFC 9457 application/problem+json."
        ),
        path="/schema",
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="JWT with sub, role, exp and (managers) stores claims.",
                )
            }
        ),
        security=[{"BearerAuth": []}],
        tags=[
            Tag(name="operations", description="Health and readiness probes"),
            Tag(name="stores", description="Stores and their opening hours (managers, admins)"),
            Tag(name="geofences", description="Geofences of a store (managers, admins)"),
            Tag(name="campaigns", description="Campaigns and their templates (managers, admins)"),
            Tag(name="audit", description="Who changed what, when (managers, admins)"),
            Tag(name="customers", description="Customer profiles from the brand's CRM"),
            Tag(
                name="integration",
                description="Purchases, deliveries, support cases and profiles from the "
                "brand's POS, e-commerce and CRM systems (integrations, admins)",
            ),
            Tag(
                name="me",
                description="The customer app: my profile, consents, devices and invites",
            ),
            Tag(
                name="events",
                description="What the customer app reports: check-ins, geofence enter / exit "
                "/ dwell and location fixes, answered with the decisions they led to",
            ),
            Tag(
                name="development",
                description="Development only (404 in production): the simulation clock",
            ),
            Tag(name="privacy", description="Data-subject requests: export and erasure (admins)"),
            Tag(
                name="decisions",
                description="Why every invite was or wasn't sent: list, explain, replay, "
                "preview (managers for their stores, admins)",
            ),
            Tag(
                name="policy",
                description="The decision policy's settings: margins, quiet hours, satiation, "
                "caps, the long-term weight (admins)",
            ),
            Tag(
                name="receipts",
                description="Delivery receipts from push gateways and relays "
                "(Standard Webhooks signatures, no bearer token)",
            ),
        ],
        use_handler_docstrings=False,
    )


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        current = settings
        if not current.database.url:
            # Blocking start of the embedded server: keep it off the event loop.
            target = await asyncio.to_thread(resolve_database, current)
            current = current.with_database_url(target.url)
            log.info("database: %s", target.description)
        assert current.database.url is not None
        if current.database.migrate_on_start:
            applied = await migrate_url(current.database.url)
            if applied:
                log.info("applied migrations: %s", ", ".join(m.name for m in applied))
        pool = await create_pool(current)
        geo_sync = GeofenceIndexSync(current.database.url, pool)
        try:
            await geo_sync.start()
            app.state.pool = pool
            app.state.settings = current
            app.state.geo = geo_sync
            yield
        finally:
            await geo_sync.stop()
            await pool.close()

    return lifespan


def _route_table(app: Litestar) -> RouteTable:
    templates: dict[str, set[str]] = {}
    items: dict[tuple[str, str], str] = {}
    for route in app.routes:
        methods = getattr(route, "methods", None)
        if methods:
            # "/v1/stores/{store_id:str}" -> "/v1/stores/{store_id}"
            templates.setdefault(route.path_format, set()).update(methods)
        for handler in getattr(route, "route_handlers", ()):
            if name := handler.opt.get("edge_items"):
                for method in handler.http_methods:
                    items[(route.path_format, method)] = name
    return RouteTable(templates, query_parameters(openapi_dict(app)), items)


def create_app(
    settings: Settings | None = None,
    *,
    extra_handlers: Sequence[ControllerRouterHandler] = (),
) -> Litestar:
    """Build the application.

    Args:
        settings: Defaults to ``Settings.from_env()``.
        extra_handlers: Additional routes (tests use this for probes of the error handling).
    """
    settings = settings or Settings.from_env()
    settings.check_production_ready()
    verifier = TokenVerifier(settings)
    auth_mw = DefineMiddleware(
        JWTAuthenticationMiddleware,
        verifier=verifier,
        exclude=["^/schema"],
        # HEAD is authenticated like GET; OPTIONS gets Litestar's automatic 204 + Allow.
        exclude_http_methods=["OPTIONS"],
    )
    config = AppConfig(
        route_handlers=[*route_handlers(), *extra_handlers],
        middleware=[auth_mw],
        dependencies={
            "conn": Provide(provide_connection),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "now": Provide(provide_now, sync_to_thread=False),
        },
        exception_handlers=exception_handlers,
        openapi_config=openapi_config(),
        lifespan=[_lifespan(settings)],
        request_max_body_size=settings.server.max_body_bytes,
        debug=False,
    )
    app = Litestar.from_config(config)
    app.state.settings = settings
    app.state.clock = utcnow
    install_clock(app)
    check_every_route_has_a_role(app)
    install_openapi(app)
    # Outside routing and exception handling, so every request — routed or not — passes it.
    app.asgi_handler = EdgeGuard(
        app.asgi_handler,
        max_body_bytes=settings.server.max_body_bytes,
        routes=_route_table(app),
    )
    # Outermost: every request is counted and timed, whatever answered it.
    app.asgi_handler = HttpMetrics(app.asgi_handler)
    return app
