"""Where the demo keeps its things, and the settings ``kairos serve --demo`` runs with.

The demo's webhook and receipts secrets are generated once per data folder (like the
development signing key) and kept in ``KAIROS_DATA_DIR/demo/secrets.json`` (mode 0600), so
the server, the receiver and ``kairos simulate`` agree without any set-up. What the
receiver records goes to ``KAIROS_DATA_DIR/demo/deliveries.jsonl``; reports are written to
``KAIROS_DATA_DIR/reports/``.

Development only: :func:`require_development` refuses ``KAIROS_ENV=production``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.settings import SettingsError

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = [
    "RECEIVER_PORT_OFFSET",
    "DemoFiles",
    "DemoSecrets",
    "demo_files",
    "demo_secrets",
    "receiver_port",
    "require_development",
    "serve_environment",
]

RECEIVER_PORT_OFFSET = 25
"""``kairos demo receiver`` listens on ``KAIROS_PORT`` + 25 (8025 beside 8000), on
``KAIROS_HOST``: two demos on one machine (different ports) keep their relays apart."""


def receiver_port(settings: Settings) -> int:
    return settings.server.port + RECEIVER_PORT_OFFSET


@dataclass(frozen=True, slots=True)
class DemoFiles:
    root: Path
    secrets: Path
    deliveries: Path
    reports: Path


@dataclass(frozen=True, slots=True)
class DemoSecrets:
    """``whsec_`` secrets: Kairos signs pushes with ``webhook``; the receiver signs receipts
    with ``receipts``."""

    webhook: str
    receipts: str


def require_development(settings: Settings, what: str) -> None:
    """Raises: SettingsError: in production (the demo writes fictional customers)."""
    if settings.is_production:
        raise SettingsError(f"{what} is for development; refused with KAIROS_ENV=production")


def demo_files(settings: Settings) -> DemoFiles:
    root = settings.database.data_dir / "demo"
    return DemoFiles(
        root=root,
        secrets=root / "secrets.json",
        deliveries=root / "deliveries.jsonl",
        reports=settings.database.data_dir / "reports",
    )


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def demo_secrets(settings: Settings) -> DemoSecrets:
    """The demo's secrets, generated on first use (another process's copy wins a race)."""
    require_development(settings, "the demo")
    path = demo_files(settings).secrets
    try:
        stored = json.loads(path.read_text())
        return DemoSecrets(webhook=stored["webhook"], receipts=stored["receipts"])
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = {"webhook": _new_secret(), "receipts": _new_secret()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return demo_secrets(settings)
    with os.fdopen(fd, "w") as fh:
        json.dump(fresh, fh)
    return DemoSecrets(webhook=fresh["webhook"], receipts=fresh["receipts"])


def serve_environment(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """What ``kairos serve --demo`` adds to the environment of its server process.

    The webhook gateway points at the local receiver, receipts are accepted from it, the
    clock can be simulated, and the worker polls and sweeps often, since a simulated minute
    lasts a tenth of a second. A variable already set in ``environ`` is left alone.
    """
    require_development(settings, "kairos serve --demo")
    keys = demo_secrets(settings)
    host = settings.server.host
    wanted = {
        "KAIROS_CLOCK": "simulated",
        "KAIROS_WEBHOOK_URL": f"http://{host}:{receiver_port(settings)}/push",
        "KAIROS_WEBHOOK_SECRETS": keys.webhook,
        "KAIROS_RECEIPTS_SECRETS": keys.receipts,
        "KAIROS_WORKER_POLL_INTERVAL": "0.2",
        "KAIROS_WORKER_SWEEP_INTERVAL": "1",
    }
    return {k: v for k, v in wanted.items() if not environ.get(k)}
