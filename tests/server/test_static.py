"""The UI's files and the server's small pure parts, on the real filesystem."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.server import load_token, parse_listen
from engine.server.auth import check_bearer, is_loopback
from engine.server.static import STATIC_DIR, resolve

#: Ways a string becomes HTML or code in a page; the UI must use none of them.
UNSAFE = re.compile(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|"
                    r"\beval\s*\(|new Function\s*\(|setTimeout\s*\(\s*['\"`]")


def test_the_ui_never_turns_data_into_html_or_code() -> None:
    files = sorted(STATIC_DIR.glob("*.js"))
    assert {f.name for f in files} >= {"app.js", "run.js", "graph.js", "dom.js", "api.js"}
    for f in files:
        for number, line in enumerate(f.read_text().splitlines(), start=1):
            code = line.split("//", 1)[0]
            assert not UNSAFE.search(code), f"{f.name}:{number}: {line.strip()}"
    html = (STATIC_DIR / "index.html").read_text()
    assert "<script>" not in html and "onload=" not in html and "http" not in html


def test_static_paths_stay_inside_their_folder(tmp_path: Path) -> None:
    root = tmp_path / "static"
    root.mkdir()
    (root / "a.js").write_text("ok")
    (tmp_path / "secret.js").write_text("secret")
    (root / "link.js").symlink_to(tmp_path / "secret.js")
    (root / "notes.txt").write_text("unknown type")
    assert resolve("a.js", root) == (root / "a.js").resolve()
    for bad in ["../secret.js", "link.js", "/etc/passwd", "..\\secret.js", "", "a.js\x00",
                "notes.txt", ".", "sub/../../secret.js"]:
        assert resolve(bad, root) is None, bad
    assert resolve("app.js") is not None


def test_listen_addresses_and_loopback() -> None:
    assert parse_listen("127.0.0.1:2746") == ("127.0.0.1", 2746)
    assert parse_listen(":8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9") == ("::1", 9)
    for bad in ["", "2746", "host:", "host:port", "h:70000"]:
        with pytest.raises(InputError):
            parse_listen(bad)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.1")


def test_token_from_env_else_generated_once_0600(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "x.db")
    monkeypatch.setenv("EXITFLOW_TOKEN", "from-env")
    assert load_token(db) == ("from-env", None)
    assert not os.path.exists(f"{db}.token")
    monkeypatch.delenv("EXITFLOW_TOKEN")
    token, created = load_token(db)
    assert created == f"{db}.token" and len(token) >= 40
    assert stat.S_IMODE(os.stat(created).st_mode) == 0o600
    assert load_token(db) == (token, None)
    os.chmod(created, 0o644)
    assert load_token(db) == (token, None)
    assert stat.S_IMODE(os.stat(created).st_mode) == 0o600
    assert check_bearer(f"Bearer {token}", token) is None
    assert check_bearer(None, token) and check_bearer("Bearer nope", token)
    assert check_bearer(f"Basic {token}", token)


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (STATIC_DIR / "style.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    white, card = "#ffffff", colours["card"]
    pairs = [  # (text, background) as style.css uses them
        ("fg", "bg"), ("fg", "card"), ("muted", "card"), ("muted", "bg"),
        ("ok", "ok-bg"), ("bad", "bad-bg"), ("run", "run-bg"), ("idle", "idle-bg"),
        ("muted", "idle-bg"), ("exit", "card"), ("hook", "card"),
    ]
    for text, background in pairs:
        ratio = _contrast(colours[text], colours[background])
        assert ratio >= 4.5, f"--{text} on --{background}: {ratio:.2f}"
    for background in ("ok", "bad", "run", "idle", "exit", "hook"):  # icons, tags, badges
        ratio = _contrast(white, colours[background])
        assert ratio >= 4.5, f"white on --{background}: {ratio:.2f}"
    assert _contrast(white, "#14212b") >= 4.5 and card == white
