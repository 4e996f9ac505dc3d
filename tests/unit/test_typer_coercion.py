"""drill's deferred Typer coercion (orchestrator/commands/coercion.py) coerces every
parameter of every command exactly as Typer's own does: the same value, or the same
error with the same message. If a Typer release moves what it relies on, install()
says so here (it would otherwise quietly leave Typer's own coercion in place)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
import typer.main

from orchestrator.cli import build_app
from orchestrator.commands.coercion import install

_coercion = pytest.importorskip("typer._coercion")


def _params() -> Iterator[tuple[str, Any, Any]]:
    """(command path, click command, parameter) of every coerced parameter."""

    def walk(path: str, cmd: Any) -> Iterator[tuple[str, Any, Any]]:
        for param in cmd.params:
            if hasattr(param, "type_descriptor"):
                yield path, cmd, param
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(f"{path} {name}", sub)

    yield from walk("drill", typer.main.get_command(build_app()))


def _samples(param: Any) -> list[Any]:
    many = param.multiple or param.nargs == -1
    values: list[Any] = [None, "x", "1", "2.5", "", "-", " 7 ", "true", "default", "\udcff"]
    if many:
        values += [("1", "x"), ("a",), (), ["b", "2"]]
    if param.default is not None and not callable(param.default):
        values.append(param.default)
    return values


def _outcome(coerce: Any, value: Any, param: Any, ctx: Any) -> tuple[str, str]:
    try:
        return "value", repr(coerce(value, param=param, ctx=ctx))
    except Exception as exc:  # the same error, with the same message
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return type(exc).__name__, message


def test_install_finds_what_it_relies_on() -> None:
    assert install() is True
    assert install() is True  # once per process: a second call changes nothing


def test_every_parameter_is_coerced_as_typer_coerces_it(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # paths resolved against an empty directory
    assert install()
    seen = 0
    for path, cmd, param in _params():
        ctx = typer.Context(cmd, info_name=path)
        for value in _samples(param):
            param._runtime_param = None  # each value from a parameter not yet coerced
            ours = _outcome(param.get_runtime_param().coerce, value, param, ctx)
            theirs = _outcome(
                _coercion.build_runtime_param(param.type_descriptor).coerce, value, param, ctx
            )
            assert ours == theirs, (path, param.name, value)
            seen += 1
    assert seen > 500  # every command's parameters were walked


def test_a_parameter_not_given_builds_no_validator() -> None:
    """The point of it: `drill run FILE` builds none of its options' adapters."""
    assert install()
    run = typer.main.get_command(build_app("run")).commands["run"]  # type: ignore[attr-defined]
    ctx = typer.Context(run, info_name="drill run")
    built = []
    for param in run.params:  # as Typer's process_value calls it
        if not hasattr(param, "type_descriptor"):
            continue
        param._runtime_param = None
        value = {"target": "one.yaml"}.get(param.name, param.default)
        if param.type_descriptor.annotation is bool and isinstance(value, bool):
            continue  # Typer itself skips a flag's bool
        param.get_runtime_param().coerce(value, param=param, ctx=ctx)
        if param._runtime_param is not None:
            built.append(param.name)
    assert built == []
    # given a value its type needs checked, the parameter gets (and keeps) Typer's own
    frequency = next(p for p in run.params if p.name == "hypothesis_frequency")
    assert frequency.get_runtime_param().coerce("2", param=frequency, ctx=ctx) == 2.0
    assert isinstance(frequency._runtime_param, _coercion.AdapterRuntimeParam)
