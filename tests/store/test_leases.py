"""Run leases on the PostgreSQL store (docs/scale-out.md): an append under a stale fencing
token is refused inside the writer's transaction; the new owner's append goes through."""

from __future__ import annotations

import time
import uuid

import anyio
import pytest

from engine.errors import FencedError
from engine.events import NodeStarted, WorkflowSubmitted
from engine.store.postgres import PostgresStore
from tests.helpers import exitflow

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_stale_fencing_token_is_refused(pg_db: str) -> None:
    a = await PostgresStore.open(pg_db)
    b = await PostgresStore.open(pg_db)
    try:
        await a.join_controllers(1.0)
        await b.join_controllers(30.0)
        uid = str(uuid.uuid4())
        await a.create_workflow(WorkflowSubmitted(
            ts=time.time(), uid=uid, name=f"wf-{uid[:8]}", spec_yaml="kind: Workflow\n"))
        assert await a.claim_runs() == [uid]
        assert await b.claim_runs() == []  # held by A
        await a.append(uid, 2, [NodeStarted(ts=time.time(), node_id="n1")])
        # A stops renewing; once its lease expires B adopts the run with a new token.
        with anyio.fail_after(60):
            while await b.claim_runs() != [uid]:
                await anyio.sleep(0.05)
        with pytest.raises(FencedError, match="no longer current"):
            await a.append(uid, 3, [NodeStarted(ts=time.time(), node_id="n2")])
        assert await a.renew_leases() == {uid}  # A learns it lost the run
        await b.append(uid, 3, [NodeStarted(ts=time.time(), node_id="n2")])
        assert [r.seq for r in await b.read(uid)] == [1, 2, 3]
        controllers = await b.controllers()
        assert [c[4] for c in controllers if c[0] == b.owner] == [[uid]]
        shown = exitflow("status", "--db", pg_db)
        assert shown.code == 0, shown.stderr
        assert f"{b.owner}  host=" in shown.stdout and f"  {uid}" in shown.stdout
    finally:
        await a.aclose()
        await b.aclose()
