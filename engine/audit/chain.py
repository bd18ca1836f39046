"""Per-run hash chain checks: every event links to the one before it, and the last one is the
recorded head. Reports the first bad event and, when the bytes allow it, what happened to it."""

from __future__ import annotations

from collections.abc import Sequence

from ..events import decode
from ..store.base import GENESIS_HASH, ChainHead, RawEvent, chain_hash


def link(prev: str, payload: bytes) -> str | None:
    try:
        return chain_hash(prev, payload)
    except ValueError:  # a stored hash that is not hex
        return None


def describe(event: RawEvent) -> str:
    """`seq 7 (NodeFinished wf.main.a)`: what the stored bytes say, best effort."""
    what = event.type
    try:
        decoded = decode(event.payload)
        node = getattr(decoded, "node_id", "")
        what = type(decoded).__name__ + (f" {node}" if node else "")
    except Exception:  # undecodable bytes are named by their stored type
        pass
    return f"seq {event.seq} ({what})"


def check_chain(events: Sequence[RawEvent], head: ChainHead) -> tuple[int, str] | None:
    """The first problem as (seq, message), or None if the chain and its head verify."""
    prev = GENESIS_HASH
    seqs = [e.seq for e in events]
    for i, event in enumerate(events):
        expected = i + 1
        if event.seq != expected:
            if expected in seqs[i + 1 :]:
                return expected, (f"events reordered: {describe(event)} is stored before seq"
                                  f" {expected}")
            if event.seq < expected:
                return event.seq, f"{describe(event)} appears twice (inserted)"
            gap = f"seq {expected}" if event.seq == expected + 1 else \
                f"seq {expected}..{event.seq - 1}"
            return expected, (f"{gap} removed: the chain jumps from seq {expected - 1} to"
                              f" {event.seq}")
        if link(prev, event.payload) != event.hash:
            return _classify(events, i, prev)
        prev = event.hash
    last = len(events)
    if head.record.last_seq > last:
        missing = head.record.last_seq
        gap = f"seq {last + 1}" if missing == last + 1 else f"seq {last + 1}..{missing}"
        return last + 1, (f"{gap} removed (log truncated): it ends at seq {last}, the recorded"
                          f" head is seq {missing}")
    if head.record.last_seq < last:
        first = head.record.last_seq + 1
        return first, (f"{describe(events[first - 1])} inserted after the recorded head"
                       f" (seq {head.record.last_seq})")
    if prev != head.head_hash:
        where = describe(events[-1]) if events else "seq 1"
        return last, (f"the chain does not end at the recorded head: {where} or an event before"
                      " it was rewritten together with its hashes")
    return None


def _classify(events: Sequence[RawEvent], i: int, prev: str) -> tuple[int, str]:
    event = events[i]
    hashes = [e.hash for e in events]
    # The bytes of another position stored here (two events swapped)?
    for k, other in enumerate(events):
        if k != i and link(GENESIS_HASH if k == 0 else hashes[k - 1], event.payload) == other.hash:
            return event.seq, (f"events reordered: {describe(event)} holds the event recorded"
                               f" at seq {other.seq}")
    # An intact event whose recorded predecessor is elsewhere (inserted/removed/moved)?
    for j, candidate in enumerate([GENESIS_HASH, *hashes]):
        if candidate != prev and link(candidate, event.payload) == event.hash:
            if j < i:
                return events[j].seq, (f"event inserted: {describe(events[j])} is not in the"
                                       f" chain ({describe(event)} followed seq {j} when"
                                       " recorded)")
            return event.seq, f"events reordered: {describe(event)} followed seq {j} when recorded"
    return event.seq, (f"{describe(event)} was modified: its bytes do not match its hash (or"
                       " the event before it was removed)")
