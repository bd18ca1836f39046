"""Small helpers the controller needs: template kinds, durations, parameters, names, JSON."""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Mapping

import msgspec

from engine.errors import ParameterError, SpecError
from engine.spec.model import TEMPLATE_KINDS, Template, Workflow

__all__ = [
    "NAME_ALPHABET",
    "dump_json",
    "effective_parameters",
    "generate_name",
    "parse_duration",
    "template_kind",
    "template_kinds",
]

# encode names of the template-kind fields -> attribute names
_KIND_ATTRS: dict[str, str] = {
    f.encode_name: f.name
    for f in msgspec.structs.fields(Template)
    if f.encode_name in TEMPLATE_KINDS
}


def template_kinds(t: Template) -> list[str]:
    """Every kind set on `t` (normally exactly one), in `TEMPLATE_KINDS` order."""
    return [k for k in TEMPLATE_KINDS if getattr(t, _KIND_ATTRS[k]) is not None]


def template_kind(t: Template) -> str:
    """ "container" | "script" | "steps" | "dag" | "resource" | "suspend" | "containerSet" |
    "http" | "data" | "plugin"; SpecError if none or several are set."""
    kinds = template_kinds(t)
    if len(kinds) != 1:
        raise SpecError(_kind_problem(t, kinds))
    return kinds[0]


def _kind_problem(t: Template, kinds: list[str]) -> str:
    who = f"template {t.name!r}" if t.name else "inline template"
    if not kinds:
        return f"{who} has no type: set one of {', '.join(TEMPLATE_KINDS)}"
    return f"{who} has several types ({', '.join(kinds)}): set exactly one"


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_duration(value: str | int | float) -> float:
    """Seconds in an Argo/Go duration: "10s", "1m", "2h", "1h30m", "1.5h", "300ms"; a plain
    number (int, float or numeric string such as "30") is seconds. Negative values, an empty
    string or garbage raise SpecError."""
    if isinstance(value, bool):
        raise SpecError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _parse_go_duration(text, value)
    if not seconds >= 0 or seconds == float("inf"):
        raise SpecError(f"invalid duration {value!r}: must be a non-negative finite number")
    return seconds


def _parse_go_duration(text: str, original: str) -> float:
    pos, total = 0, 0.0
    if not text:
        raise SpecError("invalid duration '': empty")
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if m is None:
            raise SpecError(f'invalid duration {original!r}: use e.g. 30, "10s", "1m", "1h30m"')
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    return total


def effective_parameters(
    wf: Workflow, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Workflow parameters (`spec.arguments.parameters`) with `-p` overrides applied.

    ParameterError (one line) for an override that is not declared, a parameter left without a
    value, or a value outside the parameter's `enum`. Order: declaration order.
    """
    overrides = dict(overrides or {})
    declared = {p.name: p for p in wf.spec.arguments.parameters}
    undeclared = [k for k in overrides if k not in declared]
    if undeclared:
        names = ", ".join(repr(k) for k in undeclared)
        known = ", ".join(repr(k) for k in declared) or "none"
        raise ParameterError(
            f"undeclared parameter{'s' if len(undeclared) > 1 else ''} {names}:"
            f" spec.arguments.parameters declares {known}"
        )
    out: dict[str, str] = {}
    for name, p in declared.items():
        if name in overrides:
            value = overrides[name]
        elif p.value is not None:
            value = p.value
        elif p.value_from is not None and p.value_from.default is not None:
            value = p.value_from.default
        else:
            raise ParameterError(
                f"parameter {name!r} has no value: set spec.arguments.parameters value or pass"
                f" -p {name}=VALUE"
            )
        if p.enum and value not in p.enum:
            raise ParameterError(
                f"parameter {name!r}: value {value!r} is not one of"
                f" {', '.join(repr(e) for e in p.enum)}"
            )
        out[name] = value
    return out


#: Kubernetes' name-generator alphabet (lowercase consonants and digits; no vowels, no 0/1/3).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def generate_name(wf: Workflow, *, rng: random.Random | None = None) -> str:
    """`metadata.name`, else `metadata.generateName` + 5 random lowercase alphanumerics."""
    if wf.metadata.name:
        return wf.metadata.name
    prefix = wf.metadata.generate_name
    if not prefix:
        raise SpecError(
            "metadata.name or metadata.generateName is required",
            path="$.metadata",
            line=wf.line_of("$.metadata"),
            source=wf.source,
        )
    choice = rng.choice if rng is not None else secrets.choice
    return prefix + "".join(choice(NAME_ALPHABET) for _ in range(5))


_ENCODER = msgspec.json.Encoder()


def dump_json(wf: Workflow) -> bytes:
    """Compact camelCase JSON of the workflow (defaults omitted); `load_json` reads it back."""
    return _ENCODER.encode(wf)
