"""Push gateways, one module per provider, behind the protocol in ``base``.

A device's ``platform`` (``fcm``, ``apns``, ``webpush``, ``webhook``) picks its gateway.
:func:`build_gateways` builds every gateway whose credentials are configured; an invite for
a platform without one is retried until ``send_by`` (a missing credential is an operator's
problem that may be fixed in time), then expires.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from notifications.gateways.apns import ApnsGateway
from notifications.gateways.base import (
    Gateway,
    GatewayConfigError,
    PushMessage,
    SendResult,
)
from notifications.gateways.fcm import FcmGateway, ServiceAccount
from notifications.gateways.webhook import WebhookGateway
from notifications.gateways.webpush import WebPushGateway

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = [
    "ApnsGateway",
    "FcmGateway",
    "Gateway",
    "GatewayConfigError",
    "PushMessage",
    "SendResult",
    "WebPushGateway",
    "WebhookGateway",
    "build_gateways",
]

log = logging.getLogger("kairos.gateways")


def build_gateways(settings: Settings) -> dict[str, Gateway]:
    """Every configured gateway by platform; a half-configured one is an error."""
    push = settings.push
    pool = settings.worker.gateway_concurrency
    gateways: dict[str, Gateway] = {}
    if push.fcm_project_id or push.fcm_credentials_file:
        if push.fcm_credentials_file is None:
            raise GatewayConfigError("KAIROS_FCM_PROJECT_ID needs KAIROS_FCM_CREDENTIALS_FILE")
        account = ServiceAccount.from_file(push.fcm_credentials_file)
        gateways["fcm"] = FcmGateway(
            push.fcm_project_id or account.project_id or "",
            account,
            base_url=push.fcm_base_url,
            token_uri=push.fcm_token_uri,
            timeout=push.timeout,
            max_connections=pool,
        )
    if push.apns_key_file or push.apns_key_id or push.apns_team_id or push.apns_topic:
        gateways["apns"] = ApnsGateway(
            push.apns_key_file,
            push.apns_key_id,
            push.apns_team_id,
            push.apns_topic,
            base_url=push.apns_base_url,
            timeout=push.timeout,
        )
    if push.vapid_private_key_file or push.vapid_subject:
        gateways["webpush"] = WebPushGateway(
            push.vapid_private_key_file,
            push.vapid_subject,
            allow_http=not settings.is_production,
            timeout=push.timeout,
            max_connections=pool,
        )
    if push.webhook_url:
        gateways["webhook"] = WebhookGateway(
            push.webhook_url, push.webhook_secrets, timeout=push.timeout, max_connections=pool
        )
    log.info("push gateways configured: %s", ", ".join(sorted(gateways)) or "none")
    return gateways
