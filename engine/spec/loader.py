"""Loading workflows from YAML or JSON with one-line errors that carry a file line and a JSON path.

YAML is parsed once with PyYAML (libyaml's CSafeLoader when available): the node tree gives line
numbers, the constructed Python data is converted with `msgspec.convert(data, Workflow)`. The node
tree is kept (through a closure) so that `Workflow.line_of("$.spec.templates[1].name")` can map
any JSON path, including those validation reports, to a line.

Differences from plain `yaml.safe_load`, to behave like Argo's YAML reader:
- unquoted timestamps stay strings (`2024-01-01` is not turned into a `date`);
- a duplicate mapping key is an error (PyYAML silently keeps the last one);
- parameter values (`value`, `default`, `enum`, `valueFrom.default`) written as YAML numbers or
  booleans become strings (bool -> "true"/"false"), as Argo's `AnyString` does;
- before anything is built, the text is checked against the parse limits (`engine.limits`): its
  size, its nesting depth and the nodes its aliases would add, measured on the parser's event
  stream (linear in the text), so an alias bomb or a 10^4-deep nesting is one SpecError, never a
  hang or a RecursionError.
"""

from __future__ import annotations

import functools
import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import yaml  # type: ignore[import-untyped,unused-ignore]

from engine.errors import SpecError
from engine.limits import SPEC_BYTES, YAML_ALIAS_NODES, YAML_DEPTH
from engine.spec.model import API_VERSION, KIND, Workflow

__all__ = ["load_file", "load_json", "load_obj", "load_text", "read_object", "read_objects"]

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if available


class _Loader(_BaseLoader):  # type: ignore[misc]
    """Safe loader without the timestamp resolver."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}

# --------------------------------------------------------------------------- paths

_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[\.\.\.\]|\[(\"(?:[^\"\\]|\\.)*\")\]")

#: A parsed path segment: a mapping key (str), a list index (int) or msgspec's `[...]` (None).
Segment = str | int | None


def split_path(path: str) -> list[Segment]:
    """Split `$.a.b[0][...]["x.y"]` into ["a", "b", 0, None, "x.y"] (drops unparseable tails)."""
    if not path.startswith("$"):
        return []
    out: list[Segment] = []
    pos = 1
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None:
            break
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        elif m.group(3) is not None:
            out.append(str(msgspec.json.decode(m.group(3))))
        else:
            out.append(None)
        pos = m.end()
    return out


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def join_path(segments: list[Segment]) -> str:
    """Inverse of split_path; keys that are not plain names are written `["k.e.y"]`."""
    parts = ["$"]
    for s in segments:
        if s is None:
            parts.append("[...]")
        elif isinstance(s, int):
            parts.append(f"[{s}]")
        elif _PLAIN_KEY.fullmatch(s):
            parts.append(f".{s}")
        else:
            parts.append("[" + msgspec.json.encode(s).decode() + "]")
    return "".join(parts)


def _node_line(root: yaml.Node, segments: list[Segment]) -> int:
    """1-based line of the node at `segments` (or its deepest existing ancestor).

    A trailing key that is absent from its mapping maps to the mapping; a key segment's line is
    the line of its value, except for scalar-less values where the key line is more useful.
    """
    node = root
    line = int(node.start_mark.line) + 1
    for seg in segments:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(seg, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == seg:
                    nxt = v
                    line = int(k.start_mark.line) + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(seg, int)
            and 0 <= seg < len(node.value)
        ):
            nxt = node.value[seg]
            line = int(nxt.start_mark.line) + 1
        if nxt is None:
            return line
        node = nxt
        if isinstance(node, yaml.ScalarNode):
            line = int(node.start_mark.line) + 1
    return line


# --------------------------------------------------------------------------- resolving `[...]`


def _unwrap(tp: Any) -> list[Any]:
    """The non-None members of a union type (or [tp])."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return [tp]


def _step_type(tp: Any, seg: Segment) -> Any:
    """The type one segment below `tp`: a struct field, list item or dict value (None: unknown)."""
    for t in _unwrap(tp):
        origin = typing.get_origin(t)
        args = typing.get_args(t)
        if isinstance(seg, int):
            if origin is list and args:
                return args[0]
        elif origin is dict and len(args) == 2:
            return args[1]
        elif isinstance(seg, str) and isinstance(t, type) and issubclass(t, msgspec.Struct):
            hints = typing.get_type_hints(t)
            for f in msgspec.structs.fields(t):
                if f.encode_name == seg:
                    return hints[f.name]
    return None


def _resolve_ellipsis(data: Any, segments: list[Segment]) -> list[Segment]:
    """Replace msgspec's `[...]` (an unnamed dict key) by the first key whose value fails."""
    out: list[Segment] = []
    tp: Any = Workflow
    cur: Any = data
    for i, seg in enumerate(segments):
        if seg is None:
            vtype = _step_type(tp, None)
            found: str | None = None
            if isinstance(cur, dict) and vtype is not None:
                for k, v in cur.items():
                    try:
                        msgspec.convert(v, vtype)
                    except msgspec.ValidationError:
                        found = k if isinstance(k, str) else None
                        break
            if found is None:
                return out + segments[i:]
            seg = found
        out.append(seg)
        tp = _step_type(tp, seg)
        if isinstance(cur, dict) and isinstance(seg, str):
            cur = cur.get(seg)
        elif isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur):
            cur = cur[seg]
        else:
            cur = None
    return out


# --------------------------------------------------------------------------- normalising


def _scalar_str(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return v


def _normalise_params(params: Any) -> None:
    if not isinstance(params, list):
        return
    for p in params:
        if not isinstance(p, dict):
            continue
        for key in ("value", "default"):
            if key in p:
                p[key] = _scalar_str(p[key])
        if isinstance(p.get("enum"), list):
            p["enum"] = [_scalar_str(e) for e in p["enum"]]
        vf = p.get("valueFrom")
        if isinstance(vf, dict) and "default" in vf:
            vf["default"] = _scalar_str(vf["default"])


_SKIP_KEYS = frozenset({"status", "withItems", "resource", "metrics", "http", "data", "plugin"})


def _normalise(obj: Any) -> None:
    """Make parsed data look like what Argo's Go decoder sees, in place.

    - a mapping key whose value is null is dropped (Go: null == absent), so `parameters:`
      with nothing after it is an empty list rather than a type error;
    - scalar parameter values become strings (only under `parameters` lists).
    Raw values (`status`, `withItems`, resource manifests, ...) are left alone.
    """
    if isinstance(obj, dict):
        for k in [k for k, v in obj.items() if v is None]:
            del obj[k]
        for k, v in obj.items():
            if k in _SKIP_KEYS:
                continue
            if k == "parameters":
                _normalise_params(v)
            _normalise(v)
    elif isinstance(obj, list):
        for v in obj:
            _normalise(v)


# --------------------------------------------------------------------------- errors

_MSGSPEC_ERROR = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.S)
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]*)`")


def _one_line(s: str) -> str:
    return " ".join(s.split())


def _quote(msg: str) -> str:
    return re.sub(r"`([^`]*)`", r'"\1"', msg)


def _conversion_error(
    err: msgspec.ValidationError,
    data: Any,
    locate: Callable[[str], int | None],
    key_line: Callable[[list[Segment], str], int | None],
    source: str | None,
) -> SpecError:
    m = _MSGSPEC_ERROR.match(str(err))
    msg = m.group("msg") if m else str(err)
    path = m.group("path") if m and m.group("path") else "$"
    segments = split_path(path)
    if None in segments:
        segments = _resolve_ellipsis(data, segments)
        path = join_path(segments)
    unknown = _UNKNOWN_FIELD.match(msg)
    line = key_line(segments, unknown.group(1)) if unknown else locate(path)
    return SpecError(_one_line(_quote(msg)), path=path, line=line, source=source)


# --------------------------------------------------------------------------- public API


def load_obj(
    data: Any,
    *,
    source: str | None = None,
    locate: Callable[[str], int | None] | None = None,
) -> Workflow:
    """Convert already-parsed data (dicts/lists/scalars; modified in place) into a Workflow.

    Checks `apiVersion` and `kind`. `locate` maps a JSON path to a line (for error messages and
    `Workflow.line_of`).
    """

    def no_line(_path: str) -> int | None:
        return None

    loc = locate or no_line

    def key_line(segments: list[Segment], key: str) -> int | None:
        return loc(join_path([*segments, key]))

    if not isinstance(data, dict):
        kind = "nothing" if data is None else type(data).__name__
        raise SpecError(
            f"expected a Workflow object, got {kind}", path="$", line=loc("$"), source=source
        )
    _check_header(data, loc, source)
    _normalise(data)
    try:
        wf = msgspec.convert(data, Workflow)
    except msgspec.ValidationError as e:
        raise _conversion_error(e, data, loc, key_line, source) from None
    wf._set_origin(source, locate)
    return wf


def _check_header(
    data: dict[str, Any], loc: Callable[[str], int | None], source: str | None
) -> None:
    kind = data.get("kind")
    if kind != KIND:
        raise SpecError(
            f"kind must be {KIND!r}, got {kind!r}", path="$.kind", line=loc("$.kind"), source=source
        )
    api = data.get("apiVersion")
    if api != API_VERSION:
        raise SpecError(
            f"apiVersion must be {API_VERSION!r}, got {api!r}",
            path="$.apiVersion",
            line=loc("$.apiVersion"),
            source=source,
        )


def _check_limits(text: str, source: str) -> None:
    """SpecError if the text is too large, nests too deep or its aliases expand too far.

    Walks parser events only (nothing is built): each anchor's expanded size and height are
    recorded when it closes, and each alias adds its anchor's figures. Syntax errors are left to
    `_documents`, which reports them with their line."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > SPEC_BYTES.value():
        raise SpecError(SPEC_BYTES.exceeded(f"{size} bytes"), source=source)
    max_depth, max_added = YAML_DEPTH.value(), YAML_ALIAS_NODES.value()
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)
    stack: list[list[Any]] = []  # open collections: [anchor, nodes, height]
    added = 0

    def close(nodes: int, height: int) -> None:
        if stack:
            stack[-1][1] += nodes
            stack[-1][2] = max(stack[-1][2], height + 1)

    loader = _Loader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) + 1 > max_depth:
                    raise SpecError(YAML_DEPTH.exceeded(f"nested more than {max_depth} deep"),
                                    line=line, source=source)
                stack.append([event.anchor, 1, 1])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                anchor, nodes, height = stack.pop()
                if anchor is not None:
                    sizes[anchor] = (nodes, height)
                close(nodes, height)
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor is not None:
                    sizes[event.anchor] = (1, 0)
                close(1, 0)
            elif isinstance(event, yaml.AliasEvent):
                if event.anchor not in sizes:
                    raise SpecError(f"YAML alias *{event.anchor} refers to a node that contains"
                                    " it (a recursive alias)", line=line, source=source)
                nodes, height = sizes[event.anchor]
                added += nodes
                if added > max_added:
                    raise SpecError(YAML_ALIAS_NODES.exceeded(
                        f"aliases expand to more than {max_added} nodes"), line=line,
                        source=source)
                if len(stack) + height > max_depth:
                    raise SpecError(YAML_DEPTH.exceeded(
                        f"alias *{event.anchor} nests more than {max_depth} deep"),
                        line=line, source=source)
                close(nodes, height)
            elif isinstance(event, yaml.DocumentEndEvent):
                sizes.clear()  # anchors are per document
    except yaml.MarkedYAMLError as e:
        if "maximum nesting depth" in str(e.problem or ""):
            # libyaml (PyYAML >= 6.0.3) scans a flow collection ahead and refuses 1,000 levels
            # before the first event reaches the check above: the same limit, said the same way.
            mark = e.problem_mark
            found = (f"nested more than {max_depth} deep" if max_depth < 1000
                     else "nested deeper than libyaml allows (1000)")
            raise SpecError(YAML_DEPTH.exceeded(found),
                            line=mark.line + 1 if mark is not None else None,
                            source=source) from None
        return  # `_documents` reports it with its line
    except yaml.YAMLError:
        return  # `_documents` reports it with its line
    finally:
        loader.dispose()


def _documents(text: str, source: str) -> Iterator[yaml.Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        col = f" (column {mark.column + 1})" if mark is not None else ""
        problem = " ".join(p for p in (e.context, e.problem) if p)
        raise SpecError(
            _one_line(f"invalid YAML{col}: {problem or 'syntax error'}"), line=line, source=source
        ) from None
    except yaml.YAMLError as e:
        raise SpecError(_one_line(f"invalid YAML: {e}"), source=source) from None
    finally:
        loader.dispose()


def _construct(node: yaml.Node, source: str) -> Any:
    _check_duplicate_keys(node, source)
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SpecError(
            _one_line(f"invalid YAML: {getattr(e, 'problem', None) or e}"),
            line=mark.line + 1 if mark is not None else None,
            source=source,
        ) from None
    finally:
        loader.dispose()


def _check_duplicate_keys(root: yaml.Node, source: str) -> None:
    stack: list[tuple[yaml.Node, list[Segment]]] = [(root, [])]
    seen_nodes: set[int] = set()
    while stack:
        node, segs = stack.pop()
        if id(node) in seen_nodes:  # YAML aliases may share nodes
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    if k.value in keys and k.value != "<<":
                        raise SpecError(
                            f"duplicate key {k.value!r}",
                            path=join_path(segs),
                            line=k.start_mark.line + 1,
                            source=source,
                        )
                    keys.add(k.value)
                    stack.append((v, [*segs, k.value]))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, [*segs, i]) for i, v in enumerate(node.value))


def _kind_of(node: yaml.Node) -> str | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if (
                isinstance(k, yaml.ScalarNode)
                and k.value == "kind"
                and isinstance(v, yaml.ScalarNode)
            ):
                return str(v.value)
    return None


def load_text(text: str, *, source: str = "<string>") -> Workflow:
    """Parse YAML (or JSON) text into a Workflow; raise SpecError with line and path.

    With several documents, the first one of `kind: Workflow` is used (else the first one, which
    then fails the kind check). The result remembers `source` and its line map (`line_of`).
    """
    _check_limits(text, source)
    nodes = list(_documents(text, source))
    if not nodes:
        raise SpecError("no YAML document found", source=source)
    node = next((n for n in nodes if _kind_of(n) == KIND), nodes[0])
    data = _construct(node, source)

    def locate(path: str) -> int | None:
        return _node_line(node, split_path(path))

    return load_obj(data, source=source, locate=locate)


def read_objects(
    text: str, *, source: str
) -> list[tuple[Any, Callable[[str], int | None]]]:
    """Every YAML document as plain data (duplicate keys refused), each with its JSON path ->
    line function."""
    out: list[tuple[Any, Callable[[str], int | None]]] = []
    for node in _documents(text, source):
        out.append((_construct(node, source), functools.partial(_locate, node)))
    return out


def _locate(node: yaml.Node, path: str) -> int | None:
    return _node_line(node, split_path(path))


def read_object(
    text: str, *, source: str, kinds: tuple[str, ...]
) -> tuple[dict[str, Any], Callable[[str], int | None]]:
    """The first YAML document of one of `kinds` (else the first document) as plain data, with
    duplicate keys refused, and a JSON path -> line function. SpecError if its kind is another."""
    nodes = list(_documents(text, source))
    if not nodes:
        raise SpecError("no YAML document found", source=source)
    node = next((n for n in nodes if _kind_of(n) in kinds), nodes[0])
    data = _construct(node, source)

    def locate(path: str) -> int | None:
        return _node_line(node, split_path(path))

    if not isinstance(data, dict):
        kind = "nothing" if data is None else type(data).__name__
        raise SpecError(f"expected a {' or '.join(kinds)} object, got {kind}", line=locate("$"),
                        source=source)
    if data.get("kind") not in kinds:
        raise SpecError(
            f"kind must be {' or '.join(repr(k) for k in kinds)}, got {data.get('kind')!r}",
            path="$.kind",
            line=locate("$.kind"),
            source=source,
        )
    return data, locate


def load_file(path: str | os.PathLike[str]) -> Workflow:
    """Read and parse a workflow file; `source` in errors is the path as given."""
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"cannot read workflow file: {e}", source=name) from None
    return load_text(text, source=name)


def load_json(data: bytes | str, *, source: str = "<json>") -> Workflow:
    """Decode JSON (e.g. `dump_json` output stored in the event log) into a Workflow."""
    try:
        obj = msgspec.json.decode(data)
    except msgspec.DecodeError as e:
        raise SpecError(_one_line(f"invalid JSON: {e}"), source=source) from None
    return load_obj(obj, source=source)
