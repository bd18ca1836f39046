"""Pratt parser: tokens → AST. Every error is an ExpressionError naming the column.

Binding powers (higher binds tighter), after expr-lang:
    |  (pipe)          1      a | f(b)  ==  f(a, b)
    ? :                2      right-associative
    || or             10
    && and            15
    == != < > <= >= in  not in  =~ !~ matches contains startsWith endsWith   20
    ..                25
    + -               30
    ! not (prefix)    50
    * / %             60
    - + (prefix)      90
    **               100      right-associative
    ??               500
    . ?. [] ()       postfix
"""

from __future__ import annotations

import functools

from engine.errors import ExpressionError
from engine.expr._ast import (
    ArrayLit,
    Binary,
    Call,
    Literal,
    MapLit,
    Member,
    Name,
    Node,
    Pointer,
    Predicate,
    Slice,
    Ternary,
    Tuple,
    Unary,
    height,
)
from engine.expr._errors import error_at
from engine.expr._functions import FUNCTIONS
from engine.expr._lexer import Token, tokenize

__all__ = ["KEYWORDS", "MAX_HEIGHT", "MAX_LENGTH", "MAX_NESTING", "parse_ast"]

MAX_LENGTH = 10_000
MAX_NESTING = 64
MAX_HEIGHT = 200

_PIPE = 1
_TERNARY = 2
_NOT = 50
_NEG = 90

_BINARY: dict[str, tuple[int, bool]] = {
    "||": (10, False),
    "&&": (15, False),
    "==": (20, False),
    "!=": (20, False),
    "<": (20, False),
    ">": (20, False),
    "<=": (20, False),
    ">=": (20, False),
    "in": (20, False),
    "not in": (20, False),
    "=~": (20, False),
    "!~": (20, False),
    "contains": (20, False),
    "startsWith": (20, False),
    "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False),
    "-": (30, False),
    "*": (60, False),
    "/": (60, False),
    "%": (60, False),
    "**": (100, True),
    "??": (500, False),
}
_WORD_OPS = {
    "or": "||",
    "and": "&&",
    "in": "in",
    "matches": "=~",
    "contains": "contains",
    "startsWith": "startsWith",
    "endsWith": "endsWith",
}
#: Words that are never names.
KEYWORDS = frozenset({"true", "false", "nil", "null", "and", "or", "not", "in"})
_POINTERS = frozenset({"#", "#index"})


def _describe(tok: Token) -> str:
    if tok.kind == "eof":
        return "end of expression"
    text = tok.text if len(tok.text) <= 30 else tok.text[:27] + "..."
    return repr(text)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0
        self.predicates = 0

    # --- helpers ------------------------------------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def is_op(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.text == text

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.peek()
        return error_at(message, self.source, tok.pos)

    def expect(self, text: str) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.text == text:
            return self.next()
        raise self.error(f"expected {text!r} but found {_describe(tok)}", tok)

    # --- grammar ------------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.peek().kind == "eof":
            raise self.error("empty expression")
        node = self.expr(0)
        tok = self.peek()
        if tok.kind != "eof":
            raise self.error(f"unexpected {_describe(tok)}", tok)
        return node

    def infix(self) -> tuple[str, int] | None:
        """The binary operator at the current token (and how many tokens it spans), if any."""
        tok = self.peek()
        if tok.kind == "op" and tok.text in _BINARY:
            return tok.text, 1
        if tok.kind == "word":
            if tok.text in _WORD_OPS:
                return _WORD_OPS[tok.text], 1
            nxt = self.peek(1)
            if tok.text == "not" and nxt.kind == "word" and nxt.text == "in":
                return "not in", 2
        return None

    def expr(self, min_bp: int) -> Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"expression nested more than {MAX_NESTING} levels")
        try:
            left = self.prefix()
            while True:
                tok = self.peek()
                if tok.kind == "op" and tok.text == "?":
                    if min_bp > _TERNARY:
                        break
                    self.next()
                    then = self.expr(0)
                    self.expect(":")
                    otherwise = self.expr(_TERNARY)
                    left = Ternary(left, then, otherwise, pos=tok.pos)
                    continue
                if tok.kind == "op" and tok.text == "|":
                    if min_bp > _PIPE:
                        break
                    self.next()
                    left = self.pipe(left, tok)
                    continue
                found = self.infix()
                if found is None:
                    break
                op, width = found
                bp, right_assoc = _BINARY[op]
                if bp < min_bp:
                    break
                for _ in range(width):
                    self.next()
                right = self.expr(bp if right_assoc else bp + 1)
                left = Binary(op, left, right, pos=tok.pos)
            return left
        finally:
            self.depth -= 1

    def prefix(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            assert isinstance(tok.value, int | float)
            return self.postfix(Literal(tok.value, pos=tok.pos))
        if tok.kind in ("str", "bare"):
            return self.postfix(Literal(tok.value, pos=tok.pos))
        if tok.kind == "hash":
            if tok.text not in _POINTERS:
                raise self.error(f"unknown placeholder {tok.text!r}", tok)
            if not self.predicates:
                raise self.error(f"{tok.text!r} used outside a predicate", tok)
            return self.postfix(Pointer(tok.text, pos=tok.pos))
        if tok.kind == "word":
            w = tok.text
            if w in ("true", "false"):
                return self.postfix(Literal(w == "true", pos=tok.pos))
            if w in ("nil", "null"):
                return self.postfix(Literal(None, pos=tok.pos))
            if w == "not":
                return Unary("!", self.expr(_NOT), pos=tok.pos)
            if w in KEYWORDS:
                raise self.error(f"unexpected {_describe(tok)}", tok)
            return self.postfix(Name(w, pos=tok.pos))
        if tok.kind == "op":
            op = tok.text
            if op == "!":
                return Unary("!", self.expr(_NOT), pos=tok.pos)
            if op in ("-", "+"):
                operand = self.expr(_NEG)
                if (
                    isinstance(operand, Literal)
                    and isinstance(operand.value, int | float)
                    and not isinstance(operand.value, bool)
                ):
                    value = -operand.value if op == "-" else operand.value
                    return Literal(value, pos=tok.pos)
                return Unary(op, operand, pos=tok.pos)
            if op == "(":
                return self.postfix(self.paren(tok))
            if op == "[":
                items = self.sequence("]")
                return self.postfix(ArrayLit(tuple(items), pos=tok.pos))
            if op == "{":
                return self.postfix(self.map_literal(tok))
            if op == "." and self.predicates and self.peek().kind == "word":
                name = self.next()
                node = Member(
                    Pointer("#", pos=tok.pos), Literal(name.text, pos=name.pos), pos=tok.pos
                )
                return self.postfix(node)
        raise self.error(f"unexpected {_describe(tok)}", tok)

    def paren(self, open_tok: Token) -> Node:
        if self.is_op(")"):
            raise self.error("empty parentheses")
        first = self.expr(0)
        if not self.is_op(","):
            self.expect(")")
            return first
        items = [first]
        while self.is_op(","):
            self.next()
            if self.is_op(")"):
                break
            items.append(self.expr(0))
        self.expect(")")
        return Tuple(tuple(items), pos=open_tok.pos)

    def sequence(self, close: str) -> list[Node]:
        items: list[Node] = []
        while not self.is_op(close):
            items.append(self.expr(0))
            if not self.is_op(","):
                break
            self.next()
        self.expect(close)
        return items

    def map_literal(self, open_tok: Token) -> MapLit:
        items: list[tuple[Node, Node]] = []
        while not self.is_op("}"):
            tok = self.next()
            key: Node
            if tok.kind in ("word", "str", "bare"):
                key = Literal(tok.value if tok.kind != "word" else tok.text, pos=tok.pos)
            elif tok.kind == "num":
                assert isinstance(tok.value, int | float)
                key = Literal(tok.value, pos=tok.pos)
            elif tok.kind == "op" and tok.text == "(":
                key = self.expr(0)
                self.expect(")")
            else:
                raise self.error(f"expected a map key but found {_describe(tok)}", tok)
            self.expect(":")
            items.append((key, self.expr(0)))
            if not self.is_op(","):
                break
            self.next()
        self.expect("}")
        return MapLit(tuple(items), pos=open_tok.pos)

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.kind != "op":
                return node
            if tok.text in (".", "?."):
                self.next()
                optional = tok.text == "?."
                if optional and self.is_op("["):
                    self.next()
                    node = self.index(node, optional=True)
                    continue
                name = self.next()
                if name.kind != "word":
                    raise self.error(f"expected a name after {tok.text!r}", name)
                node = Member(node, Literal(name.text, pos=name.pos), optional, pos=node_pos(node))
            elif tok.text == "[":
                self.next()
                node = self.index(node, optional=False)
            elif tok.text == "(":
                fname = dotted_name(node)
                if fname is None:
                    raise self.error("only functions can be called", tok)
                self.next()
                node = self.call(fname, [], node_pos(node), tok)
            else:
                return node

    def index(self, obj: Node, *, optional: bool) -> Node:
        pos = node_pos(obj)
        lo: Node | None = None
        if not self.is_op(":"):
            lo = self.expr(0)
            if not self.is_op(":"):
                self.expect("]")
                return Member(obj, lo, optional, pos=pos)
        self.expect(":")
        hi = None if self.is_op("]") else self.expr(0)
        self.expect("]")
        return Slice(obj, lo, hi, pos=pos)

    def call(self, name: str, args: list[Node], pos: int, at: Token) -> Call:
        spec = FUNCTIONS.get(name)
        if spec is None:
            raise error_at(f"unknown function {name!r}", self.source, pos)
        while not self.is_op(")"):
            if spec.predicate and len(args) == 1:
                args.append(self.predicate())
            else:
                args.append(self.expr(0))
            if not self.is_op(","):
                break
            self.next()
        self.expect(")")
        n = len(args)
        if n < spec.min_args or (spec.max_args is not None and n > spec.max_args):
            want = (
                str(spec.min_args)
                if spec.min_args == spec.max_args
                else f"at least {spec.min_args}"
                if spec.max_args is None
                else f"{spec.min_args} to {spec.max_args}"
            )
            raise error_at(f"{name}() takes {want} argument(s), got {n}", self.source, pos)
        return Call(name, tuple(args), pos=pos)

    def predicate(self) -> Predicate:
        tok = self.peek()
        self.predicates += 1
        try:
            if tok.kind == "op" and tok.text == "{":
                self.next()
                body = self.expr(0)
                self.expect("}")
            else:
                body = self.expr(0)
        finally:
            self.predicates -= 1
        return Predicate(body, pos=tok.pos)

    def pipe(self, left: Node, bar: Token) -> Node:
        tok = self.next()
        if tok.kind != "word" or tok.text in KEYWORDS:
            raise self.error(f"expected a function call after '|' but found {_describe(tok)}", tok)
        name = tok.text
        while self.is_op(".") and self.peek(1).kind == "word":
            self.next()
            name += "." + self.next().text
        self.expect("(")
        return self.call(name, [left], tok.pos, bar)


def node_pos(node: Node) -> int:
    return node.pos


def dotted_name(node: Node) -> str | None:
    """`sprig.add` for Member(Name('sprig'), 'add'); None unless a plain dotted name."""
    if isinstance(node, Name):
        return node.name
    if (
        isinstance(node, Member)
        and not node.optional
        and isinstance(node.key, Literal)
        and isinstance(node.key.value, str)
    ):
        head = dotted_name(node.obj)
        return None if head is None else f"{head}.{node.key.value}"
    return None


@functools.lru_cache(maxsize=2048)
def parse_ast(source: str) -> Node:
    """Parse `source` into an AST; ExpressionError (with the column) if it is not valid."""
    if not isinstance(source, str):
        raise ExpressionError(f"expression must be a string, not {type(source).__name__}")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        node = _Parser(source).parse()
    except RecursionError:
        raise ExpressionError("expression nested too deeply") from None
    if height(node) > MAX_HEIGHT:
        raise ExpressionError(f"expression has more than {MAX_HEIGHT} levels of operations")
    return node
