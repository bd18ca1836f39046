"""Tamper with a run's events the way an attacker with file access would."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from engine.events import NodeStarted, encode
from engine.store.base import chain_hash


@dataclass(frozen=True)
class Row:
    seq: int
    payload: bytes
    hash: str


def flip(rows: list[Row], seq: int) -> list[Row]:
    out = list(rows)
    r = out[seq - 1]
    data = bytearray(r.payload)
    data[len(data) // 2] ^= 0x01
    out[seq - 1] = replace(r, payload=bytes(data))
    return out


def delete(rows: list[Row], seq: int) -> list[Row]:
    return [r for r in rows if r.seq != seq]


def insert(rows: list[Row], seq: int) -> list[Row]:
    """A forged event, correctly chained after seq-1, at `seq`; later events move up one."""
    before = rows[seq - 2]
    payload = encode(NodeStarted(ts=0.0, node_id="forged", attempt=9))
    forged = Row(seq, payload, chain_hash(before.hash, payload))
    later = [replace(r, seq=r.seq + 1) for r in rows[seq - 1 :]]
    return [*rows[: seq - 1], forged, *later]


def swap(rows: list[Row], a: int, b: int) -> list[Row]:
    """Swap the bytes of two events (their hashes and seqs stay where they are)."""
    out = list(rows)
    ra, rb = out[a - 1], out[b - 1]
    out[a - 1], out[b - 1] = replace(ra, payload=rb.payload), replace(rb, payload=ra.payload)
    return out


def truncate(rows: list[Row], keep: int) -> list[Row]:
    return rows[:keep]


Tamper = Callable[[list[Row]], list[Row]]
