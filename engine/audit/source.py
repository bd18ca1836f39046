"""Where audited runs come from: an event log (SQLite) or an export bundle, behind one interface."""

from __future__ import annotations

from typing import Protocol

from ..errors import BundleError, InputError, WorkflowNotFoundError
from ..events import AnyEvent, decode
from ..store.base import ChainHead, LogRecord, RawEvent
from ..store.locate import AnyStore, check_not_a_url, is_url

SQLITE_MAGIC = b"SQLite format 3\x00"


class Source(Protocol):
    """Read access to runs, their raw events and logs (a database or a bundle)."""

    path: str
    #: "database" or "bundle".
    kind: str

    async def heads(self) -> list[ChainHead]: ...

    async def events(self, uid: str) -> list[RawEvent]: ...

    async def logs(self, uid: str) -> list[LogRecord]: ...

    async def aclose(self) -> None: ...


class DatabaseSource:
    kind = "database"

    def __init__(self, store: AnyStore) -> None:
        self.store = store
        self.path = store.path

    async def heads(self) -> list[ChainHead]:
        return await self.store.workflow_heads()

    async def events(self, uid: str) -> list[RawEvent]:
        return await self.store.read_raw(uid)

    async def logs(self, uid: str) -> list[LogRecord]:
        return await self.store.read_logs(uid)

    async def aclose(self) -> None:
        await self.store.aclose()


def sniff(path: str) -> str:
    """"database", "bundle" or "" (missing or empty); BundleError for anything else. A
    `postgresql://` URL is a database."""
    if is_url(path):
        return "database"
    check_not_a_url(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except FileNotFoundError:
        return ""
    except IsADirectoryError:
        raise InputError(f"{path} is a directory") from None
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    if not head:
        return ""
    if head.startswith(SQLITE_MAGIC):
        return "database"
    from .bundle import MAGIC

    if MAGIC.encode() in head:
        return "bundle"
    raise BundleError(f"{path} is not an Exitflow bundle or event log")


async def open_source(path: str) -> Source:
    """Open a database or a bundle for reading (the kind is found from the file's content)."""
    kind = sniff(path)
    if kind == "":
        raise WorkflowNotFoundError(f"{path}: no event log or bundle there")
    if kind == "bundle":
        from .bundle import read_bundle

        return read_bundle(path)
    from ..api import open_reader

    return DatabaseSource(await open_reader(path))


async def find(source: Source, name_or_uid: str | None) -> ChainHead:
    """The run named (uid preferred); with no name, the only run of a bundle."""
    heads = await source.heads()
    if name_or_uid is None:
        if len(heads) == 1:
            return heads[0]
        raise InputError(f"{source.path} holds {len(heads)} runs: name one")
    for head in heads:
        if head.record.uid == name_or_uid:
            return head
    for head in heads:
        if head.record.name == name_or_uid:
            return head
    raise WorkflowNotFoundError(f"{source.path}: no workflow named {name_or_uid!r}")


def decode_all(name: str, events: list[RawEvent]) -> list[AnyEvent]:
    """Decode stored events; a payload that does not decode is a ReplayError naming it."""
    from ..errors import ReplayError

    out = []
    for raw in events:
        try:
            out.append(decode(raw.payload))
        except Exception as e:  # msgspec decode/validation errors
            raise ReplayError(f"workflow {name} seq {raw.seq} does not decode: {e}") from None
    return out
