"""Regular expressions in linear time, as Go's RE2 does it (Python's `re` backtracks, so a
pattern like `.*.*.*x` or `(a+)+$` could hang the engine).

Supported (RE2 syntax): literals, `.`, `[...]` classes with ranges, negation and `[:alpha:]`
names, `\\d \\D \\w \\W \\s \\S` (ASCII, as in Go), `\\b \\B \\A \\z ^ $`, groups `(...)`,
`(?:...)`, `(?P<n>...)`, `(?<n>...)`, flags `(?i) (?m) (?s)` and `(?i:...)`, alternation,
`* + ? {n} {n,} {n,m}` (lazy `?` suffixes accepted). Backreferences and look-around are
refused, as in Go. Only "does it match anywhere" is answered (`=~`, `matches`).

The pattern becomes a Thompson NFA, simulated over the subject with a cache of visited state
sets (a lazy DFA), so time is O(len(pattern) * len(subject)) whatever the pattern.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from engine.errors import ExpressionError

__all__ = ["MAX_PATTERN", "MAX_SUBJECT", "compile_regex", "search"]

MAX_PATTERN = 1000
MAX_SUBJECT = 1_000_000
MAX_STATES = 20_000
MAX_REPEAT = 1000
_CACHE_LIMIT = 4096
#: NFA states visited on cache misses before a search gives up (the cache makes this rare).
MAX_WORK = 5_000_000

_WORD = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIGIT = frozenset("0123456789")
_SPACE = frozenset("\t\n\f\r ")
_POSIX: dict[str, frozenset[str]] = {
    "alnum": frozenset(c for c in _WORD if c != "_"),
    "alpha": frozenset(c for c in _WORD if c.isalpha()),
    "ascii": frozenset(chr(i) for i in range(128)),
    "blank": frozenset(" \t"),
    "cntrl": frozenset([*(chr(i) for i in range(32)), "\x7f"]),
    "digit": _DIGIT,
    "graph": frozenset(chr(i) for i in range(33, 127)),
    "lower": frozenset("abcdefghijklmnopqrstuvwxyz"),
    "print": frozenset(chr(i) for i in range(32, 127)),
    "punct": frozenset(c for c in (chr(i) for i in range(33, 127)) if not c.isalnum()),
    "space": frozenset("\t\n\v\f\r "),
    "upper": frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    "word": _WORD,
    "xdigit": frozenset("0123456789abcdefABCDEF"),
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}


@dataclass(frozen=True, slots=True)
class _CharSet:
    chars: frozenset[str] = frozenset()
    ranges: tuple[tuple[str, str], ...] = ()
    negated: bool = False
    fold: bool = False

    def match(self, c: str) -> bool:
        cands = (c, c.lower(), c.upper()) if self.fold else (c,)
        hit = any(x in self.chars or any(lo <= x <= hi for lo, hi in self.ranges) for x in cands)
        return hit != self.negated


_ANY_NL = _CharSet(negated=True)
_ANY = _CharSet(frozenset("\n"), negated=True)


def _fail(msg: str, pattern: str) -> ExpressionError:
    return ExpressionError(f"invalid regular expression {pattern!r}: {msg}")


# --- parser: pattern → small tree ------------------------------------------------------------
# ("set", _CharSet) | ("cat", [..]) | ("alt", [..]) | ("rep", node, lo, hi|None) | ("assert", k)

Tree = tuple[object, ...]


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.fold = False
        self.multiline = False
        self.dotall = False
        self.depth = 0

    def err(self, msg: str) -> ExpressionError:
        return _fail(f"{msg} at offset {self.i}", self.p)

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def parse(self) -> Tree:
        tree = self.alt()
        if self.i < len(self.p):
            raise self.err("unexpected )")
        return tree

    def alt(self) -> Tree:
        self.depth += 1
        if self.depth > 100:
            raise self.err("nested too deeply")
        branches = [self.cat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.cat())
        self.depth -= 1
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def cat(self) -> Tree:
        items: list[Tree] = []
        while self.i < len(self.p) and self.peek() not in "|)":
            atom = self.atom()
            if atom is None:
                continue
            items.append(self.quantified(atom))
        return items[0] if len(items) == 1 else ("cat", items)

    def quantified(self, atom: Tree) -> Tree:
        c = self.peek()
        if c not in ("*", "+", "?", "{"):
            return atom
        if c == "{":
            end = self.p.find("}", self.i)
            body = self.p[self.i + 1 : end] if end > 0 else ""
            lo_s, comma, hi_s = body.partition(",")
            if not lo_s.isdigit() or (hi_s and not hi_s.isdigit()):
                return atom  # a literal `{`, as in Go
            lo = int(lo_s)
            hi: int | None = int(hi_s) if hi_s else (None if comma else lo)
            if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
                raise self.err("invalid repeat count")
            self.i = end + 1
        else:
            self.i += 1
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        if self.peek() == "?":
            self.i += 1  # lazy: same answer for "does it match"
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._is_repeat()):
            raise self.err("invalid nested repetition operator")
        if atom[0] == "assert":
            return atom
        return ("rep", atom, lo, hi)

    def _is_repeat(self) -> bool:
        end = self.p.find("}", self.i)
        lo, _, hi = self.p[self.i + 1 : end].partition(",") if end > 0 else ("", "", "")
        return lo.isdigit() and (not hi or hi.isdigit())

    def charset(self, chars: frozenset[str] | str, negated: bool = False) -> Tree:
        return ("set", _CharSet(frozenset(chars), (), negated, self.fold))

    def atom(self) -> Tree | None:
        c = self.p[self.i]
        self.i += 1
        if c in "*+?":
            raise self.err("missing argument to repetition operator")
        if c == "(":
            return self.group()
        if c == "[":
            return self.klass()
        if c == ".":
            return ("set", _ANY_NL if self.dotall else _ANY)
        if c == "^":
            return ("assert", "bol" if self.multiline else "bot")
        if c == "$":
            return ("assert", "eol" if self.multiline else "eot")
        if c == "\\":
            return self.escape(in_class=False)
        return self.charset(c)

    def group(self) -> Tree | None:
        saved = (self.fold, self.multiline, self.dotall)
        if self.p.startswith("?", self.i):
            self.i += 1
            if self.p.startswith("P<", self.i) or self.p.startswith("<", self.i):
                end = self.p.find(">", self.i)
                if end < 0:
                    raise self.err("invalid named capture")
                self.i = end + 1
            else:
                flags_end = self.i
                while flags_end < len(self.p) and self.p[flags_end] in "imsU-":
                    flags_end += 1
                flags = self.p[self.i : flags_end]
                if flags_end >= len(self.p) or self.p[flags_end] not in ":)":
                    raise self.err("unsupported group (look-around and backreferences are not)")
                on, _, off = flags.partition("-")
                for f, value in [(f, True) for f in on] + [(f, False) for f in off]:
                    if f == "i":
                        self.fold = value
                    elif f == "m":
                        self.multiline = value
                    elif f == "s":
                        self.dotall = value
                self.i = flags_end + 1
                if self.p[flags_end] == ")":
                    return None  # flags for the rest of the enclosing group
        tree = self.alt()
        if self.peek() != ")":
            raise self.err("missing )")
        self.i += 1
        self.fold, self.multiline, self.dotall = saved
        return tree

    def escape(self, *, in_class: bool) -> Tree:
        if self.i >= len(self.p):
            raise self.err("trailing backslash")
        c = self.p[self.i]
        self.i += 1
        if c in "dDwWsS":
            base = {"d": _DIGIT, "w": _WORD, "s": _SPACE}[c.lower()]
            return self.charset(base, negated=c.isupper())
        if not in_class and c in "bB":
            return ("assert", "word" if c == "b" else "nonword")
        if not in_class and c == "A":
            return ("assert", "bot")
        if not in_class and c == "z":
            return ("assert", "eot")
        if c in _ESCAPES:
            return self.charset(_ESCAPES[c])
        if c == "x":
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                digits = self.p[self.i + 1 : end] if end > 0 else ""
                self.i = end + 1 if end > 0 else self.i
            else:
                digits = self.p[self.i : self.i + 2]
                self.i += 2
            try:
                code = int(digits, 16)
                return self.charset(chr(code))
            except (ValueError, OverflowError):
                raise self.err("invalid \\x escape") from None
        if c.isascii() and not c.isalnum():
            return self.charset(c)
        raise self.err(f"unsupported escape \\{c}")

    def klass(self) -> Tree:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        chars: set[str] = set()
        ranges: list[tuple[str, str]] = []
        negated_parts: list[_CharSet] = []
        first = True
        while True:
            if self.i >= len(self.p):
                raise self.err("missing ]")
            c = self.p[self.i]
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if self.p.startswith("[:", self.i):
                end = self.p.find(":]", self.i)
                name = self.p[self.i + 2 : end] if end > 0 else ""
                neg = name.startswith("^")
                cls = _POSIX.get(name.lstrip("^"))
                if cls is None:
                    raise self.err(f"invalid character class [:{name}:]")
                self.i = end + 2
                if neg:
                    negated_parts.append(_CharSet(cls, (), True))
                else:
                    chars |= cls
                continue
            self.i += 1
            lo: str
            if c == "\\":
                tree = self.escape(in_class=True)
                cs = tree[1]
                assert isinstance(cs, _CharSet)
                if cs.negated:
                    negated_parts.append(cs)
                    continue
                if len(cs.chars) != 1:
                    chars |= cs.chars
                    continue
                (lo,) = cs.chars
            else:
                lo = c
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                hc = self.p[self.i]
                self.i += 1
                if hc == "\\":
                    t = self.escape(in_class=True)
                    hs = t[1]
                    assert isinstance(hs, _CharSet)
                    if len(hs.chars) != 1 or hs.negated:
                        raise self.err("invalid range")
                    (hc,) = hs.chars
                if hc < lo:
                    raise self.err("invalid range")
                ranges.append((lo, hc))
            else:
                chars.add(lo)
        positive = _CharSet(frozenset(chars), tuple(ranges), False, self.fold)
        if not negated_parts:
            return ("set", _CharSet(positive.chars, positive.ranges, negated, self.fold))
        return ("union", [positive, *negated_parts], negated)


# --- NFA ---------------------------------------------------------------------------------------
_MATCH, _CHAR, _SPLIT, _ASSERT, _UNION = range(5)


@dataclass(slots=True)
class Program:
    kinds: list[int] = field(default_factory=list)
    args: list[object] = field(default_factory=list)
    out1: list[int] = field(default_factory=list)
    out2: list[int] = field(default_factory=list)
    start: int = 0
    match: int = 0
    cache: dict[tuple[frozenset[int], str, int], frozenset[int]] = field(default_factory=dict)

    def add(self, kind: int, arg: object = None, o1: int = -1, o2: int = -1) -> int:
        if len(self.kinds) >= MAX_STATES:
            raise ExpressionError("regular expression too large")
        self.kinds.append(kind)
        self.args.append(arg)
        self.out1.append(o1)
        self.out2.append(o2)
        return len(self.kinds) - 1

    def emit(self, t: Tree, nxt: int) -> int:
        kind = t[0]
        if kind == "set":
            return self.add(_CHAR, t[1], nxt)
        if kind == "union":
            return self.add(_UNION, (t[1], t[2]), nxt)
        if kind == "assert":
            return self.add(_ASSERT, t[1], nxt)
        if kind == "cat":
            items = t[1]
            assert isinstance(items, list)
            for item in reversed(items):
                nxt = self.emit(item, nxt)
            return nxt
        if kind == "alt":
            branches = t[1]
            assert isinstance(branches, list)
            starts = [self.emit(b, nxt) for b in branches]
            cur = starts[-1]
            for s in reversed(starts[:-1]):
                cur = self.add(_SPLIT, None, s, cur)
            return cur
        # rep
        _, body, lo, hi = t
        assert isinstance(body, tuple) and isinstance(lo, int)
        if hi is None:
            loop = self.add(_SPLIT, None, -1, nxt)
            self.out1[loop] = self.emit(body, loop)
            cur = loop
        else:
            assert isinstance(hi, int)
            cur = nxt
            for _ in range(hi - lo):
                cur = self.add(_SPLIT, None, self.emit(body, cur), nxt)
        for _ in range(lo):
            cur = self.emit(body, cur)
        return cur


def _cls(c: str) -> int:
    """Context class of a neighbouring character: 0 none, 1 word, 2 newline, 3 other."""
    if not c:
        return 0
    if c in _WORD:
        return 1
    return 2 if c == "\n" else 3


def _assert_ok(kind: object, prev: int, nxt: int) -> bool:
    if kind == "bot":
        return prev == 0
    if kind == "eot":
        return nxt == 0
    if kind == "bol":
        return prev in (0, 2)
    if kind == "eol":
        return nxt in (0, 2)
    boundary = (prev == 1) != (nxt == 1)
    return boundary if kind == "word" else not boundary


def _closure(prog: Program, states: set[int], prev: int, nxt: int) -> frozenset[int]:
    out: set[int] = set()
    seen: set[int] = set()
    stack = list(states)
    kinds, args, out1, out2 = prog.kinds, prog.args, prog.out1, prog.out2
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        k = kinds[s]
        if k == _SPLIT:
            stack.append(out1[s])
            stack.append(out2[s])
        elif k == _ASSERT:
            if _assert_ok(args[s], prev, nxt):
                stack.append(out1[s])
        else:
            out.add(s)
    return frozenset(out)


def _accepts(prog: Program, s: int, c: str) -> bool:
    k = prog.kinds[s]
    arg = prog.args[s]
    if k == _CHAR:
        assert isinstance(arg, _CharSet)
        return arg.match(c)
    if k == _UNION:
        assert isinstance(arg, tuple)
        parts, negated = arg
        return bool(any(p.match(c) for p in parts) != negated)
    return False


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> Program:
    if len(pattern) > MAX_PATTERN:
        raise ExpressionError(f"regular expression longer than {MAX_PATTERN} characters")
    try:
        tree = _Parser(pattern).parse()
    except RecursionError:
        raise _fail("nested too deeply", pattern) from None
    prog = Program()
    prog.match = prog.add(_MATCH)
    prog.start = prog.emit(tree, prog.match)
    return prog


def search(pattern: str, subject: str) -> bool:
    """True if `pattern` matches somewhere in `subject` (Go's `regexp.MatchString`)."""
    prog = compile_regex(pattern)
    if len(subject) > MAX_SUBJECT:
        raise ExpressionError(f"regular expression subject longer than {MAX_SUBJECT} characters")
    n = len(subject)
    cur = _closure(prog, {prog.start}, 0, _cls(subject[:1]))
    cache = prog.cache
    match = prog.match
    work = 0
    for i, c in enumerate(subject):
        if match in cur:
            return True
        nxt_cls = _cls(subject[i + 1]) if i + 1 < n else 0
        key = (cur, c, nxt_cls)
        nxt = cache.get(key)
        if nxt is None:
            moved = {prog.out1[s] for s in cur if _accepts(prog, s, c)}
            moved.add(prog.start)
            nxt = _closure(prog, moved, _cls(c), nxt_cls)
            work += len(cur) + len(nxt)
            if work > MAX_WORK:
                raise ExpressionError(
                    f"regular expression {pattern[:40]!r} is too expensive for this input"
                )
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = nxt
        cur = nxt
    return match in cur
