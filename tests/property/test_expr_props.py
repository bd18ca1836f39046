"""Property tests of the expression language: robustness, safety, round trip, arithmetic."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.errors import ExpressionError
from engine.expr import parse, parse_depends, render
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
)
from engine.expr._parser import KEYWORDS, parse_ast
from engine.expr._printer import unparse

pytestmark = pytest.mark.timeout(120)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

VARIABLES: dict[str, Any] = {
    "tasks": {"A": {"status": "Failed", "outputs": {"result": "heads"}}},
    "workflow.status": "Succeeded",
    "item": {"a": [1, 2, {"b": "c"}], "n": 3},
    "x": "5",
    "l": [1, "2", 3.5],
}

TOKENS = [
    "a", "b", "x", "l", "item", "tasks", "A", "status", "workflow", "heads", "run-task",
    "1", "0", "-1", "2.5", "1e3", "'s'", '"t"', "'(a+)+'", "true", "false", "nil",
    "==", "!=", "<", ">", "<=", ">=", "&&", "||", "!", "and", "or", "not", "in", "not in",
    "=~", "!~", "matches", "contains", "+", "-", "*", "/", "%", "**", "??", "?", ":", "?.",
    ".", ",", "(", ")", "[", "]", "{", "}", "|", "#", "#index", "..",
    "len(", "asInt(", "toJson(", "fromJson(", "jsonpath(", "filter(", "map(", "split(",
    "join(", "sprig.add(", "sprig.default(", "string(", "keys(", "get(", "'$.a[*]'", "'$..b'",
]  # fmt: skip

token_soup = st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join)
glued_soup = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join)
expr_chars = st.text(alphabet="ab1.-_ ()[]{}'\"\\=!<>&|?:#,+*/%~$@`\n", max_size=40)


def _is_plain(v: Any, depth: int = 0) -> bool:
    if depth > 50:
        return False
    if v is None or isinstance(v, bool | int | float | str):
        return True
    if isinstance(v, list):
        return all(_is_plain(x, depth + 1) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_plain(x, depth + 1) for k, x in v.items())
    return False


def _run(text: str) -> None:
    """Parse and evaluate; only ExpressionError may come out, and only plain data."""
    try:
        e = parse(text)
    except ExpressionError:
        return
    for bare in (True, False):
        try:
            value = e.evaluate(VARIABLES, bare_words=bare)
        except ExpressionError:
            continue
        assert _is_plain(value), (text, value)
    e.references()
    parse_ast(e.unparse())  # the canonical form parses too


# (1) random text never raises anything but ExpressionError -----------------------------------


@FAST
@given(st.one_of(token_soup, glued_soup, expr_chars, st.text(max_size=60)))
def test_random_text_only_raises_expression_error(text: str) -> None:
    _run(text)
    with contextlib.suppress(ExpressionError):
        parse_depends(text)
    with contextlib.suppress(ExpressionError):
        render("a{{" + text + "}}b{{=" + text + "}}c", lambda p: None if "x" in p else "1")


# (2) no input can execute code -----------------------------------------------------------------

PAYLOADS = [
    "__import__('os').system('touch {s}')",
    '__import__("os").system("touch {s}")',
    "().__class__.__bases__[0].__subclasses__()",
    "''.__class__.__mro__[1].__subclasses__()",
    "open('{s}', 'w').write('x')",
    "eval(\"__import__('os').system('touch {s}')\")",
    "exec('import os; os.system(\"touch {s}\")')",
    "compile('1', 'f', 'eval')",
    "(lambda: __import__('os').system('touch {s}'))()",
    "getattr(__builtins__, 'open')('{s}', 'w')",
    "globals()['__builtins__']",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "x.__class__",
    "l.__class__.__name__",
    "item['__class__']",
    "toJson.__globals__",
    "sprig.__dict__",
    "{{= __import__('os').system('touch {s}') }}",
    'f\'{{__import__("os").system("touch {s}")}}\'',
    "import os; os.system('touch {s}')",
]
EVIL_TOKENS = [
    "__import__", "(", ")", "'os'", ".", "system", "'touch {s}'", "__class__", "__bases__",
    "[0]", "__subclasses__", "()", "eval", "exec", "open", "lambda", ":", "getattr", "globals",
    "__builtins__", ",", "'w'", "write", "__globals__", "__dict__", "os", "import", ";", "[", "]",
]  # fmt: skip


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("expr") / "PWNED"


def _attack(text: str, sentinel: Path) -> None:
    text = text.replace("{s}", str(sentinel))
    _run(text)
    try:
        out = render(text, lambda p: "1")
        assert isinstance(out, str)
    except ExpressionError:
        pass
    assert not sentinel.exists(), text


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_do_not_execute(payload: str, sentinel: Path) -> None:
    _attack(payload, sentinel)
    _attack("{{=" + payload + "}}", sentinel)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(EVIL_TOKENS), max_size=16).map("".join))
def test_fuzzed_payloads_do_not_execute(text: str) -> None:
    sentinel = Path(os.environ.get("TMPDIR", "/tmp")) / f"exitflow-expr-pwned-{os.getpid()}"
    _attack(text, sentinel)


def test_bare_python_is_a_plain_string_or_error() -> None:
    # a bare word that happens to look like Python is only a string
    assert parse("__import__").evaluate({}) == "__import__"
    with pytest.raises(ExpressionError):
        parse("__import__('os')")
    with pytest.raises(ExpressionError):
        parse("x.__class__").evaluate({"x": "s"})


# (3) round trip: unparse then parse gives an equal AST ----------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}(-[a-z0-9]{1,3})?", fullmatch=True).filter(
    lambda s: s not in KEYWORDS
)
numbers = st.one_of(
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
literals = st.builds(Literal, st.one_of(numbers, st.text(max_size=8), st.booleans(), st.none()))
BIN_OPS = [
    "||", "&&", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "=~", "!~", "contains",
    "startsWith", "endsWith", "..", "+", "-", "*", "/", "%", "**", "??",
]  # fmt: skip


def _unary(args: tuple[str, Node]) -> Node:
    op, operand = args
    if (
        op in "-+"
        and isinstance(operand, Literal)
        and isinstance(operand.value, int | float)
        and not isinstance(operand.value, bool)
    ):
        return Unary("!", operand)  # the parser folds -<number> into a literal
    return Unary(op, operand)


def _trees(pointer: bool) -> st.SearchStrategy[Node]:
    leaves: st.SearchStrategy[Node] = st.one_of(literals, st.builds(Name, names))
    if pointer:
        leaves = st.one_of(leaves, st.sampled_from([Pointer("#"), Pointer("#index")]))

    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        keys = st.one_of(literals, children)
        return st.one_of(
            st.builds(Binary, st.sampled_from(BIN_OPS), children, children),
            st.tuples(st.sampled_from(["!", "-", "+"]), children).map(_unary),
            st.builds(Ternary, children, children, children),
            st.builds(Member, children, keys, st.booleans()),
            st.builds(Slice, children, st.none() | children, st.none() | children),
            st.builds(ArrayLit, st.lists(children, max_size=3).map(tuple)),
            st.builds(Tuple, st.lists(children, min_size=1, max_size=3).map(tuple)),
            st.builds(MapLit, st.lists(st.tuples(keys, children), max_size=3).map(tuple)),
            st.builds(
                Call,
                st.sampled_from(["len", "asInt", "toJson", "string"]),
                st.tuples(children),
            ),
            st.builds(
                Call,
                st.sampled_from(["sprig.add", "join", "get"]),
                st.tuples(children, children),
            ),
            st.builds(
                lambda name, coll, body: Call(name, (coll, Predicate(body))),
                st.sampled_from(["filter", "map", "all", "count"]),
                children,
                _trees(True) if not pointer else children,
            ),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(False))
def test_unparse_parse_round_trip(tree: Node) -> None:
    text = unparse(tree)
    assert parse_ast(text) == tree, text
    assert unparse(parse_ast(text)) == text


@FAST
@given(st.one_of(token_soup, glued_soup))
def test_canonical_form_is_stable(text: str) -> None:
    try:
        tree = parse_ast(text)
    except ExpressionError:
        return
    canonical = unparse(tree)
    assert parse_ast(canonical) == tree
    assert unparse(parse_ast(canonical)) == canonical


# (4) arithmetic matches a reference computation ----------------------------------------------

INT64 = (-(2**63), 2**63 - 1)


class Overflow(Exception):
    pass


def _ref(node: Node) -> int | float:
    """Reference semantics: int64 integers (overflow is an error), Go's truncating `%`,
    true division, IEEE floats."""
    if isinstance(node, Literal):
        assert isinstance(node.value, int | float)
        return node.value
    if isinstance(node, Unary):
        v = -_ref(node.operand)
    else:
        assert isinstance(node, Binary)
        a, b = _ref(node.left), _ref(node.right)
        if node.op == "+":
            v = a + b
        elif node.op == "-":
            v = a - b
        elif node.op == "*":
            v = a * b
        elif node.op == "/":
            if b == 0:
                raise ZeroDivisionError
            v = a / b
        else:
            if b == 0:
                raise ZeroDivisionError
            if isinstance(a, int) and isinstance(b, int):
                v = abs(a) % abs(b) * (1 if a >= 0 else -1)
            else:
                v = math.fmod(a, b)
    if isinstance(v, int) and not INT64[0] <= v <= INT64[1]:
        raise Overflow
    if isinstance(v, float) and not math.isfinite(v):
        raise Overflow
    return v


arith_leaves = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda f: f != int(f)),
).map(Literal)
arith = st.recursive(
    arith_leaves,
    lambda c: st.one_of(
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "%"]), c, c),
        st.builds(Unary, st.just("-"), c.filter(lambda n: not isinstance(n, Literal))),
    ),
    max_leaves=10,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arith)
def test_arithmetic_matches_reference(tree: Node) -> None:
    text = unparse(tree)
    try:
        expected: int | float | None = _ref(tree)
    except (ZeroDivisionError, Overflow):
        expected = None
    if expected is None:
        with pytest.raises(ExpressionError):
            parse(text).evaluate({})
        return
    got = parse(text).evaluate({})
    assert type(got) is type(expected), text
    assert got == expected, text


@FAST
@given(st.integers(-(10**15), 10**15), st.integers(-(10**15), 10**15))
def test_numeric_strings_compare_as_numbers(a: int, b: int) -> None:
    v = {"a": str(a), "b": str(b)}
    assert parse("a < b").evaluate(v) is (a < b)
    assert parse("a == b").evaluate(v) is (a == b)
    assert parse(f'"{a}" >= "{b}"').evaluate({}) is (a >= b)


@FAST
@given(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.from_regex(r"[a-z]{1,6}", fullmatch=True))
def test_bare_words_compare_as_strings(a: str, b: str) -> None:
    assume(a not in KEYWORDS and b not in KEYWORDS)
    assert parse(f"{a} < {b}").evaluate({}) is (a < b)
    assert parse(f"{a} == {b}").evaluate({}) is (a == b)


# (5) the linear-time regex engine agrees with Python's `re` where their syntax agrees ---------

regex_atoms = st.sampled_from(["a", "b", "c", ".", "[ab]", "[^a]", "\\d", "\\w", "\\s", "1", " "])


def _regex_tree(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, children).map("".join),
        st.tuples(children, children).map(lambda t: f"(?:{t[0]}|{t[1]})"),
        st.tuples(children, st.sampled_from(["*", "+", "?", "{2}", "{1,3}", "*?"])).map(
            lambda t: f"(?:{t[0]}){t[1]}"
        ),
        children.map(lambda c: f"({c})"),
    )


regexes = st.tuples(
    st.sampled_from(["", "^", "\\b"]),
    st.recursive(regex_atoms, _regex_tree, max_leaves=8),
    st.sampled_from(["", "$", "\\b"]),
).map("".join)


@settings(max_examples=400, deadline=None)
@given(regexes, st.text(alphabet="abc1 _-", max_size=20))
def test_regex_agrees_with_python_re(pattern: str, subject: str) -> None:
    import re

    from engine.expr._regex import search

    assert search(pattern, subject) is (re.search(pattern, subject) is not None), pattern
