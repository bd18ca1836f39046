"""Tokens of the expression language.

A word is `[A-Za-z_][A-Za-z0-9_]*` continued by `-` + `[A-Za-z0-9_]`, so `run-task` is one word
while `a - b` and `a -b` are subtractions. After `.` a member name may start with a digit
(`steps.1st.status`, `item.0`). A number glued to letters or to a second dot (`1.2.3`, `3rd`)
is a bare word, kept as a string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as Lit

from engine.expr._errors import error_at

__all__ = ["Token", "tokenize"]

Kind = Lit["num", "str", "word", "bare", "op", "hash", "eof"]

# Longest first.
_OPS = (
    "**", "==", "!=", "<=", ">=", "&&", "||", "=~", "!~", "??", "?.", "..",
    "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", ",", ".", "(", ")", "[", "]", "{", "}",
    "|",
)  # fmt: skip

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
_MEMBER = re.compile(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*")
_NUMBER = re.compile(r"(?:\d+\.\d+|\d+)(?:[eE][+-]?\d+)?")
_BARE_TAIL = re.compile(r"[A-Za-z0-9_.]*(?:-[A-Za-z0-9_.]+)*")
_HASH = re.compile(r"#[A-Za-z_][A-Za-z0-9_]*|#")
_INT64_MAX = 2**63 - 1

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "a": "\a",
    "0": "\0",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "`": "`",
    "/": "/",
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str  # operator/word text, or the decoded string
    value: int | float | str | None
    pos: int


def _string(source: str, start: int) -> tuple[str, int]:
    """Decode the quoted string starting at `start`; return (value, end offset)."""
    quote = source[start]
    out: list[str] = []
    i = start + 1
    n = len(source)
    while i < n:
        c = source[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\" and quote != "`":
            if i + 1 >= n:
                break
            e = source[i + 1]
            if e in "uU" or e == "x":
                width = {"x": 2, "u": 4, "U": 8}[e]
                digits = source[i + 2 : i + 2 + width]
                if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise error_at(f"bad escape \\{e}{digits}", source, i)
                code = int(digits, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise error_at(f"bad escape \\{e}{digits}", source, i)
                out.append(chr(code))
                i += 2 + width
                continue
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
            else:
                # Unknown escapes are kept (`'\d+'` stays a usable regex).
                out.append("\\" + e)
            i += 2
            continue
        out.append(c)
        i += 1
    raise error_at("unterminated string", source, start)


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens (the last one is `eof`); ExpressionError on a bad character."""
    tokens: list[Token] = []
    i = 0
    n = len(source)
    while True:
        while i < n and source[i].isspace():
            i += 1
        if i >= n:
            tokens.append(Token("eof", "", None, n))
            return tokens
        c = source[i]
        after_dot = bool(tokens) and tokens[-1].kind == "op" and tokens[-1].text in (".", "?.")
        if after_dot and (c.isascii() and (c.isalnum() or c == "_")):
            m = _MEMBER.match(source, i)
            assert m is not None
            tokens.append(Token("word", m.group(), m.group(), i))
            i = m.end()
            continue
        if c in "'\"`":
            value, end = _string(source, i)
            tokens.append(Token("str", source[i:end], value, i))
            i = end
            continue
        if c.isascii() and c.isdigit():
            m = _NUMBER.match(source, i)
            assert m is not None
            end = m.end()
            nxt = source[end : end + 2]
            glued = nxt[:1].isascii() and (nxt[:1].isalpha() or nxt[:1] == "_")
            dotted = (
                nxt[:1] == "." and nxt[1:2].isascii() and (nxt[1:2].isalnum() or nxt[1:2] == "_")
            )
            if glued or dotted:
                t = _BARE_TAIL.match(source, end)
                assert t is not None
                text = source[i : t.end()]
                tokens.append(Token("bare", text, text, i))
                i = t.end()
                continue
            text = m.group()
            num: int | float
            if any(ch in text for ch in ".eE"):
                try:
                    num = float(text)
                except (ValueError, OverflowError):  # pragma: no cover - regex guarantees form
                    raise error_at(f"bad number {text}", source, i) from None
                if num in (float("inf"), float("-inf")):
                    raise error_at(f"number out of range {text}", source, i)
            else:
                if len(text) > 19 or int(text) > _INT64_MAX:
                    raise error_at(f"integer out of range {text}", source, i)
                num = int(text)
            tokens.append(Token("num", text, num, i))
            i = end
            continue
        if c.isascii() and (c.isalpha() or c == "_"):
            m = _WORD.match(source, i)
            assert m is not None
            tokens.append(Token("word", m.group(), m.group(), i))
            i = m.end()
            continue
        if c == "#":
            m = _HASH.match(source, i)
            assert m is not None
            tokens.append(Token("hash", m.group(), m.group(), i))
            i = m.end()
            continue
        for op in _OPS:
            if source.startswith(op, i):
                if op == "?." and source[i + 2 : i + 3].isdigit():
                    op = "?"  # `a ?.5 : 1` is a ternary
                tokens.append(Token("op", op, op, i))
                i += len(op)
                break
        else:
            raise error_at(f"unexpected character {c!r}", source, i)
