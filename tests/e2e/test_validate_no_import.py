"""`drill validate` and `drill plan` resolve an experiment's Python modules without
running them (issue 18, item 14); errors keep chaoslib's wording, with file:line."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from tests.clihelp import drill
from tests.e2e.defs import write

SIDE_EFFECT = """from pathlib import Path
Path({marker!r}).write_text("imported")


def act(path, count=1, *, configuration=None):
    return path


async def async_act(**kwargs):
    return kwargs
"""


def _experiment(module: str, func: str = "act", arguments: str = "{path: x}") -> str:
    return (
        "title: t\ndescription: d\nmethod:\n  - type: action\n    name: side-effect\n"
        f"    provider: {{type: python, module: {module}, func: {func}, "
        f"arguments: {arguments}}}\n"
    )


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """A fresh package whose __init__ and submodule both leave a marker when imported."""
    name = f"drill_sidefx_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "site" / name
    root.mkdir(parents=True)
    marker = tmp_path / "imported"
    (root / "__init__.py").write_text(SIDE_EFFECT.format(marker=str(marker)))
    (root / "sub.py").write_text(SIDE_EFFECT.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield name, marker
    for mod in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[mod]


@pytest.mark.parametrize("module_suffix", ["", ".sub"])
def test_validate_and_plan_do_not_import(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    package: tuple[str, Path],
    module_suffix: str,
) -> None:
    name, marker = package
    exp = write(workdir, "experiments/e.yaml", _experiment(name + module_suffix))
    assert drill(capsys, "validate", str(exp)).code == 0
    assert drill(capsys, "plan", str(exp), "--json").code == 0
    assert not marker.exists()
    assert name not in sys.modules
    assert drill(capsys, "run", str(exp)).code == 0  # running it runs it, as chaos does
    assert marker.exists()


@pytest.mark.parametrize(
    ("module", "func", "arguments", "message"),
    [
        (
            "{pkg}.nope",
            "act",
            "{path: x}",
            "could not find Python module '{pkg}.nope' in activity 'side-effect'",
        ),
        ("no_such_top_{pkg}", "act", "{path: x}", "could not find Python module"),
        (
            "{pkg}.sub",
            "missing",
            "{path: x}",
            "The python module '{pkg}.sub' does not expose a function called 'missing' in "
            "action 'side-effect'",
        ),
        ("{pkg}.sub", "act", "{}", "required argument 'path' is missing from activity 'act'"),
        (
            "{pkg}.sub",
            "act",
            "{path: x, colour: blue}",
            "argument 'colour' is not part of the function signature in activity 'act'",
        ),
    ],
)
def test_static_errors_keep_chaoslib_wording(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    package: tuple[str, Path],
    module: str,
    func: str,
    arguments: str,
    message: str,
) -> None:
    name, marker = package
    exp = write(
        workdir, "experiments/e.yaml", _experiment(module.format(pkg=name), func, arguments)
    )
    res = drill(capsys, "validate", str(exp))
    assert res.code == 2
    assert f"{exp}:4: {message.format(pkg=name)}" in res.err
    assert not marker.exists()


def test_keyword_functions_accept_any_argument(
    workdir: Path, capsys: pytest.CaptureFixture[str], package: tuple[str, Path]
) -> None:
    name, marker = package
    exp = write(
        workdir, "experiments/e.yaml", _experiment(name + ".sub", "async_act", "{anything: 1}")
    )
    assert drill(capsys, "validate", str(exp)).code == 0
    assert not marker.exists()
