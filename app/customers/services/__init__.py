"""Customer context writes and reads: profiles, devices, facts, data-subject requests.

One module per concern: ``_profile`` (the CRM's and the customer's own view of a profile,
and :func:`ensure_customer` for every area that learns of a customer), ``_devices`` (push
targets), ``_facts`` (purchases, support cases, deliveries) and ``_privacy`` (export and
erasure). Every write runs in one transaction (:func:`app.db.transaction`) with its audit
entry.
"""

from __future__ import annotations

from app.customers.services._checks import MAX_FUTURE_SKEW, mask_token
from app.customers.services._devices import delete_my_device, list_my_devices, register_device
from app.customers.services._facts import (
    payload_hash,
    record_delivery,
    record_purchase,
    upsert_support_case,
)
from app.customers.services._privacy import erase_customer, export_customer
from app.customers.services._profile import (
    clear_my_quiet_hours,
    customer_id_of,
    ensure_customer,
    erased_digest,
    get_customer,
    get_my_profile,
    is_erased,
    set_my_quiet_hours,
    update_my_consents,
    upsert_customer,
)

__all__ = [
    "MAX_FUTURE_SKEW",
    "clear_my_quiet_hours",
    "customer_id_of",
    "delete_my_device",
    "ensure_customer",
    "erase_customer",
    "erased_digest",
    "export_customer",
    "get_customer",
    "get_my_profile",
    "is_erased",
    "list_my_devices",
    "mask_token",
    "payload_hash",
    "record_delivery",
    "record_purchase",
    "register_device",
    "set_my_quiet_hours",
    "update_my_consents",
    "upsert_customer",
    "upsert_support_case",
]
