"""The event store: the interface (`base`), the backend-neutral codec, and the backends
(the only SQL)."""

from .base import GENESIS_HASH as GENESIS_HASH
from .base import CommitHook as CommitHook
from .base import CrashPoint as CrashPoint
from .base import EventStore as EventStore
from .base import GlobalEvent as GlobalEvent
from .base import LogRecord as LogRecord
from .base import RawEvent as RawEvent
from .base import RecordedEvent as RecordedEvent
from .base import WorkflowRecord as WorkflowRecord
from .base import chain_hash as chain_hash
from .sqlite import CRASH_ENV as CRASH_ENV
from .sqlite import SCHEMA_VERSION as SCHEMA_VERSION
from .sqlite import SqliteStore as SqliteStore
from .sqlite import crash_point_from_env as crash_point_from_env

__all__ = [
    "CRASH_ENV",
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "CommitHook",
    "CrashPoint",
    "EventStore",
    "GlobalEvent",
    "LogRecord",
    "RawEvent",
    "RecordedEvent",
    "SqliteStore",
    "WorkflowRecord",
    "chain_hash",
    "crash_point_from_env",
]
