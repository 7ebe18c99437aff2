"""docs/reference/config.md is what scripts/gen_config_reference.py makes of config.py,
and its hand-kept parts (the other settings, Flask-Security's changed defaults) match
the code."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from quart_security.config import ADDED_KEYS, DEFAULT_CONFIG, KEY_STATUS, FromAppConfig, at_default
from tests.support.flask_security_592 import FS_592_CHANGED_DEFAULTS, FS_592_KEYS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_config_reference.py"
PAGE = ROOT / "docs" / "reference" / "config.md"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = load_generator()


def test_the_committed_page_is_the_generated_one() -> None:
    assert PAGE.read_text() == GEN.render(), (
        "docs/reference/config.md is out of date: run python scripts/gen_config_reference.py"
    )


def test_every_key_has_exactly_one_row() -> None:
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", PAGE.read_text(), flags=re.MULTILINE)
    other = {key for key, _, _ in GEN.OTHER_SETTINGS}
    security_rows = [key for key in rows if key not in other]
    assert sorted(security_rows) == sorted(KEY_STATUS)


def test_the_script_checks_and_rewrites_a_stale_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "config.md"
    page.write_text(GEN.render().replace("| honoured |", "| not built yet |", 1))
    monkeypatch.setattr(GEN, "PAGE", page)
    assert GEN.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert GEN.main([]) == 0
    assert page.read_text() == GEN.render()
    assert GEN.main(["--check"]) == 0


def test_the_script_runs_from_anywhere(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_changed_defaults_are_flask_security_keys_we_really_changed() -> None:
    for key, theirs in FS_592_CHANGED_DEFAULTS.items():
        assert key in FS_592_KEYS and key not in ADDED_KEYS, key
        assert not at_default(key, theirs), key
    page = PAGE.read_text()
    assert "| `LOGOUT_CSRF` | `True` | honoured | differs: `False` |" in page
    assert "'sha512_crypt', 'plaintext']` |" in page  # the difference is the last item


#: Fields of dict-valued settings (SMS_SERVICE_CONFIG's PHONE_NUMBER, ...): read
#: with .get() from the setting's value, not from the app's config.
SETTING_FIELDS = frozenset(
    field for value in DEFAULT_CONFIG.values() if isinstance(value, dict) for field in value
)


def _reads_of_app_settings() -> dict[str, list[Any]]:
    """Non-SECURITY_ settings the package reads with ``.get("KEY"[, default])`` or
    ``["KEY"]``, with every literal default it reads them with."""
    found: dict[str, list[Any]] = {}
    for path in [*(ROOT / "quart_security").rglob("*.py"), *(ROOT / "flask_compat").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            key: Any = None
            defaults: list[Any] = []
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                key = node.args[0].value
                if len(node.args) > 1:
                    try:
                        defaults.append(ast.literal_eval(node.args[1]))
                    except ValueError:
                        pass  # not a literal (timedelta(days=365)): checked by eye
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                key = node.slice.value
            if (
                isinstance(key, str)
                and re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+", key)
                and not key.startswith("SECURITY_")
                and key not in DEFAULT_CONFIG
                and key not in SETTING_FIELDS
            ):
                found.setdefault(key, []).extend(defaults)
    return found


def test_other_settings_are_exactly_those_the_package_reads() -> None:
    reads = _reads_of_app_settings()
    from_app = {v.key for v in DEFAULT_CONFIG.values() if isinstance(v, FromAppConfig)}
    documented = {key for key, _, _ in GEN.OTHER_SETTINGS}
    assert documented == set(reads) | from_app


def test_other_settings_show_the_defaults_the_package_uses() -> None:
    documented = {key: default for key, default, _ in GEN.OTHER_SETTINGS}
    for key, defaults in _reads_of_app_settings().items():
        for default in defaults:
            assert documented[key] == repr(default), key
