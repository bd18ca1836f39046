"""A PostgreSQL URL that cannot work: exit 2, one line naming the URL without its password, no
traceback, nothing created or changed."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import pytest

from tests.helpers import EXAMPLES, exitflow

pytestmark = pytest.mark.postgres

PASSWORD = "s3cret-pw"


def with_netloc(url: str, *, user: str, password: str | None, port: str) -> str:
    parts = urlsplit(url)
    auth = f"{user}:{password}" if password is not None else user
    return urlunsplit(parts._replace(netloc=f"{auth}@{parts.hostname}:{port}"))


def one_line_exit_2(db: str, *args: str, expect: str) -> None:
    for command in (("list",), ("run", str(EXAMPLES / "onexit-cleanup.yaml")),
                    ("submit", str(EXAMPLES / "onexit-cleanup.yaml")), ("verify",)):
        result = exitflow(*command, "--db", db, *args, timeout=60)
        assert result.code == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert PASSWORD not in result.stderr and "exitflow-test-password" not in result.stderr
        assert expect in lines[0], (command, lines[0])


def test_unreachable_server(pg_url: str) -> None:
    db = with_netloc(pg_url, user="exitflow", password=PASSWORD, port="1")
    one_line_exit_2(db, expect="cannot reach the database server")


def test_wrong_credentials(pg_url: str) -> None:
    port = str(urlsplit(pg_url).port)
    db = with_netloc(pg_url, user="exitflow", password=PASSWORD, port=port)
    one_line_exit_2(db, expect="authentication failed")


def test_no_such_database(pg_url: str) -> None:
    db = urlunsplit(urlsplit(pg_url)._replace(path="/no_such_db_here"))
    one_line_exit_2(db, expect="no such database")


@pytest.mark.parametrize("typo", ["port", "scheme", "nodb"])
def test_url_typos(pg_url: str, typo: str, tmp_path: object) -> None:
    parts = urlsplit(pg_url)
    if typo == "port":
        db = pg_url.replace(f":{parts.port}/", f":{parts.port}x/")
        expect = "malformed database URL"
    elif typo == "scheme":
        db = "postgresq" + pg_url[len("postgresql"):]
        expect = "not a database URL"
    else:
        db = urlunsplit(parts._replace(path="/"))
        expect = "must name one database"
    one_line_exit_2(db, expect=expect)


def test_a_database_that_is_not_ours_is_left_unchanged(pg_db: str) -> None:
    async def setup() -> None:
        conn = await asyncpg.connect(pg_db)
        try:
            await conn.execute("CREATE SCHEMA exitflow")
            await conn.execute("CREATE TABLE exitflow.workflows(x int)")
            await conn.execute("INSERT INTO exitflow.workflows VALUES (42)")
        finally:
            await conn.close()

    async def tables() -> list[str]:
        conn = await asyncpg.connect(pg_db)
        try:
            rows = await conn.fetch("SELECT table_name FROM information_schema.tables"
                                    " WHERE table_schema = 'exitflow'")
            assert await conn.fetchval("SELECT x FROM exitflow.workflows") == 42
            return sorted(r[0] for r in rows)
        finally:
            await conn.close()

    anyio.run(setup)
    one_line_exit_2(pg_db, expect="is not an Exitflow event log")
    assert anyio.run(tables) == ["workflows"]
