"""Backend-neutral encoding of stored events: canonical bytes, decoding, and both hash chains.

Every backend stores exactly these bytes and hashes, so a run moves between backends (export,
import) and verifies byte for byte. No SQL here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from ..errors import CorruptLogError
from ..events import AnyEvent, Event, decode, decode_fast, encode, event_type

__all__ = [
    "GENESIS_HASH",
    "GENESIS_RAW",
    "chain_hash",
    "decode_event",
    "decode_events_fast",
    "encode_rows",
    "link",
]

#: The "previous hash" of every workflow's first event (and of the global chain).
GENESIS_HASH: Final = "0" * 64
GENESIS_RAW: Final = bytes.fromhex(GENESIS_HASH)

_sha256 = hashlib.sha256


def chain_hash(prev_hash: str, payload: bytes) -> str:
    """The hash of an event: sha256(previous hash's 32 raw bytes || canonical bytes), hex."""
    return _sha256(bytes.fromhex(prev_hash) + payload).hexdigest()


def link(prev: bytes, data: bytes) -> bytes:
    """One step of a chain on raw digests: sha256(prev || data). The run chain links event
    payloads; the global chain links each event's (raw) run hash in commit order."""
    return _sha256(prev + data).digest()


#: Event class -> stored tag (`event_type`), filled on first use.
_TAGS: dict[type, str] = {}


def encode_rows(events: Sequence[Event]) -> list[tuple[str, float, bytes]]:
    """(type tag, ts, canonical bytes) of each event: what a backend stores."""
    tags = _TAGS
    rows = []
    for ev in events:
        tag = tags.get(type(ev))
        if tag is None:
            tag = tags[type(ev)] = event_type(ev)
        rows.append((tag, ev.ts, encode(ev)))
    return rows


def decode_event(where: str, uid: str, seq: int, payload: bytes) -> AnyEvent:
    """Decode stored bytes; CorruptLogError naming the event if they do not decode."""
    try:
        return decode(payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise CorruptLogError(f"{where}: workflow {uid} seq {seq} does not decode: {e}") from e


def decode_events_fast(where: str, rows: Sequence[Sequence[Any]]) -> list[tuple[str, AnyEvent]]:
    """(uid, event) for (gseq, uid, seq, payload) rows: the bulk replay path, with a precise
    error on the first row that does not decode."""
    try:
        return [(uid, decode_fast(payload)) for _g, uid, _seq, payload in rows]
    except (msgspec.DecodeError, msgspec.ValidationError):
        return [(uid, decode_event(where, uid, seq, payload)) for _g, uid, seq, payload in rows]
