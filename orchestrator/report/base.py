"""The renderer base class and its registry (the prowler output pattern).

A renderer turns one :class:`~orchestrator.report.model.ReportData` into the bytes of
one file. Formats register under a short name; the export bundle and ``drill
report`` look them up here, so a new format is one subclass in one module.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import ClassVar

from orchestrator.registry import Registry
from orchestrator.report.model import ReportData

# name → module defining it; imported on first use (reportlab, jinja2 are heavy)
_MODULES = {
    "json": "orchestrator.report.json_out",
    "csv": "orchestrator.report.csv_out",
    "html": "orchestrator.report.html",
    "pdf": "orchestrator.report.pdf",
    "oscal": "orchestrator.report.oscal",
}

RENDERERS: Registry[type[Renderer]] = Registry("report format")


class Renderer(ABC):
    """One output format."""

    name: ClassVar[str]
    filename: ClassVar[str]  # path inside an export bundle
    media_type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            RENDERERS.register(cls.name, cls)

    @abstractmethod
    def render(self, data: ReportData) -> bytes:
        """The file's bytes; deterministic for the same data."""


def renderer(name: str) -> Renderer:
    if name not in RENDERERS and name in _MODULES:
        importlib.import_module(_MODULES[name])
    return RENDERERS.get(name)()


def format_names() -> list[str]:
    return sorted(_MODULES)
