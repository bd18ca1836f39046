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
from .sqlite_objects import CronRecord as CronRecord
from .sqlite_objects import ObjectStore as ObjectStore
from .sqlite_objects import TemplateRecord as TemplateRecord
from .sqlite_objects import TickRecord as TickRecord

__all__ = [
    "CRASH_ENV",
    "GENESIS_HASH",
    "SCHEMA_VERSION",
    "CommitHook",
    "CrashPoint",
    "CronRecord",
    "EventStore",
    "GlobalEvent",
    "LogRecord",
    "ObjectStore",
    "RawEvent",
    "RecordedEvent",
    "SqliteStore",
    "TemplateRecord",
    "TickRecord",
    "WorkflowRecord",
    "chain_hash",
    "crash_point_from_env",
]
