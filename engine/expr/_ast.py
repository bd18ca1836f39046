"""The abstract syntax tree: small frozen classes, compared by structure (positions are ignored).

Every node keeps `pos`, the 0-based offset of its first character in the source, for runtime
error messages; `pos` takes no part in equality, so `parse(unparse(e)) == e` can hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ArrayLit",
    "Binary",
    "Call",
    "Literal",
    "MapLit",
    "Member",
    "Name",
    "Node",
    "Pointer",
    "Predicate",
    "Slice",
    "Ternary",
    "Tuple",
    "Unary",
]

Scalar = int | float | str | bool | None


def _pos() -> int:
    return field(default=-1, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, string, `true`/`false` or `nil`."""

    value: Scalar
    pos: int = _pos()

    def __eq__(self, other: object) -> bool:
        # `1 == 1.0 == True` in Python; literals of different types are different nodes.
        return (
            isinstance(other, Literal)
            and type(self.value) is type(other.value)
            and self.value == other.value
        )

    def __hash__(self) -> int:
        return hash((type(self.value).__name__, self.value))


@dataclass(frozen=True, slots=True)
class Name:
    """A bare word: a variable if the variables hold it, else (govaluate style) the word itself."""

    name: str
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Pointer:
    """`#` (the current element inside a predicate) or `#index`."""

    name: str = "#"
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Member:
    """`obj.key`, `obj["key"]`, `obj[0]`, `obj?.key`."""

    obj: Node
    key: Node
    optional: bool = False
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Slice:
    """`obj[lo:hi]`; either bound may be missing."""

    obj: Node
    lo: Node | None
    hi: Node | None
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Unary:
    """`!x` (also `not x`), `-x`, `+x`."""

    op: str
    operand: Node
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Binary:
    """`left op right`; `op` is normalised (`and` → `&&`, `or` → `||`, `matches` → `=~`)."""

    op: str
    left: Node
    right: Node
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Ternary:
    """`cond ? then : otherwise`."""

    cond: Node
    then: Node
    otherwise: Node
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Call:
    """`name(args...)`; `name` may be dotted (`sprig.add`). `a | f(b)` is `f(a, b)`."""

    name: str
    args: tuple[Node, ...]
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class ArrayLit:
    """`[a, b]`."""

    items: tuple[Node, ...]
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class MapLit:
    """`{key: value, ...}`; a bare-word key is a string literal."""

    items: tuple[tuple[Node, Node], ...]
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Tuple:
    """`(a, b)`: govaluate's list form, as in `x in (a, b)`."""

    items: tuple[Node, ...]
    pos: int = _pos()


@dataclass(frozen=True, slots=True)
class Predicate:
    """`{ body }` given to `filter`, `map`, ...: evaluated once per element bound to `#`."""

    body: Node
    pos: int = _pos()


Node = (
    Literal
    | Name
    | Pointer
    | Member
    | Slice
    | Unary
    | Binary
    | Ternary
    | Call
    | ArrayLit
    | MapLit
    | Tuple
    | Predicate
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of `node`, in source order."""
    if isinstance(node, Member):
        return (node.obj, node.key)
    if isinstance(node, Slice):
        return tuple(n for n in (node.obj, node.lo, node.hi) if n is not None)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Ternary):
        return (node.cond, node.then, node.otherwise)
    if isinstance(node, Call | ArrayLit | Tuple):
        return node.args if isinstance(node, Call) else node.items
    if isinstance(node, MapLit):
        return tuple(n for pair in node.items for n in pair)
    if isinstance(node, Predicate):
        return (node.body,)
    return ()


def height(node: Node) -> int:
    """The height of the tree (a leaf is 1), computed without recursion."""
    best = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        n, h = stack.pop()
        best = max(best, h)
        stack.extend((c, h + 1) for c in children(n))
    return best
