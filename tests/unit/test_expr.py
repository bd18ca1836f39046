"""The expression language: govaluate `when` semantics, expr-lang operators and functions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.errors import ExpressionError, SpecError
from engine.expr import Expression, UnresolvedReference, evaluate_bool, parse

# Argo's TestShouldExecute (workflow/controller/dag_test.go, steps_test.go).
ARGO_TRUE = [
    "foo == foo",
    "'ref/branch/master' == 'ref/branch/master'",
    "foo != bar",
    "1 == 1",
    "1 != 2",
    "1 < 2",
    "1 <= 1",
    "1/2 == 0.5",
    "a < b",
    "(foo == bar) || (foo == foo)",
    "(1 > 0) && (1 < 2)",
    "Error in (Failed, Error)",
    "!(Succeeded in (Failed, Error))",
    "true == true",
]
ARGO_FALSE = [
    "foo != foo",
    "'ref/branch/master' != 'ref/branch/master'",
    "foo == bar",
    "1 != 1",
    "1 == 2",
    "1 > 2",
    "1 <= 0",
    "1/2 != 0.5",
    "a > b",
    "(foo == bar) || (bar == foo)",
    "(1 > 0) && (11 < 2)",
    "Succeeded in (Failed, Error)",
    "!(Error in (Failed, Error))",
    "false == true",
]


@pytest.mark.parametrize("text", ARGO_TRUE)
def test_argo_should_execute_true(text: str) -> None:
    assert evaluate_bool(text, {}) is True


@pytest.mark.parametrize("text", ARGO_FALSE)
def test_argo_should_execute_false(text: str) -> None:
    assert evaluate_bool(text, {}) is False


VARS: dict[str, Any] = {
    "tasks": {
        "run-task": {"status": "Failed", "exitCode": "1", "outputs": {"result": "heads"}},
        "A": {"status": "Succeeded"},
    },
    "steps.flip-coin.outputs.result": "tails",
    "steps.flip-coin.status": "Succeeded",
    "workflow": {"status": "Failed", "parameters": {"json": '[{"value": "true"}]'}},
    "inputs": {"parameters": {"should-print": "true", "num": "2", "list": '["a","b"]'}},
    "lastRetry": {"exitCode": "2", "status": "Failed", "duration": "5", "message": "pod deleted"},
    "count": 3,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # corpus `when`s after {{}} substitution
        ("heads == heads", True),
        ("tails == heads", False),
        ("tails =~ tai", True),
        ("heads =~ tai", False),
        ("5 < 10", True),
        ('"SUCCESS" != "SUCCESS" && "SUCCESS" == "SUCCESS"', False),
        ("3 != 1 && 3 != 2", True),
        ("( heads == heads && tails == tails ) || ( heads == tails )", True),
        ("false", False),
        ("true", True),
        # our bare references
        ("tasks.run-task.phase == Failed", True),
        ("tasks.run-task.status == Failed", True),
        ("tasks.A.Succeeded", True),
        ("tasks.A.Failed", False),
        ("tasks.run-task.Errored", False),
        ("workflow.status == Failed", True),
        ('workflow.status == "Failed"', True),
        # hook expressions
        ('tasks["run-task"].status == "Failed"', True),
        ("steps['flip-coin'].outputs.result == 'tails'", True),
        ('steps["flip-coin"].status == "Succeeded"', True),
        ("steps.flip-coin.status == Succeeded", True),
        ("inputs.parameters[\"should-print\"] == 'true'", True),
        ("jsonpath(workflow.parameters.json, '$[0].value') == 'true'", True),
        # retry expression
        (
            'asInt(lastRetry.exitCode) > 1 && lastRetry.status != "Error" && '
            "asInt(lastRetry.duration) < 120 && "
            "(false == true || lastRetry.message matches 'imminent node shutdown|pod deleted')",
            True,
        ),
        ("lastRetry.message !~ 'deleted'", False),
        # numeric coercion of strings
        ('"3" < "10"', True),
        ('"1" == 1', True),
        ('"1.0" == "1"', True),
        ("inputs.parameters.num == 2", True),
        ("inputs.parameters.num < 10", True),
        ('"abc" < "abd"', True),
        ("count > 2", True),
        # bools and strings
        ('"true" == true', True),
        ("inputs.parameters.should-print == true", True),
        ('"yes" == true', False),
        ("nil == nil", True),
        ("null == nil", True),
        ('nil == ""', False),
        # in
        ('"a" in ["a", "b"]', True),
        ('"c" not in ["a", "b"]', True),
        ("2 in [1, 2]", True),
        ('"2" in [1, 2]', True),
        ('"ell" in "hello"', True),
        ('"k" in {k: 1}', True),
        ("x in (x,)", True),
        ("Error in (Failed , Error,)", True),
        # keywords
        ("not false and true", True),
        ("false or not false", True),
        ("!false", True),
        # ternary, ??
        ("1 > 2 ? false : true", True),
        ("tasks.missing.status ?? 'none' == 'none'", True),
        ("(tasks.missing.status ?? tasks.A.status) == Succeeded", True),
        # string operators
        ('"hello" contains "ell"', True),
        ('"hello" startsWith "he"', True),
        ('"hello" endsWith "lo"', True),
        ("'abc123' =~ '^[a-z]+\\d+$'", True),
    ],
)
def test_evaluate_bool(text: str, expected: bool) -> None:
    assert evaluate_bool(text, VARS) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("2 ** 10", 1024.0),
        ("2 ** 3 ** 2", 512.0),
        ("-2 ** 2", -4.0),
        ("-3 + 1", -2),
        ("- count", -3),
        ('"a" + "b"', "ab"),
        ('"1" + "2"', "12"),
        ('"x" + 1', "x1"),
        ('"2" * 3', 6),
        ("[1] + [2]", [1, 2]),
        ("1..3", [1, 2, 3]),
        ("[1, 2, 3][1]", 2),
        ("[1, 2, 3][-1]", 3),
        ("[1, 2, 3][1:]", [2, 3]),
        ("'hello'[1:3]", "el"),
        ("{a: 1, 'b c': [2]}", {"a": 1, "b c": [2]}),
        ("{a: {b: 5}}.a.b", 5),
        ("{a: 1}.missing", None),
        ("{a: 1}?.b?.c", None),
        ("nil ?? 5", 5),
        ("0 ?? 5", 0),
        ("true ? 'y' : 'n'", "y"),
        ("1 > 2 ? 'a' : 2 > 1 ? 'b' : 'c'", "b"),
        ("asInt('42') + 1", 43),
        ("asFloat('1.5') * 2", 3.0),
        ("int('7') + int(2.9)", 9),
        ("float(3)", 3.0),
        ("string(12)", "12"),
        ("string(0.5)", "0.5"),
        ("string(nil)", "<nil>"),
        ("toJson({b: [1, 'x'], a: nil})", '{"a":null,"b":[1,"x"]}'),
        ("toJSON('<&>')", '"\\u003c\\u0026\\u003e"'),
        ("fromJson('{\"a\": [1, 2]}').a[1]", 2),
        ("fromJSON('[1]')", [1]),
        ("len('abc') + len([1]) + len({a: 1})", 5),
        ("lower('AbC') + upper('x') + trim('  y  ')", "abcXy"),
        ("trim('xxhixx', 'x')", "hi"),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("join(['a', 'b'], '-')", "a-b"),
        ("join(split('a b', ' '))", "ab"),
        ("contains('hello', 'ell')", True),
        ("contains([1, 2], 2)", True),
        ("startsWith('hello', 'he') && endsWith('hello', 'lo')", True),
        ("replace('aaa', 'a', 'b')", "bbb"),
        ("filter([1, 2, 3], {# > 1})", [2, 3]),
        ("filter([1, 2, 3], # > 1)", [2, 3]),
        ("map([1, 2], {# * 10})", [10, 20]),
        ("map([{x: 1}, {x: 2}], {#.x})", [1, 2]),
        ("map([{x: 1}, {x: 2}], .x)", [1, 2]),
        ("map([5, 6], #index)", [0, 1]),
        (
            "all([1, 2], # > 0) && any([1, 2], # > 1) && none([1], # > 1) && one([1, 2], # > 1)",
            True,
        ),
        ("count([1, 2, 3], # >= 2)", 2),
        ("find([1, 2, 3], # > 1)", 2),
        ("findIndex([1, 2, 3], # > 1)", 1),
        ("[1, 2, 3] | filter(# > 1) | map(# * 2)", [4, 6]),
        ("'a,b' | split(',') | join('+')", "a+b"),
        ("get({a: 1}, 'a')", 1),
        ("get({a: 1}, 'b') ?? 'dflt'", "dflt"),
        ("get([1], 5)", None),
        ("concat([1], [2, 3])", [1, 2, 3]),
        ("keys({b: 1, a: 2})", ["a", "b"]),
        ("values({b: 1, a: 2})", [2, 1]),
        ("first([7, 8]) + last([7, 8])", 15),
        ("max(1, 5, 3) + min([4, 2])", 7),
        ("sum([1, 2, 3])", 6),
        ("abs(-2)", 2),
        ("jsonpath('{\"a\": {\"b\": [1, 2]}}', '$.a.b[1]')", 2),
        ("jsonpath('{\"a\": {\"b\": [1, 2]}}', '$.a.b[*]')", [1, 2]),
        ('jsonpath(\'{"a": {"b c": 3}}\', \'$.a["b c"]\')', 3),
        ("jsonpath('[{\"v\": 1}, {\"v\": 2}]', '$[?(@.v > 1)].v')", [2]),
        ('jsonpath(\'{"a": [{"b": 1}, {"c": {"b": 2}}]}\', \'$..b\')', [1, 2]),
        ("sprig.trim('  a ') + sprig.upper('b') + sprig.lower('C')", "aBc"),
        ("sprig.int('42') + sprig.int('x')", 42),
        ("sprig.float64('1.5')", 1.5),
        ("sprig.add(1, '2', 3.9)", 6),
        ("sprig.sub(5, 2) * sprig.mul(2, 3)", 18),
        ("sprig.div(7, 2)", 3),
        ("sprig.div(-7, 2)", -3),
        ("sprig.mod(-7, 3)", -1),
        ("sprig.toString(5)", "5"),
        ("sprig.replace('a', 'b', 'banana')", "bbnbnb"),
        ("sprig.default('d', '')", "d"),
        ("sprig.default('d', 'v')", "v"),
        ("sprig.empty('') && sprig.empty(0) && !sprig.empty([1])", True),
        ("sprig.list(1, 2)", [1, 2]),
        ("sprig.dict('a', 1, 'b', 2)", {"a": 1, "b": 2}),
        ("sprig.max(1, 9, 3) - sprig.min(4, 2)", 7),
        ("sprig.atoi('12') + sprig.atoi('1.5')", 12),
        ("sprig.toJson(sprig.list(1))", "[1]"),
        ("sprig.fromJson('{\"a\": 1}').a", 1),
        ("sprig.fromJson('nope')", None),
        ("sprig.mustFromJson('[2]')[0]", 2),
        ("sprig.contains('ell', 'hello')", True),
        ("sprig.hasPrefix('he', 'hello') && sprig.hasSuffix('lo', 'hello')", True),
        ("sprig.b64dec(sprig.b64enc('hi'))", "hi"),
        ("sprig.date('2006-01-02 15:04', '2024-03-05T07:08:09Z')", "2024-03-05 07:08"),
    ],
)
def test_evaluate_values(text: str, expected: Any) -> None:
    value = parse(text).evaluate(VARS)
    assert value == expected
    assert type(value) is type(expected)


def test_bare_words_and_references() -> None:
    assert parse("heads").evaluate({}) == "heads"
    assert parse("heads").evaluate({"heads": 5}) == 5
    assert parse("item").evaluate({"item": {"key": "v"}}) == {"key": "v"}
    assert parse("item.key").evaluate({"item": {"key": "v"}}) == "v"
    assert parse("item.key").evaluate({"item.key": "flat"}) == "flat"
    # the longest flat key wins, then the walk continues
    v = {"tasks.A": {"outputs": {"result": "nested"}}, "tasks.A.outputs.result": "flat"}
    assert parse("tasks.A.outputs.result").evaluate(v) == "flat"
    assert parse("tasks.A.outputs").evaluate(v) == {"result": "nested"}
    assert parse("items[1]").evaluate({"items": ["a", "b"]}) == "b"
    assert parse("items.1").evaluate({"items": ["a", "b"]}) == "b"
    # dashes: one word vs subtraction
    assert parse("run-task").evaluate({}) == "run-task"
    assert parse("a - b").evaluate({"a": 5, "b": 2}) == 3
    assert parse("a -b").evaluate({"a": 5, "b": 2}) == 3
    assert parse("a-b").evaluate({"a-b": 1}) == 1
    # numbers glued to letters or dots are words
    assert evaluate_bool("1.2.3 == '1.2.3'", {})
    assert evaluate_bool("3rd == '3rd'", {})


def test_unknown_reference_is_an_error() -> None:
    with pytest.raises(UnresolvedReference) as info:
        parse("tasks.X.phase == Failed").evaluate({"tasks": {}})
    assert info.value.path == "tasks.X.phase"
    assert "unknown reference tasks.X.phase" in str(info.value)
    assert "column 1" in str(info.value)
    assert isinstance(info.value, ExpressionError)
    assert isinstance(info.value, SpecError)
    with pytest.raises(UnresolvedReference):
        parse('steps["a-b"].status').evaluate({})
    # but short-circuits and ?? protect
    assert evaluate_bool("false && tasks.X.phase == Failed", {}) is False
    assert (
        parse("tasks.X.outputs.parameters.msg ?? 'expr-fallback'").evaluate({}) == "expr-fallback"
    )
    # strict bare words (expr-lang, as in {{= }})
    with pytest.raises(UnresolvedReference):
        parse("item").evaluate({}, bare_words=False)


def test_phase_alias() -> None:
    assert parse("tasks.A.phase").evaluate({"tasks": {"A": {"status": "Failed"}}}) == "Failed"
    assert parse("tasks.A.status").evaluate({"tasks.A.phase": "Failed"}) == "Failed"
    assert parse("tasks.A.phase").evaluate({"tasks.A.status": "Failed"}) == "Failed"


def test_references() -> None:
    e = parse(
        "tasks.run-task.phase == Failed && workflow.status != x && steps['flip-coin'].status"
        " && map(item.list, {#.x}) != [] && heads == tails && sprig.add(1, 2) > 0"
    )
    assert e.references() == frozenset(
        {
            "tasks.run-task.phase",
            "workflow.status",
            "steps.flip-coin.status",
            "item.list",
        }
    )
    assert parse("item").references() == {"item"}
    assert parse("inputs.parameters.x ?? 'a'").references() == {"inputs.parameters.x"}
    assert e.functions() == {"map", "sprig.add"}


def test_expression_is_immutable_and_comparable() -> None:
    e = parse("a == b")
    assert isinstance(e, Expression)
    assert e == parse("a == b")
    assert hash(e) == hash(parse("a == b"))
    assert str(e) == "a == b"
    with pytest.raises(AttributeError):
        e.source = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("", "empty expression", 1),
        ("a ==", "unexpected end of expression", 5),
        ("1 +* 2", "unexpected '*'", 4),
        ("(1 + 2", "expected ')'", 7),
        ("foo(1)", "unknown function 'foo'", 1),
        ("x == sprig.randAlphaNum(5)", "unknown function 'sprig.randAlphaNum'", 6),
        ("len(1, 2)", "len() takes 1 argument(s), got 2", 1),
        ("a == 'open", "unterminated string", 6),
        ("a $ b", "unexpected character '$'", 3),
        ("# > 1", "'#' used outside a predicate", 1),
        ("a b", "unexpected 'b'", 3),
        ("[1, 2", "expected ']'", 6),
        ("{a 1}", "expected ':'", 4),
        ("a ? b", "expected ':'", 6),
        ("99999999999999999999", "integer out of range", 1),
        ("'\\u12'", "bad escape", 2),
        ("1 | 2", "expected a function call after '|'", 5),
        ("(1)(2)", "only functions can be called", 4),
    ],
)
def test_parse_errors_name_the_column(text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    msg = str(info.value)
    assert message in msg
    assert f"column {column}" in msg
    assert "\n" not in msg


def test_multiline_error_gives_line_and_column() -> None:
    with pytest.raises(ExpressionError, match=r"line 2, column 3"):
        parse("a ==\n  )")


def test_unsubstituted_tag_hint() -> None:
    with pytest.raises(ExpressionError, match=r"unsubstituted"):
        parse("{{steps.a.outputs.result}} == heads")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 / 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("'a' - 1", "needs numbers"),
        ("'a' < 1", "cannot compare"),
        ("1 && true", "not a boolean"),
        ("!'x'", "not a boolean"),
        ("[1][5]", "out of range"),
        ("asInt('x')", "cannot convert"),
        ("asInt('1.5')", "cannot convert"),
        ("fromJson('{')", "invalid JSON"),
        ("jsonpath('{}', '$.a')", "not found"),
        ("10 ** 400", "out of range"),
        ("(-8) ** 0.5", "not a real number"),
        ("9223372036854775807 + 1", "integer overflow"),
        ("'a' =~ '('", "invalid regular expression"),
        ("'a' =~ '(?=a)'", "look-around"),
        ("'aa' =~ '(a)\\1'", "unsupported escape"),
        ("'a' =~ 'a**'", "nested repetition"),
        ("1..1000000", "range longer"),
        ("len(5)", "length"),
        ("sprig.div(1, 0)", "division by zero"),
        ("filter([1], 'x')", "not a boolean"),
    ],
)
def test_runtime_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text).evaluate({})
    assert message in str(info.value)
    assert re.search(r"column \d+", str(info.value))


def test_evaluate_bool_rejects_non_booleans() -> None:
    assert evaluate_bool("'true'", {}) is True
    assert evaluate_bool("x", {"x": "False"}) is False
    assert evaluate_bool(parse("1 < 2"), {}) is True
    for text in ("1 + 1", "heads", "nil", "[true]"):
        with pytest.raises(ExpressionError, match="not to true or false"):
            evaluate_bool(text, {})


def test_limits() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse("1 + " * 5000 + "1")
    with pytest.raises(ExpressionError, match="nested"):
        parse("(" * 100 + "1" + ")" * 100)
    with pytest.raises(ExpressionError, match="levels of operations"):
        parse("1" + " + 1" * 300)
    with pytest.raises(ExpressionError, match="nested"):
        parse("!" * 100 + "true")
    with pytest.raises(ExpressionError, match="steps"):
        parse("map(1..1000, {map(1..1000, {# + 1})})").evaluate({})
    with pytest.raises(ExpressionError, match="longer than"):
        parse("join(map(1..100000, {'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}))").evaluate({})


def test_numbers_render_like_go() -> None:
    from engine.expr import format_value

    assert format_value(8.0) == "8"
    assert format_value(35.8) == "35.8"
    assert format_value(0.1 + 0.2) == "0.30000000000000004"
    assert format_value(1e21) == "1e+21"
    assert format_value(1.5e-7) == "1.5e-7"
    assert format_value(123456789.0) == "123456789"
    assert format_value(0.000001) == "0.000001"
    assert format_value(True) == "true"
    assert format_value(None) == "null"
    assert format_value({"b": 1, "a": [1.0]}) == '{"a":[1],"b":1}'


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("tai", "tails", True),
        ("^hea", "theads", False),
        ("imminent node shutdown|pod deleted", "the pod deleted", True),
        ("^[a-z]+\\d+$", "abc123", True),
        ("^abc$", "abc\n", False),  # Go: `$` is the end of the text
        ("(?m)^b$", "a\nb\nc", True),
        ("(?i)HeLLo", "hello", True),
        ("a{2,3}", "a", False),
        ("\\bfoo\\b", "a foo b", True),
        ("\\bfoo\\b", "afoo", False),
        ("[^a-c]", "abc", False),
        ("[[:digit:]]+", "a1", True),
        ("colou?r", "color", True),
        ("(a|b)*c", "ababc", True),
        (".", "\n", False),
        ("(?s).", "\n", True),
        ("\\$\\{x\\}", "${x}", True),
        ("x*", "", True),
    ],
)
def test_regex(pattern: str, subject: str, expected: bool) -> None:
    v = {"p": pattern, "s": subject}
    assert parse("s =~ p").evaluate(v) is expected
    assert parse("s !~ p").evaluate(v) is not expected
    assert parse("s matches p").evaluate(v) is expected
    assert parse("sprig.regexMatch(p, s)").evaluate(v) is expected


@pytest.mark.parametrize(
    "pattern", [".*.*.*.*x", "(a+)+$", "(a|aa)*b", "(.*)(.*)(.*)x", "(\\w*)*!"]
)
def test_regex_runs_in_linear_time(pattern: str) -> None:
    """Patterns that make a backtracking engine (Python's `re`) hang finish at once."""
    subject = "a" * 50_000
    assert parse("s =~ p").evaluate({"s": subject, "p": pattern}) is pattern.endswith("+$")
