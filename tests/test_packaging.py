"""One version, `--version`, matplotlib in the bench extra only, settings docs generated."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from movie_collections import __version__
from movie_collections.cli import main
from movie_collections.core.settings import Settings
from movie_collections.core.settings_doc import render_configuration

REPOSITORY = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())


def test_the_version_comes_from_the_package_metadata() -> None:
    assert __version__ == PYPROJECT["project"]["version"]


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"movie-collections {__version__}"


def test_matplotlib_is_in_the_bench_extra_only() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("matplotlib") for d in extras["bench"])
    for name, requirements in extras.items():
        if name != "bench":
            assert not any(d.startswith("matplotlib") for d in requirements), name
    assert not any(d.startswith("matplotlib") for d in PYPROJECT["project"]["dependencies"])


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == []


def test_docs_configuration_is_generated_from_the_settings_model() -> None:
    """Regenerate with `make docs` when this fails."""
    documented = (REPOSITORY / "docs" / "configuration.md").read_text()
    assert documented == render_configuration()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in documented


def test_settings_doc_command_prints_the_reference() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "movie_collections", "settings-doc"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout == render_configuration()


@pytest.mark.parametrize("target", ["run", "demo"])
def test_make_serves_on_the_port_asked_for(target: str) -> None:
    completed = subprocess.run(
        ["make", "--dry-run", target, "PORT=9123", "HOST=0.0.0.0"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "serve --host 0.0.0.0 --port 9123" in completed.stdout
