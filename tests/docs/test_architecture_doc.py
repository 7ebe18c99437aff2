"""docs/architecture.md's map must match the code: every module is on it, and the
flask_compat share of lines it states is the real one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def _layers_block() -> str:
    start = DOC.index("## Layers")
    block = DOC[start : DOC.index("## ", start + 3)]
    return block[block.index("```") : block.rindex("```")]


def _lines(package: str) -> int:
    return sum(len(p.read_text().splitlines()) for p in (ROOT / package).rglob("*.py"))


def test_every_module_of_the_package_is_on_the_map() -> None:
    block = _layers_block()
    missing = [
        str(path.relative_to(ROOT / "quart_security"))
        for path in (ROOT / "quart_security").rglob("*.py")
        if path.name != "__init__.py" and path.stem not in block
    ]
    assert missing == []


def test_the_flask_compat_share_is_the_real_one() -> None:
    match = re.search(
        r"\*\*([\d,]+) lines against ([\d,]+) for quart_security \(([\d.]+)%\)\*\*", DOC
    )
    assert match is not None
    stated_flask, stated_core = (int(g.replace(",", "")) for g in match.groups()[:2])
    flask, core = _lines("flask_compat"), _lines("quart_security")
    # Counted at the time of writing; a few lines of drift are fine, a stale
    # figure (another layer's worth) is not.
    assert abs(stated_flask - flask) <= 0.05 * flask
    assert abs(stated_core - core) <= 0.05 * core
    assert abs(float(match.group(3)) - 100 * flask / core) <= 0.5
