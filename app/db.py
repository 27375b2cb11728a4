"""The database: which server, the asyncpg pool, and jsonb codecs through msgspec.

With ``KAIROS_DATABASE_URL`` set, Kairos uses that server and never starts one. Without it,
an embedded PostgreSQL (the ``pgserver`` package, which ships its own binaries) runs in
``KAIROS_DATA_DIR/pgdata`` and keeps its data across restarts.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from litestar.datastructures import State
from litestar.di import NamedDependency

from app.problems import ConflictProblem, ProblemError, ValidationProblem

if TYPE_CHECKING:
    from app.settings import Settings

__all__ = [
    "CONSTRAINT_PROBLEMS",
    "EMBEDDED_DATABASE",
    "Conn",
    "DatabaseTarget",
    "DbConnection",
    "create_pool",
    "ensure_database",
    "provide_connection",
    "resolve_database",
    "start_embedded",
    "transaction",
]

log = logging.getLogger("kairos.db")

DbConnection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A plain connection or one borrowed from the pool: query functions accept either."""

EMBEDDED_DATABASE = "kairos"
"""Database created inside the embedded server (its default ``postgres`` one stays untouched)."""


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """The database a process will use.

    Attributes:
        url: asyncpg-compatible connection URL.
        embedded: True when Kairos started (or joined) its own pgserver instance.
        description: Safe to print: no password.
    """

    url: str
    embedded: bool
    description: str


def _redact(url: str) -> str:
    """The URL without its password, for start-up messages."""
    try:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(url)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
            return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable database URL>"
    return url


def start_embedded(data_dir: Path, database: str = EMBEDDED_DATABASE) -> str:
    """Start (or join) the embedded PostgreSQL in ``data_dir/pgdata``; return its URL.

    The server keeps running for as long as some process holds it, and stops with the last
    one; its data stays in ``pgdata`` for the next start.
    """
    import warnings

    # pgserver logs every command it runs at INFO; its start-up is summarised by our own line.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); harmless here.
        warnings.simplefilter("ignore")
        import pgserver

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        # get_server() hands back a cached handle even if that server has since stopped.
        from pgserver.utils import PostmasterInfo

        live = PostmasterInfo.read_from_pgdata(pgdata.resolve())
        if live is None or not live.is_running():
            server.ensure_postgres_running()
    admin_url: str = server.get_uri()
    # ``database`` is our own constant (EMBEDDED_DATABASE), never client input.
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "1 row" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    url: str = server.get_uri(database)
    log.debug("embedded server admin URL %s", _redact(admin_url))
    return url


def resolve_database(settings: Settings) -> DatabaseTarget:
    """Pick the configured server, or start the embedded one."""
    if settings.database.url:
        return DatabaseTarget(
            url=settings.database.url,
            embedded=False,
            description=f"PostgreSQL at {_redact(settings.database.url)} (KAIROS_DATABASE_URL)",
        )
    url = start_embedded(settings.database.data_dir)
    return DatabaseTarget(
        url=url,
        embedded=True,
        description=f"embedded PostgreSQL in {settings.database.data_dir / 'pgdata'}",
    )


async def ensure_database(url: str) -> None:
    """Fail fast with a clear message when the server is unreachable."""
    conn = await asyncpg.connect(url, timeout=10)
    await conn.close()


_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def _encode_json(value: Any) -> str:
    # asyncpg's text codec wants str; msgspec encodes Structs, datetimes and UUIDs natively.
    return _json_encoder.encode(value).decode()


def _decode_json(value: str) -> Any:
    return _json_decoder.decode(value)


async def init_connection(conn: asyncpg.Connection) -> None:
    """Per-connection set-up: json/jsonb through msgspec, UTC session time zone."""
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=_encode_json, decoder=_decode_json, schema="pg_catalog"
        )


async def _keep_session(_: asyncpg.Connection) -> None:
    """Pool ``reset``: nothing to undo. asyncpg's default sends ``RESET ALL``, ``UNLISTEN *``,
    ``CLOSE ALL`` and an advisory unlock-all on every release, a round trip per request;
    Kairos leaves no session state on pooled connections (settings are ``SET LOCAL``,
    listeners have connections of their own, advisory locks are released by their takers),
    and asyncpg still rolls back a transaction left open before this runs."""


async def create_pool(settings: Settings, url: str | None = None) -> asyncpg.Pool:
    """Create the application's pool (the Litestar lifespan owns and closes it)."""
    dsn = url or settings.database.url
    if not dsn:
        raise ValueError("no database URL: resolve_database() first")
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.database.pool_min,
        max_size=settings.database.pool_max,
        command_timeout=settings.database.command_timeout,
        init=init_connection,
        reset=_keep_session,
        server_settings={"application_name": "kairos", "timezone": "UTC"},
    )
    assert pool is not None
    return pool


async def provide_connection(state: State) -> AsyncGenerator[asyncpg.Connection, None]:
    """Litestar dependency ``conn``: one pooled connection per request, released after it."""
    pool: asyncpg.Pool = state.pool
    async with pool.acquire() as conn:
        # The pool hands out a proxy that forwards every call to the connection; declaring
        # the plain class keeps Litestar's signature model simple.
        yield cast("asyncpg.Connection", conn)


Conn = NamedDependency[asyncpg.Connection]
"""Handler parameter type for the request's connection (``conn: Conn``)."""


# --------------------------------------------------------------------------- transactions

ProblemFactory = Callable[[], ProblemError]

CONSTRAINT_PROBLEMS: dict[str, ProblemFactory] = {
    # Foreign keys a client can break by naming something that does not exist.
    "purchases_store_id_fkey": lambda: ValidationProblem.single("store_id", "no such store"),
    "support_cases_store_id_fkey": lambda: ValidationProblem.single("store_id", "no such store"),
    "campaign_stores_store_id_fkey": lambda: ValidationProblem.single(
        "store_ids", "names a store that does not exist (any more)"
    ),
    "geofences_store_id_fkey": lambda: ProblemError(404, "not-found", "Resource not found"),
}
"""Constraint name → the problem a client gets when a write breaks it. Areas add their own
entries here (one table for the whole schema, next to the transaction helper)."""


def _constraint_problem(
    exc: asyncpg.IntegrityConstraintViolationError, extra: Mapping[str, ProblemFactory]
) -> Exception:
    constraint = getattr(exc, "constraint_name", None) or ""
    factory = extra.get(constraint) or CONSTRAINT_PROBLEMS.get(constraint)
    if factory is not None:
        return factory()
    if isinstance(exc, asyncpg.UniqueViolationError):
        return ConflictProblem(f"already exists ({constraint or 'unique constraint'})")
    # A check or foreign key nobody mapped is a validation gap (a bug): the 500 handler logs
    # the exception type and the request id, never the row.
    return exc


@asynccontextmanager
async def transaction(
    conn: DbConnection, problems: Mapping[str, ProblemFactory] | None = None
) -> AsyncIterator[None]:
    """The one way Kairos writes: a transaction whose integrity errors come out as problems.

    Args:
        conn: The request's connection; nested use makes a savepoint.
        problems: Extra constraint-name → problem mappings for this write (the shared ones in
            :data:`CONSTRAINT_PROBLEMS` always apply).

    Raises:
        ProblemError: A unique, foreign-key or check violation a client caused.
    """
    try:
        async with conn.transaction():
            yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        problem = _constraint_problem(exc, problems or {})
        if problem is exc:
            raise
        raise problem from None
