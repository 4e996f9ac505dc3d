"""Find definitions by id: configured paths first, then the bundled ones.

Ids are looked up in the directories named by ``paths:`` in drill.yaml (default
``experiments/``, ``runbooks/``, ``drills/`` beside drill.yaml or in the current
directory), then in the definitions installed with the package (DESIGN section 5).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import Settings
from orchestrator.definitions.loader import DEFINITION_SUFFIXES, Definition, load_definition
from orchestrator.definitions.models import DefinitionKind, Drill, Experiment, Runbook
from orchestrator.errors import DefinitionError, NotFoundError, Problem

_KIND_DIRS = {
    DefinitionKind.EXPERIMENT: "experiments",
    DefinitionKind.RUNBOOK: "runbooks",
    DefinitionKind.DRILL: "drills",
}


def bundled_root() -> Path:
    """Where the bundled definitions live (wheel: package data; checkout: repo root)."""
    packaged = Path(__file__).resolve().parent.parent / "bundled"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class Entry:
    """A definition file found on disk (not yet validated)."""

    id: str
    kind: DefinitionKind
    path: Path
    origin: str  # "local" | "bundled"


def _quick_id(path: Path, kind: DefinitionKind) -> str:
    """The id without a full validation: runbook/drill `id:` field, else the file stem."""
    if kind is DefinitionKind.EXPERIMENT:
        return path.stem
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("id:"):
                return line.split(":", 1)[1].strip().strip("'\"") or path.stem
    except OSError:
        pass
    return path.stem


class Catalog:
    """Everything drill can run, with local definitions shadowing bundled ones."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _dirs(self, kind: DefinitionKind) -> list[tuple[Path, str]]:
        name = _KIND_DIRS[kind]
        local = [(d, "local") for d in self.settings.search_dirs(name)]  # type: ignore[arg-type]
        bundled = (bundled_root() / name).resolve()
        if all(d.resolve() != bundled for d, _ in local):
            local.append((bundled, "bundled"))
        return local

    def entries(self, kind: DefinitionKind | None = None) -> list[Entry]:
        seen: set[tuple[DefinitionKind, str]] = set()
        out: list[Entry] = []
        for k in [kind] if kind else list(DefinitionKind):
            for directory, origin in self._dirs(k):
                if not directory.is_dir():
                    continue
                for path in sorted(directory.iterdir()):
                    if path.suffix not in DEFINITION_SUFFIXES or path.name.startswith("."):
                        continue
                    entry = Entry(_quick_id(path, k), k, path, origin)
                    if (k, entry.id) in seen:
                        continue
                    seen.add((k, entry.id))
                    out.append(entry)
        return out

    def resolve(self, ref: str, kinds: tuple[DefinitionKind, ...] | None = None
                ) -> tuple[DefinitionKind, Definition, Path]:
        """An id or a file path → validated definition."""
        path = Path(ref)
        if path.suffix in DEFINITION_SUFFIXES and path.exists():
            kind, definition, _doc = load_definition(path)
            return kind, definition, path
        if "/" in ref or path.suffix in DEFINITION_SUFFIXES:  # ids never contain these
            raise NotFoundError(f"no such file: {ref}", "check the path, or give an id")
        wanted = kinds or (DefinitionKind.DRILL, DefinitionKind.RUNBOOK, DefinitionKind.EXPERIMENT)
        for kind in wanted:
            for entry in self.entries(kind):
                if entry.id == ref:
                    k, definition, _doc = load_definition(entry.path)
                    return k, definition, entry.path
        known = sorted({e.id for e in self.entries() if e.kind in wanted})
        raise NotFoundError(
            f"no drill, runbook or experiment with id {ref!r}",
            f"known ids: {', '.join(known) or '(none)'}; `drill list` shows them all",
        )

    def runbook(self, ref: str) -> tuple[Runbook, Path]:
        _k, d, p = self.resolve(ref, (DefinitionKind.RUNBOOK,))
        assert isinstance(d, Runbook)
        return d, p

    def experiment(self, ref: str) -> tuple[Experiment, Path]:
        _k, d, p = self.resolve(ref, (DefinitionKind.EXPERIMENT,))
        assert isinstance(d, Experiment)
        return d, p

    def check_drill_refs(self, drill: Drill, file: str) -> list[Problem]:
        """Every scenario of a drill names something that exists and is valid."""
        problems: list[Problem] = []
        for idx, sc in enumerate(drill.scenarios):
            kind = DefinitionKind.RUNBOOK if sc.runbook else DefinitionKind.EXPERIMENT
            try:
                self.resolve(sc.ref, (kind,))
            except NotFoundError as exc:
                problems.append(Problem(f"{exc.message} ({exc.hint})", file, None,
                                        f"scenarios[{idx}].{kind.value}"))
            except DefinitionError as exc:
                problems.extend(exc.problems)
            problems += _var_file_problems(sc.var_files, file, idx)
        return problems


def _var_file_problems(var_files: list[str], file: str, idx: int) -> list[Problem]:
    from orchestrator.engine.experiment_options import check_var_file
    from orchestrator.errors import UsageError

    problems: list[Problem] = []
    for n, name in enumerate(var_files):
        try:
            check_var_file(Path(file).parent / name)
        except (UsageError, DefinitionError) as exc:
            problems.append(Problem(exc.message.replace("\n", " "), file, None,
                                    f"scenarios[{idx}].var_files[{n}]"))
    return problems


def definition_hash(path: Path) -> str:
    """sha256 of the definition file as run (recorded with each run)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
