"""The expression language: govaluate-style `when` and expr-lang `{{= }}`, hook and retry
`expression`s, in one lexer, Pratt parser and evaluator (no eval/exec anywhere); `{{ }}`
templating; and the DAG `depends` language (`engine.expr.depends`)."""

from engine.errors import ExpressionError as ExpressionError
from engine.expr._errors import UnresolvedReference as UnresolvedReference
from engine.expr._expression import Expression as Expression
from engine.expr._expression import evaluate_bool as evaluate_bool
from engine.expr._expression import parse as parse
from engine.expr._template import format_value as format_value
from engine.expr._template import render as render
from engine.expr._template import template_references as template_references
from engine.expr._template import validate_template as validate_template
from engine.expr.depends import DependsExpr as DependsExpr
from engine.expr.depends import NodeInfo as NodeInfo
from engine.expr.depends import NodeStatus as NodeStatus
from engine.expr.depends import dependencies_to_depends as dependencies_to_depends
from engine.expr.depends import parse_depends as parse_depends

__all__ = [
    "DependsExpr",
    "Expression",
    "ExpressionError",
    "NodeInfo",
    "NodeStatus",
    "UnresolvedReference",
    "dependencies_to_depends",
    "evaluate_bool",
    "format_value",
    "parse",
    "parse_depends",
    "render",
    "template_references",
    "validate_template",
]
