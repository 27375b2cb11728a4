"""Numbered plain-SQL migrations, applied in order, once, under an advisory lock.

Files are ``migrations/NNNN_description.sql``. Each runs in its own transaction and is
recorded in ``schema_migrations`` with a SHA-256 of its text. An applied file that has
since been edited (or removed) is an error, never a silent skip: history is append-only.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from app.settings import REPO_ROOT

__all__ = [
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationError",
    "apply_migrations",
    "discover",
    "migrate_url",
]

log = logging.getLogger("kairos.migrate")

MIGRATIONS_DIR = REPO_ROOT / "migrations"

# Any constant works; it only has to be the same in every Kairos process.
_ADVISORY_LOCK_KEY = 0x4B4149524F53  # "KAIROS"

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The migrations on disk and in the database disagree, or a file is misnamed."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in version order.

    Raises:
        MigrationError: A .sql file is misnamed, or two files share a number.
    """
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: migration files are named NNNN_description.sql (lowercase)"
            )
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"{path.name}: version {version} is also used by {found[version].name}.sql"
            )
        found[version] = Migration(version, path.stem, path.read_text())
    return [found[v] for v in sorted(found)]


async def apply_migrations(
    conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Apply pending migrations; return those applied by this call.

    A session-level advisory lock makes concurrent starters wait for each other, so the
    second one finds everything applied and does nothing.

    Raises:
        MigrationError: An applied migration was edited or removed.
    """
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {r["version"]: r for r in rows}
        on_disk = {m.version: m for m in migrations}
        for version, row in sorted(applied.items()):
            migration = on_disk.get(version)
            if migration is None:
                raise MigrationError(
                    f"migration {row['name']}.sql was applied to this database but is missing "
                    f"from {directory}"
                )
            if migration.checksum != row["checksum"]:
                raise MigrationError(
                    f"migration {migration.name}.sql was edited after it was applied "
                    f"(checksum {migration.checksum[:12]} != recorded {row['checksum'][:12]}); "
                    "add a new migration instead of changing an applied one"
                )
        done: list[Migration] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            log.info("applying migration %s", migration.name)
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK_KEY)


async def migrate_url(url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Connect to ``url`` and apply pending migrations."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await apply_migrations(conn, directory)
    finally:
        await conn.close()
