"""Portable run bundles: one self-contained JSON-lines file per export.

Format (version 1), UTF-8, one JSON object per line:

    {"magic": "exitflow-bundle", "format": 1, "engine_version": ..., "created_at": ...}
    {"record": "workflow", "uid", "name", "created_at", "phase", "finished", "last_seq",
     "executor", "head_hash", "spec_yaml", "parameters", "engine_version"}
    {"record": "event", "uid", "seq", "type", "ts", "hash", "payload": base64}   (seq order)
    {"record": "log", "uid", "node_id", "attempt", "stream", "data": base64}
    {"record": "end", "workflows": N, "events": N, "logs": N, "sha256": hex}

`payload` is the event's canonical msgpack bytes exactly as stored, so every event's chain hash
(and the recorded head) verifies in the bundle as in the database. `sha256` covers every byte
before the `end` line. A file without its `end` line is truncated. `spec_yaml`, `parameters` and
`engine_version` repeat what the run's first event says (for readers); verify checks they agree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import time
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from .. import __version__
from ..errors import BundleError, InputError
from ..events import WorkflowSubmitted, decode
from ..store.base import ChainHead, LogRecord, RawEvent, WorkflowRecord
from ..store.files import open_private
from .source import Source

MAGIC: Final = "exitflow-bundle"
FORMAT_VERSION: Final = 1


class Header(msgspec.Struct, kw_only=True):
    magic: str
    format: int
    engine_version: str = ""
    created_at: float = 0.0


class _Record(msgspec.Struct, kw_only=True, tag_field="record"):
    pass


class WorkflowLine(_Record, kw_only=True, tag="workflow"):
    uid: str
    name: str
    created_at: float
    phase: str
    finished: bool
    last_seq: int
    executor: str
    head_hash: str
    spec_yaml: str = ""
    parameters: dict[str, str] = {}
    engine_version: str = ""


class EventLine(_Record, kw_only=True, tag="event"):
    uid: str
    seq: int
    type: str
    ts: float
    hash: str
    payload: str


class LogLine(_Record, kw_only=True, tag="log"):
    uid: str
    node_id: str
    attempt: int
    stream: str
    data: str


class EndLine(_Record, kw_only=True, tag="end"):
    workflows: int
    events: int
    logs: int
    sha256: str


_Line = WorkflowLine | EventLine | LogLine | EndLine
_line_decoder = msgspec.json.Decoder(_Line)
_header_decoder = msgspec.json.Decoder(Header)
_encoder = msgspec.json.Encoder()


class Bundle:
    """A bundle read into memory; a `Source` for history, replay and verify."""

    kind = "bundle"

    def __init__(self, path: str, header: Header) -> None:
        self.path = path
        self.header = header
        self.workflows: list[WorkflowLine] = []
        self.raw: dict[str, list[RawEvent]] = {}
        self.log_records: dict[str, list[LogRecord]] = {}
        self.end: EndLine | None = None
        #: sha256 of the bytes before the `end` line, as read.
        self.digest = ""
        self.counts = (0, 0, 0)

    async def heads(self) -> list[ChainHead]:
        out = []
        for w in self.workflows:
            events = self.raw.get(w.uid, [])
            last = next((e for e in events if e.seq == w.last_seq), None)
            record = WorkflowRecord(uid=w.uid, name=w.name, created_at=w.created_at,
                                    phase=w.phase, finished=w.finished, last_seq=w.last_seq,
                                    executor=w.executor)
            out.append(ChainHead(record=record, head_hash=w.head_hash,
                                 last_ts=last.ts if last is not None else None))
        return out

    async def events(self, uid: str) -> list[RawEvent]:
        return list(self.raw.get(uid, []))

    async def logs(self, uid: str) -> list[LogRecord]:
        return list(self.log_records.get(uid, []))

    async def aclose(self) -> None:
        return None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{where}: not base64") from None


async def write_bundle(source: Source, heads: Sequence[ChainHead], path: str) -> tuple[int, int]:
    """Write the runs of `heads` to a new bundle at `path` (atomically); (events, logs) written."""
    lines: list[bytes] = [_encoder.encode(Header(magic=MAGIC, format=FORMAT_VERSION,
                                                 engine_version=__version__,
                                                 created_at=time.time()))]
    n_events = n_logs = 0
    for head in heads:
        r = head.record
        events = await source.events(r.uid)
        first = decode(events[0].payload) if events else None
        submitted = first if isinstance(first, WorkflowSubmitted) else None
        lines.append(_encoder.encode(WorkflowLine(
            uid=r.uid, name=r.name, created_at=r.created_at, phase=r.phase, finished=r.finished,
            last_seq=r.last_seq, executor=r.executor, head_hash=head.head_hash,
            spec_yaml=submitted.spec_yaml if submitted else "",
            parameters=dict(submitted.parameters) if submitted else {},
            engine_version=submitted.engine_version if submitted else "",
        )))
        for e in events:
            lines.append(_encoder.encode(EventLine(uid=r.uid, seq=e.seq, type=e.type, ts=e.ts,
                                                   hash=e.hash, payload=_b64(e.payload))))
        n_events += len(events)
        for rec in await source.logs(r.uid):
            lines.append(_encoder.encode(LogLine(uid=r.uid, node_id=rec.node_id,
                                                 attempt=rec.attempt, stream=rec.stream,
                                                 data=_b64(rec.data))))
            n_logs += 1
    body = b"".join(line + b"\n" for line in lines)
    end = EndLine(workflows=len(heads), events=n_events, logs=n_logs,
                  sha256=hashlib.sha256(body).hexdigest())
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with os.fdopen(open_private(tmp), "wb") as f:  # 0600: it holds parameters and output
            f.write(body + _encoder.encode(end) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return n_events, n_logs


def read_bundle(path: str) -> Bundle:
    """Parse a bundle. BundleError (one line) if it is not a bundle, newer, or truncated."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: {e.strerror or e}") from None
    first, nl, rest = data.partition(b"\n")
    try:
        probe: Any = json.loads(first)
    except ValueError:
        probe = None
    if not isinstance(probe, dict) or probe.get("magic") != MAGIC:
        raise BundleError(f"{path} is not an Exitflow bundle")
    version = probe.get("format")
    if not isinstance(version, int):
        raise BundleError(f"{path}: bundle header has no format version")
    if version > FORMAT_VERSION:
        raise BundleError(f"{path}: bundle format {version} is newer than this Exitflow"
                          f" supports ({FORMAT_VERSION}); upgrade Exitflow")
    try:
        header = _header_decoder.decode(first)
    except msgspec.DecodeError as e:
        raise BundleError(f"{path}: bad bundle header ({e})") from None
    bundle = Bundle(path, header)
    if not nl:
        raise BundleError(f"{path}: bundle is truncated (no records after the header)")
    offset = len(first) + 1
    n_events = n_logs = 0
    known: set[str] = set()
    for lineno, line in enumerate(rest.split(b"\n"), start=2):
        if bundle.end is not None:
            if line:
                raise BundleError(f"{path}:{lineno}: data after the end record")
            continue
        if not line:
            raise BundleError(f"{path}: bundle is truncated at line {lineno} (no end record)")
        try:
            rec = _line_decoder.decode(line)
        except msgspec.DecodeError as e:
            if lineno == data.count(b"\n") + 1:
                raise BundleError(f"{path}: bundle is truncated at line {lineno}") from None
            raise BundleError(f"{path}:{lineno}: bad record ({e})") from None
        where = f"{path}:{lineno}"
        if isinstance(rec, EndLine):
            bundle.end = rec
            bundle.digest = hashlib.sha256(data[:offset]).hexdigest()
        elif isinstance(rec, WorkflowLine):
            if rec.uid in known:
                raise BundleError(f"{where}: workflow {rec.uid} appears twice")
            known.add(rec.uid)
            bundle.workflows.append(rec)
        elif rec.uid not in known:
            raise BundleError(f"{where}: record for a workflow not declared before it")
        elif isinstance(rec, EventLine):
            bundle.raw.setdefault(rec.uid, []).append(RawEvent(
                seq=rec.seq, type=rec.type, ts=rec.ts, payload=_unb64(rec.payload, where),
                hash=rec.hash))
            n_events += 1
        else:
            bundle.log_records.setdefault(rec.uid, []).append(LogRecord(
                node_id=rec.node_id, attempt=rec.attempt, stream=rec.stream,
                data=_unb64(rec.data, where)))
            n_logs += 1
        offset += len(line) + 1
    if bundle.end is None:
        raise BundleError(f"{path}: bundle is truncated (no end record)")
    bundle.counts = (len(bundle.workflows), n_events, n_logs)
    return bundle
