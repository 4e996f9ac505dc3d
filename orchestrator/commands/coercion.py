"""Typer's parameter coercion, with each pydantic validator built when a value needs it.

Typer (0.2x) coerces every parameter of the invoked command through a pydantic
``TypeAdapter`` it builds on first use — also for an option that was not given, whose
``None`` it returns without using the adapter, and for a ``str`` option's ``str``, which
it returns as it is. `drill run` has 17 parameters that are not flags; building their
adapters was ~9 % of a one-probe run's CPU (benchmarks/README.md, `cli_startup.py`).

:func:`install` puts a stand-in in place of each parameter's coercion until a value
arrives that Typer's own coercion must see: the stand-in runs Typer's rule for
missing and multiple values (``RuntimeParam.coerce``), returns a plain ``str``, ``int``
or ``float`` given to a parameter of exactly that type and no constraint unchanged (what
its adapter returns), and for anything else builds Typer's adapter, keeps it for the
parameter and coerces through it: values, errors and messages are Typer's.
``tests/unit/test_typer_coercion.py`` compares both on every parameter of every command,
and fails if a Typer release moves the pieces this relies on.
"""

from __future__ import annotations

from typing import Any

_PLAIN = (str, int, float)


def install() -> bool:
    """Defer Typer's adapters (once per process); False when this Typer has none to
    defer (a click-based release) or its internals are not the ones expected."""
    try:
        from typer import _coercion, core
    except ImportError:
        return False
    param_cls: Any = getattr(core, "_TyperParameter", None)
    runtime: Any = getattr(_coercion, "RuntimeParam", None)
    build: Any = getattr(_coercion, "build_runtime_param", None)
    if param_cls is None or runtime is None or build is None:
        return False
    if not callable(getattr(param_cls, "get_runtime_param", None)):
        return False
    if getattr(param_cls, "_drill_deferred", False):
        return True

    class Deferred:
        """Coerces like the parameter's RuntimeParam, building it only when needed."""

        __slots__ = ("owner",)
        coerce = runtime.coerce  # Typer's rule: None → None or (), a str for many → error

        def __init__(self, owner: Any) -> None:
            self.owner = owner

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            desc = self.owner.type_descriptor
            kind = desc.annotation
            if (
                type(value) is kind
                and kind in _PLAIN
                and desc.file_annotation is None
                and _unconstrained(desc.parameter_info)
            ):
                return value
            real = self.owner._runtime_param = build(desc)
            return real._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            return Deferred(self)
        return self._runtime_param

    param_cls.get_runtime_param = get_runtime_param
    param_cls._drill_deferred = True
    return True


def _unconstrained(info: Any) -> bool:
    """No parser, bounds or clamp: Typer's adapter of a plain type returns a value of that
    exact type unchanged (its str adapter calls ``str()`` on it first: the same string)."""
    return (
        getattr(info, "parser", None) is None
        and getattr(info, "min", None) is None
        and getattr(info, "max", None) is None
        and not getattr(info, "clamp", False)
    )
