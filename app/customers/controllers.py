"""HTTP routes of the customer context: thin wrappers around :mod:`app.customers.services`.

* ``/v1/customers/{id}`` (PUT, GET) and the facts ``/v1/purchases``, ``/v1/support-cases``,
  ``/v1/deliveries``: the brand's systems (role ``integration``; admins too).
* ``/v1/me...``: the customer app (role ``customer``; the token's ``sub`` is the customer id).
* ``/v1/customers/{id}/export`` and ``DELETE /v1/customers/{id}``: data-subject requests
  (admins only).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from app.auth import requires
from app.common import BRAND_ID_PATTERN, Caller, IfMatch, Now, etag, written_response
from app.customers import services
from app.customers.schemas import (
    ConsentChanges,
    Customer,
    CustomerExport,
    CustomerUpsert,
    Delivery,
    DeliveryIn,
    Device,
    DeviceIn,
    DeviceList,
    ErasureReport,
    MyProfile,
    Purchase,
    PurchaseIn,
    QuietHours,
    SupportCase,
    SupportCaseIn,
)
from app.db import Conn
from app.problems import problem_responses

__all__ = [
    "CustomersController",
    "FactsController",
    "MeController",
]

CustomerIdParam = Annotated[
    str,
    Parameter(
        description="The brand's customer id (1-128 of A-Z a-z 0-9 . _ : -)",
        pattern=BRAND_ID_PATTERN,
    ),
]
CaseIdParam = Annotated[
    str,
    Parameter(description="The brand's support case id", pattern=BRAND_ID_PATTERN),
]
DeviceIdParam = Annotated[UUID, Parameter(description="Device id returned at registration")]


def _also(status: int, model: type, description: str) -> dict[int, ResponseSpec]:
    return {status: ResponseSpec(data_container=model, description=description)}


_UNKNOWN_CUSTOMER = (
    " A customer id Kairos has not seen yet creates that customer with no consents "
    "(POS and CRM systems often know a customer before the app does; without consent "
    "nothing is ever sent to them)."
)


_INTEGRATION = [requires("integration", "admin")]
_ADMIN = [requires("admin")]


class CustomersController(Controller):
    """Customer profiles (the brand's CRM) and data-subject requests (admins).

    One controller for the whole ``/v1/customers/{id}`` path: Litestar answers OPTIONS per
    path, so two controllers cannot share it. Each route declares its own roles.
    """

    path = "/v1/customers"

    @put(
        "/{customer_id:str}",
        operation_id="upsertCustomer",
        guards=_INTEGRATION,
        tags=["customers", "integration"],
        summary="Create or replace a customer profile",
        description=(
            "Idempotent: the same profile again changes nothing (same version). Locale, "
            "consents (location, marketing), quiet hours, segments (e.g. `high_value`, "
            "`life_stage:new_parent`) and flags. Omitted fields take their defaults. "
            "201 when created, 200 when replaced or unchanged; `ETag` carries the version."
        ),
        responses={
            **_also(201, Customer, "Created"),
            **problem_responses(400, 401, 403, 410, 412, 413, 422),
        },
    )
    async def upsert_customer(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        customer_id: CustomerIdParam,
        data: JSONBody[CustomerUpsert],
        if_match: IfMatch = None,
    ) -> Response[Customer]:
        written = await services.upsert_customer(
            conn, principal, customer_id, data, now=now, if_match=if_match
        )
        return written_response(written, version=written.value.version)

    @get(
        "/{customer_id:str}",
        operation_id="getCustomer",
        guards=_INTEGRATION,
        tags=["customers", "integration"],
        summary="Read a customer profile",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def get_customer(self, conn: Conn, customer_id: CustomerIdParam) -> Response[Customer]:
        customer = await services.get_customer(conn, customer_id)
        return Response(customer, headers={"ETag": etag(customer.version)})

    @get(
        "/{customer_id:str}/export",
        operation_id="exportCustomer",
        guards=_ADMIN,
        tags=["privacy"],
        summary="Export everything held about a customer",
        description=(
            "Profile, devices (tokens masked: the export is served to an admin), purchases, "
            "deliveries, support cases, events, presence, decisions, invites and the audit "
            "entries about the customer. The export itself is audited."
        ),
        responses=problem_responses(401, 403, 404, 422),
    )
    async def export_customer(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        customer_id: CustomerIdParam,
    ) -> CustomerExport:
        return await services.export_customer(conn, principal, customer_id, now=now)

    @delete(
        "/{customer_id:str}",
        operation_id="eraseCustomer",
        guards=_ADMIN,
        tags=["privacy"],
        summary="Erase a customer",
        description=(
            "Deletes the profile, devices, events, presence, decisions, invites and support "
            "cases. Purchases and deliveries stay for the brand's accounts with no customer. "
            "The customer can never come back: later facts about the id are kept de-linked, "
            "and profile or device writes for it answer 410. "
            "Earlier audit entries about the customer are de-identified (before/after images "
            "removed; the customer id replaced by a random reference); the erasure's own "
            "audit entry holds only that reference and row counts."
        ),
        status_code=HTTP_200_OK,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def erase_customer(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        customer_id: CustomerIdParam,
    ) -> ErasureReport:
        return await services.erase_customer(conn, principal, customer_id, now=now)


class FactsController(Controller):
    """Purchases, support cases and deliveries from the brand's systems."""

    path = "/v1"
    tags = ["integration"]
    guards = [requires("integration", "admin")]

    @post(
        "/purchases",
        operation_id="recordPurchase",
        summary="Record a purchase (idempotent by order_id)",
        description=(
            "First time: 201. The same order again: 200 with the stored result, nothing "
            "counted twice. The same `order_id` with other content: 409. A store purchase "
            "must name an existing `store_id` (422 otherwise); an online one names none. "
            "Amounts are non-negative decimals, the currency an active ISO 4217 code, and "
            "`occurred_at` an instant with an offset no more than 5 minutes ahead."
            + _UNKNOWN_CUSTOMER
        ),
        responses={
            **_also(200, Purchase, "Already recorded with the same content (replay)"),
            **problem_responses(400, 401, 403, 409, 422),
        },
    )
    async def record_purchase(
        self, conn: Conn, principal: Caller, now: Now, data: JSONBody[PurchaseIn]
    ) -> Response[Purchase]:
        return written_response(await services.record_purchase(conn, principal, data, now=now))

    @put(
        "/support-cases/{case_id:str}",
        operation_id="upsertSupportCase",
        summary="Create or replace a support case",
        description=(
            "Kind `complaint`, `cancellation` or `question`; a case without `closed_at` is "
            "open. The same case again changes nothing; 201 when created, 200 otherwise."
            + _UNKNOWN_CUSTOMER
        ),
        responses={
            **_also(201, SupportCase, "Created"),
            **problem_responses(400, 401, 403, 412, 422),
        },
    )
    async def upsert_support_case(
        self,
        conn: Conn,
        principal: Caller,
        now: Now,
        case_id: CaseIdParam,
        data: JSONBody[SupportCaseIn],
        if_match: IfMatch = None,
    ) -> Response[SupportCase]:
        written = await services.upsert_support_case(
            conn, principal, case_id, data, now=now, if_match=if_match
        )
        return written_response(written, version=written.value.version)

    @post(
        "/deliveries",
        operation_id="recordDelivery",
        summary="Record or update a delivery (idempotent by order_id)",
        description=(
            "The promise and, once known, the delivery of an order. Sending it again with "
            "`delivered_at` updates it (200); unchanged, it writes nothing (200); new, 201. "
            "A delivery is delayed when it arrives after `promised_at`, or when the promise "
            "has passed undelivered. `customer_id` may be omitted when the order was posted "
            "to /v1/purchases." + _UNKNOWN_CUSTOMER
        ),
        responses={
            **_also(200, Delivery, "Updated or unchanged"),
            **problem_responses(400, 401, 403, 422),
        },
    )
    async def record_delivery(
        self, conn: Conn, principal: Caller, now: Now, data: JSONBody[DeliveryIn]
    ) -> Response[Delivery]:
        return written_response(await services.record_delivery(conn, principal, data, now=now))


class MeController(Controller):
    """The customer app: the caller's own profile, consents, quiet hours and devices."""

    path = "/v1/me"
    tags = ["me"]
    guards = [requires("customer")]

    @get(
        "/",
        operation_id="getMe",
        summary="Read my profile",
        description="Before Kairos has any record of the caller, the defaults (no consents).",
        responses=problem_responses(401, 403, 422),
    )
    async def get_me(self, conn: Conn, principal: Caller) -> MyProfile:
        return await services.get_my_profile(conn, principal)

    @patch(
        "/consents",
        operation_id="updateMyConsents",
        summary="Give or withdraw my consents",
        description="Omitted fields stay as they are.",
        responses=problem_responses(400, 401, 403, 422),
    )
    async def update_consents(
        self, conn: Conn, principal: Caller, now: Now, data: JSONBody[ConsentChanges]
    ) -> MyProfile:
        return await services.update_my_consents(conn, principal, data, now=now)

    @put(
        "/quiet-hours",
        operation_id="setMyQuietHours",
        summary="Set my quiet hours",
        description="A daily window without invites; start after end spans midnight.",
        responses=problem_responses(400, 401, 403, 422),
    )
    async def set_quiet_hours(
        self, conn: Conn, principal: Caller, now: Now, data: JSONBody[QuietHours]
    ) -> MyProfile:
        return await services.set_my_quiet_hours(conn, principal, data, now=now)

    @delete(
        "/quiet-hours",
        operation_id="clearMyQuietHours",
        summary="Remove my quiet hours",
        status_code=HTTP_200_OK,
        responses=problem_responses(401, 403, 422),
    )
    async def clear_quiet_hours(self, conn: Conn, principal: Caller, now: Now) -> MyProfile:
        return await services.clear_my_quiet_hours(conn, principal, now=now)

    @post(
        "/devices",
        operation_id="registerMyDevice",
        summary="Register or refresh a push device",
        description=(
            "Upsert by platform and token: 201 when new, 200 when refreshed. A token "
            "registered to another customer moves to the caller (a token identifies an "
            "install; reinstalls happen). Tokens are never returned in full."
        ),
        responses={
            **_also(200, Device, "Refreshed, reactivated or moved to the caller"),
            **problem_responses(400, 401, 403, 410, 413, 422),
        },
    )
    async def register_device(
        self, conn: Conn, principal: Caller, data: JSONBody[DeviceIn]
    ) -> Response[Device]:
        return written_response(await services.register_device(conn, principal, data))

    @get(
        "/devices",
        operation_id="listMyDevices",
        summary="List my push devices (tokens masked)",
        responses=problem_responses(401, 403, 422),
    )
    async def list_devices(self, conn: Conn, principal: Caller) -> DeviceList:
        return DeviceList(items=await services.list_my_devices(conn, principal))

    @delete(
        "/devices/{device_id:uuid}",
        operation_id="deleteMyDevice",
        summary="Delete one of my push devices",
        status_code=HTTP_204_NO_CONTENT,
        responses=problem_responses(401, 403, 404, 422),
    )
    async def delete_device(self, conn: Conn, principal: Caller, device_id: DeviceIdParam) -> None:
        await services.delete_my_device(conn, principal, device_id)
