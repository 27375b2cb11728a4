"""Bearer-token authentication and role guards.

Tokens are JWTs with ``sub``, ``role`` (customer | manager | integration | admin), ``exp``
(required) and, for managers, ``stores``: the store ids they may see. HS256 with
``KAIROS_JWT_SECRET``, or RS256/ES256 with ``KAIROS_JWT_PUBLIC_KEY``.

Every route either declares the roles it admits with :func:`requires` or is explicitly public
(``opt={"exclude_from_auth": True}``); :func:`check_every_route_has_a_role` enforces that at
start-up, so a forgotten guard is a crash, not an open door.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

import jwt
import msgspec
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler
    from litestar.types import ASGIApp

    from app.settings import Settings

__all__ = [
    "ROLES",
    "JWTAuthenticationMiddleware",
    "Principal",
    "Role",
    "TokenError",
    "TokenVerifier",
    "check_every_route_has_a_role",
    "mint_token",
    "requires",
]

Role = Literal["customer", "manager", "integration", "admin"]
ROLES: tuple[Role, ...] = ("customer", "manager", "integration", "admin")


class Principal(msgspec.Struct, kw_only=True, frozen=True):
    """Who is calling.

    Attributes:
        sub: Subject: the customer id for customers, a person or system id otherwise.
        role: One of :data:`ROLES`.
        stores: Store ids a manager may see (empty for other roles).
    """

    sub: str
    role: Role
    stores: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can_see_store(self, store_id: str) -> bool:
        return self.role == "admin" or (self.role == "manager" and store_id in self.stores)


class TokenError(Exception):
    """The token is missing a claim, expired, forged or otherwise unusable."""


class TokenVerifier:
    """Verifies bearer tokens with the configured key and algorithm."""

    def __init__(self, settings: Settings) -> None:
        auth = settings.auth
        self._settings = settings
        self._algorithm = auth.jwt_algorithm
        self._key: str | None = auth.jwt_public_key
        self._issuer = auth.jwt_issuer
        self._audience = auth.jwt_audience
        self._leeway = auth.leeway_seconds

    def verify(self, token: str) -> Principal:
        """Decode and check ``token``.

        Raises:
            TokenError: With a reason that is safe to show to the caller.
        """
        if self._key is None:
            # Resolved on first use: building the app (e.g. for `kairos openapi`) writes nothing.
            self._key = self._settings.development_secret()
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={
                    "require": ["exp", "sub", "role"],
                    "verify_aud": self._audience is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise TokenError("token is invalid") from None
        return _principal_from_claims(claims)


_SUB_MAX = 256
_STORES_MAX = 10_000
# Store ids as the database's brand_id domain spells them (app.common.BRAND_ID_PATTERN).
_STORE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _storable(text: str) -> bool:
    """Text PostgreSQL can hold: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _principal_from_claims(claims: dict[str, Any]) -> Principal:
    role = claims.get("role")
    if role not in ROLES:
        raise TokenError("token role must be one of " + ", ".join(ROLES))
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise TokenError("token sub must be a non-empty string")
    if len(sub) > _SUB_MAX or not _storable(sub):
        raise TokenError(f"token sub must be at most {_SUB_MAX} characters of valid text")
    stores_claim = claims.get("stores", [])
    if (
        not isinstance(stores_claim, list)
        or len(stores_claim) > _STORES_MAX
        or not all(isinstance(s, str) and _STORE_ID.match(s) for s in stores_claim)
    ):
        raise TokenError("token stores must be a list of store ids")
    if role == "manager" and not stores_claim:
        raise TokenError("a manager token needs a non-empty stores claim")
    return Principal(
        sub=sub, role=role, stores=frozenset(stores_claim) if role == "manager" else frozenset()
    )


def mint_token(
    settings: Settings,
    *,
    role: Role,
    sub: str,
    stores: Iterable[str] = (),
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """Mint an HS256 development token.

    Raises:
        TokenError: In production, or when Kairos only holds a public key.
    """
    if settings.is_production:
        raise TokenError("kairos token is disabled when KAIROS_ENV=production")
    if settings.auth.jwt_public_key:
        raise TokenError("tokens are verified with a public key; mint them with the private key")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "role": role, "iat": issued, "exp": issued + ttl_seconds}
    store_list = sorted(set(stores))
    if store_list:
        claims["stores"] = store_list
    if settings.auth.jwt_issuer:
        claims["iss"] = settings.auth.jwt_issuer
    if settings.auth.jwt_audience:
        claims["aud"] = settings.auth.jwt_audience
    return jwt.encode(claims, settings.development_secret(), algorithm="HS256")


class JWTAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``request.user`` to the caller's :class:`Principal`, or answers 401."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._verifier = verifier

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise NotAuthorizedException("missing Authorization: Bearer token")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Authorization must be 'Bearer <token>'")
        try:
            principal = self._verifier.verify(token.strip())
        except TokenError as exc:
            raise NotAuthorizedException(str(exc)) from None
        return AuthenticationResult(user=principal, auth=token)


Guard = Callable[["ASGIConnection[Any, Any, Any, Any]", "BaseRouteHandler"], Awaitable[None]]


def requires(*roles: Role) -> Guard:
    """A guard admitting only ``roles``; others get 403."""
    allowed = frozenset(roles)
    if not allowed or not allowed <= set(ROLES):
        raise ValueError(f"unknown roles {roles!r}")

    # async: Litestar runs a sync guard in a worker thread, a thread hop on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            # Litestar's automatic OPTIONS answer (204 + Allow) reveals only the methods of
            # a path, which the OpenAPI document publishes anyway; it is not authenticated.
            return
        principal = connection.user
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException("this route is for " + " or ".join(sorted(allowed)))

    guard.kairos_roles = allowed  # type: ignore[attr-defined]  # read by the route audit
    return guard


def route_roles(handler: BaseRouteHandler) -> frozenset[str] | None:
    """The roles a handler admits; None when it is public."""
    if handler.opt.get("exclude_from_auth"):
        return None
    roles: set[str] = set()
    # Read the declared guards layer by layer: resolve_guards() wraps them and hides the mark.
    for layer in handler.ownership_layers:
        for guard in layer.guards or []:
            roles |= set(getattr(guard, "kairos_roles", ()))
    return frozenset(roles)


def check_every_route_has_a_role(app: Litestar) -> None:
    """Refuse to start if any non-public route lacks a role guard."""
    missing: list[str] = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if set(getattr(handler, "http_methods", ())) == {"OPTIONS"}:
                continue  # Litestar's automatic CORS pre-flight answer carries no data
            roles = route_roles(handler)
            if roles is not None and not roles:
                missing.append(f"{route.path} ({handler.handler_name})")
    # Litestar's own schema routes are public by design (excluded in the middleware).
    missing = [m for m in missing if not m.startswith("/schema")]
    if missing:
        raise RuntimeError("routes without an explicit role: " + ", ".join(sorted(missing)))
