"""docs/config.md lists exactly the settings that are not built and the inert ones."""

from __future__ import annotations

import re
from pathlib import Path

from quart_security.config import KEY_STATUS, Status, init_config, not_built_settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()


def section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else None]


def keys_named(text: str) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", text)) & set(KEY_STATUS)


def test_not_built_section_lists_every_not_built_key() -> None:
    not_built = {k for k, s in KEY_STATUS.items() if s is Status.NOT_YET}
    assert keys_named(section("Not built yet")) == not_built


def test_inert_section_lists_every_inert_key() -> None:
    inert = {k for k, s in KEY_STATUS.items() if s is Status.INERT}
    assert keys_named(section("Accepted, with no effect")) == inert


def test_the_example_error_is_the_real_one() -> None:
    cfg = {"SECURITY_WEBAUTHN": True, "SECURITY_PASSWORDLESS": True}
    init_config(cfg, {})
    problems = not_built_settings(cfg)
    assert len(problems) == 2  # both still not built: else the example shows nothing
    for problem in problems:
        assert f"  {problem}\n" in DOC
