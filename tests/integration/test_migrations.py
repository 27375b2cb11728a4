"""The migration runner against a real server: order, checksums, concurrent starters."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from app.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, discover, migrate_url
from tests.conftest import database_url_for


@pytest.fixture
async def scratch_db(pg_server_url: str) -> AsyncIterator[str]:
    """An empty database of its own (the runner's bookkeeping must start from nothing)."""
    name = f"kairos_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    yield database_url_for(pg_server_url, name)
    admin = await asyncpg.connect(pg_server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def _write(directory: Path, name: str, sql: str) -> None:
    (directory / name).write_text(sql)


async def test_applies_in_numeric_order_and_records_checksums(
    scratch_db: str, tmp_path: Path
) -> None:
    # 0002 depends on 0001; written in reverse to prove the order comes from the numbers.
    _write(tmp_path, "0002_add_column.sql", "ALTER TABLE t ADD COLUMN b int;")
    _write(tmp_path, "0001_create.sql", "CREATE TABLE t (a int);")
    applied = await migrate_url(scratch_db, tmp_path)
    assert [m.name for m in applied] == ["0001_create", "0002_add_column"]
    conn = await asyncpg.connect(scratch_db)
    try:
        rows = await conn.fetch(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
        )
        assert [(r["version"], r["name"]) for r in rows] == [
            (1, "0001_create"),
            (2, "0002_add_column"),
        ]
        assert rows[0]["checksum"] == discover(tmp_path)[0].checksum
        columns = await conn.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 't' ORDER BY 1"
        )
        assert [c["column_name"] for c in columns] == ["a", "b"]
    finally:
        await conn.close()
    assert await migrate_url(scratch_db, tmp_path) == []


async def test_edited_migration_is_refused(scratch_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "0001_create.sql", "CREATE TABLE t (a int);")
    await migrate_url(scratch_db, tmp_path)
    _write(tmp_path, "0001_create.sql", "CREATE TABLE t (a bigint);")
    _write(tmp_path, "0002_more.sql", "CREATE TABLE u (a int);")
    with pytest.raises(MigrationError, match=r"0001_create\.sql was edited"):
        await migrate_url(scratch_db, tmp_path)
    conn = await asyncpg.connect(scratch_db)
    try:
        # Nothing after the refusal ran.
        assert await conn.fetchval("SELECT to_regclass('u')") is None
    finally:
        await conn.close()


async def test_removed_migration_is_refused(scratch_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "0001_create.sql", "CREATE TABLE t (a int);")
    await migrate_url(scratch_db, tmp_path)
    (tmp_path / "0001_create.sql").unlink()
    with pytest.raises(MigrationError, match="missing"):
        await migrate_url(scratch_db, tmp_path)


async def test_failed_migration_rolls_back_alone(scratch_db: str, tmp_path: Path) -> None:
    _write(tmp_path, "0001_ok.sql", "CREATE TABLE t (a int);")
    _write(tmp_path, "0002_broken.sql", "CREATE TABLE u (a int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await migrate_url(scratch_db, tmp_path)
    conn = await asyncpg.connect(scratch_db)
    try:
        assert await conn.fetchval("SELECT to_regclass('t')") is not None
        assert await conn.fetchval("SELECT to_regclass('u')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1
    finally:
        await conn.close()


async def test_two_concurrent_starters_migrate_once(scratch_db: str, tmp_path: Path) -> None:
    # A slow migration that would fail if run twice (CREATE TABLE without IF NOT EXISTS).
    _write(tmp_path, "0001_slow.sql", "SELECT pg_sleep(0.3); CREATE TABLE t (a int);")
    conns = [await asyncpg.connect(scratch_db) for _ in range(2)]
    try:
        results = await asyncio.gather(*(apply_migrations(c, tmp_path) for c in conns))
    finally:
        for c in conns:
            await c.close()
    assert sorted(len(r) for r in results) == [0, 1]


def test_misnamed_and_duplicate_files_are_errors(tmp_path: Path) -> None:
    _write(tmp_path, "1_bad.sql", "")
    with pytest.raises(MigrationError, match="NNNN_description"):
        discover(tmp_path)
    (tmp_path / "1_bad.sql").unlink()
    _write(tmp_path, "0001_a.sql", "")
    _write(tmp_path, "0001_b.sql", "")
    with pytest.raises(MigrationError, match="also used"):
        discover(tmp_path)


async def test_core_schema_keeps_data_honest(db: asyncpg.Connection) -> None:
    """The shipped migrations: constraints reject impossible rows."""
    assert discover(MIGRATIONS_DIR)[0].name == "0001_core_schema"
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO stores (id, name, lat, lng, timezone) VALUES ('s1', 'S', 91, 0, 'UTC')"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO stores (id, name, lat, lng, timezone) VALUES ('bad id!', 'S', 0, 0, 'UTC')"
        )
    await db.execute(
        "INSERT INTO stores (id, name, lat, lng, timezone) VALUES ('s1', 'S', 0, 0, 'UTC')"
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(
            "INSERT INTO geofences (id, store_id, center_lat, center_lng, radius_m) "
            "VALUES ('g1', 'nope', 0, 0, 50)"
        )
    with pytest.raises(asyncpg.CheckViolationError):  # neither geometry nor circle
        await db.execute("INSERT INTO geofences (id, store_id) VALUES ('g1', 's1')")
    await db.execute("INSERT INTO customers (id) VALUES ('c1')")
    await db.execute(
        "INSERT INTO events (customer_id, event_id, type, occurred_at, status) "
        "VALUES ('c1', 'e1', 'fix', now(), 'accepted')"
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(
            "INSERT INTO events (customer_id, event_id, type, occurred_at, status) "
            "VALUES ('c1', 'e1', 'fix', now(), 'accepted')"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO purchases (order_id, customer_id, channel, occurred_at, currency, total, "
            "payload_hash) VALUES ('o1', 'c1', 'store', now(), 'GBP', -1, 'h')"
        )
