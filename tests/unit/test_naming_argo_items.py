"""engine.naming: loop labels and `{{item}}` as Argo forms them (generateNodeName, processItem,
Item.String, Go's json.Marshal)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.naming import argo_item_label, argo_item_value, go_json


@pytest.mark.parametrize(
    ("item", "label"),
    [
        ("f(x)", "fx"),
        ("plain", "plain"),
        ('a"b', 'a\\"b'),  # Item.String(): JSON without the quotes
        ("a\\b", "a\\\\b"),
        ("x\ny", "x\\ny"),
        ("a<b&c>", "a<b&c>"),  # jsonutil.Fix undoes Go's HTML escapes
        (12, "12"),
        (True, "true"),
        (1.5, "1.5"),
        ({"k": "(v)", "a": 1}, "a:1,k:v"),
        ({"a-b": 1, "a": 2}, "a-b:1,a:2"),  # "key:value" strings sorted, as Go sorts them
        ({"m": {"z": 1, "y": "<"}}, 'm:{"z":1,"y":"<"}'),
        ([1, "a b", [2]], "[1 a b [2]]"),  # fmt.Sprint of a []Item
    ],
)
def test_label(item: Any, label: str) -> None:
    assert argo_item_label(item) == label


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("x<y", "x<y"),
        (7, "7"),
        (False, "false"),
        ({"zeta": "z<1>", "alpha": 2}, '{"alpha":2,"zeta":"z\\u003c1\\u003e"}'),
        ({"b": {"y": 1, "x": 2}, "a": "é"}, '{"a":"é","b":{"y":1,"x":2}}'),
        ([1, "&"], '[1,"\\u0026"]'),
    ],
)
def test_item_value(item: Any, value: str) -> None:
    assert argo_item_value(item) == value


def test_go_json_escapes_line_separators() -> None:
    assert go_json("a\u2028b") == '"a\\u2028b"'
