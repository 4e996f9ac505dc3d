"""Find definitions by id: configured paths first, then the bundled ones.

Ids are looked up in the directories named by ``paths:`` in drill.yaml (default
``experiments/``, ``runbooks/``, ``drills/`` beside drill.yaml or in the current
directory), then in the definitions installed with the package (DESIGN section 5).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.config import Settings
from orchestrator.definitions.kinds import DefinitionKind, Experiment, RunMode
from orchestrator.definitions.loader import DEFINITION_SUFFIXES, load_definition
from orchestrator.errors import DefinitionError, NotFoundError, Problem, UsageError

if TYPE_CHECKING:
    from orchestrator.definitions.loader import Definition
    from orchestrator.definitions.models import Drill, Runbook

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
    title: str = ""
    id_line: int | None = None  # line of the top-level `id:` (None: the id is the file name)


def _quick_entry(path: Path, kind: DefinitionKind, origin: str) -> Entry:
    """Id and title without a full validation: the top-level ``id:`` (runbooks, drills;
    an experiment's id is its file name) and ``title:`` lines. A file that cannot be
    read still gets an entry (by file name): `validate`, or running it, says what is
    wrong with it, and every other definition keeps working."""
    from orchestrator.yamlguard import read_source

    fields: dict[str, tuple[str, int]] = {}
    try:
        for number, text in enumerate(read_source(path).splitlines(), 1):
            key, sep, value = text.partition(":")
            if sep and key in ("id", "title") and key not in fields:
                fields[key] = (value.split(" #", 1)[0].strip().strip("'\""), number)
    except DefinitionError:
        pass
    title = fields["title"][0] if "title" in fields else ""
    if kind is DefinitionKind.EXPERIMENT or not fields.get("id", ("",))[0]:
        return Entry(path.stem, kind, path, origin, title)
    ident, line = fields["id"]
    return Entry(ident, kind, path, origin, title, line)


class Catalog:
    """Everything drill can run, with local definitions shadowing bundled ones."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._scanned: dict[DefinitionKind, list[Entry]] = {}

    def _dirs(self, kind: DefinitionKind) -> list[tuple[Path, str]]:
        name = _KIND_DIRS[kind]
        local = [(d, "local") for d in self.settings.search_dirs(name)]  # type: ignore[arg-type]
        bundled = (bundled_root() / name).resolve()
        # realpath, not resolve(): a configured path in a symlink loop is simply not a dir
        if all(Path(os.path.realpath(d)) != bundled for d, _ in local):
            local.append((bundled, "bundled"))
        return local

    def is_bundled(self, path: Path, kind: DefinitionKind) -> bool:
        """Whether ``path`` is one of the definitions installed with drill (not one of the
        configured directories, even when a configured directory is the bundled one, as
        in drill's own checkout)."""
        where = Path(os.path.realpath(path.parent))
        return any(
            origin == "bundled" and Path(os.path.realpath(d)) == where
            for d, origin in self._dirs(kind)
        )

    def _scan(self, kind: DefinitionKind) -> list[Entry]:
        """Every definition file of ``kind``, in lookup order (shadowed ones included)."""
        if kind not in self._scanned:
            found: list[Entry] = []
            for directory, origin in self._dirs(kind):
                if not directory.is_dir():
                    continue
                for path in sorted(directory.iterdir()):
                    if path.suffix in DEFINITION_SUFFIXES and not path.name.startswith("."):
                        found.append(_quick_entry(path, kind, origin))
            self._scanned[kind] = found
        return self._scanned[kind]

    def entries(self, kind: DefinitionKind | None = None) -> list[Entry]:
        """One entry per id and kind: the first found (local before bundled)."""
        seen: set[tuple[DefinitionKind, str]] = set()
        out: list[Entry] = []
        for k in [kind] if kind else list(DefinitionKind):
            for entry in self._scan(k):
                if (k, entry.id) not in seen:
                    seen.add((k, entry.id))
                    out.append(entry)
        return out

    def clashes(self, kind: DefinitionKind | None = None) -> list[list[Entry]]:
        """Ids defined more than once in the same place (local, or bundled): ambiguous.
        A local definition shadowing a bundled one with its id is not a clash."""
        groups: dict[tuple[DefinitionKind, str, str], list[Entry]] = {}
        for k in [kind] if kind else list(DefinitionKind):
            for entry in self._scan(k):
                groups.setdefault((k, entry.id, entry.origin), []).append(entry)
        return [group for group in groups.values() if len(group) > 1]

    def clash_problems(self, group: list[Entry]) -> list[Problem]:
        """One located problem per file of a clash, each naming the others."""
        problems = []
        for entry in group:
            others = ", ".join(str(e.path) for e in group if e is not entry)
            problems.append(
                Problem(
                    f"{entry.kind.value} id {entry.id!r} is also defined in {others}: ids must be "
                    "unique (which one runs would depend on file names)",
                    str(entry.path),
                    entry.id_line,
                    "id" if entry.id_line else None,
                )
            )
        return problems

    def resolve(
        self, ref: str, kinds: tuple[DefinitionKind, ...] | None = None
    ) -> tuple[DefinitionKind, Definition, Path]:
        """An id or a file path → validated definition."""
        path = Path(ref)
        if path.suffix in DEFINITION_SUFFIXES and (path.exists() or path.is_symlink()):
            kind, definition, _doc = load_definition(path)
            if kinds and kind not in kinds:
                raise UsageError(
                    f"{ref} is {_article(kind)}, not " + " or ".join(_article(k) for k in kinds),
                    "give a file of the kind this command takes",
                )
            return kind, definition, path
        refuse_url(ref)
        if "/" in ref or path.suffix in DEFINITION_SUFFIXES:  # ids never contain these
            raise NotFoundError(f"no such file: {ref}", "check the path, or give an id")
        wanted = kinds or (DefinitionKind.DRILL, DefinitionKind.RUNBOOK, DefinitionKind.EXPERIMENT)
        for kind in wanted:
            for entry in self.entries(kind):
                if entry.id == ref:
                    for group in self.clashes(kind):
                        if entry in group:
                            raise DefinitionError(
                                self.clash_problems(group),
                                f"rename one of them; `drill run {ref}` refuses to guess",
                            )
                    k, definition, _doc = load_definition(entry.path)
                    return k, definition, entry.path
        if path.is_file():  # `drill run notes.txt`: said "no … with id 'notes.txt'"
            raise NotFoundError(
                f"{ref} is no definition file: drill reads {', '.join(DEFINITION_SUFFIXES)}",
                "give a .yaml, .yml or .json file, or an id (`drill list`)",
            )
        known = sorted({e.id for e in self.entries() if e.kind in wanted})
        raise NotFoundError(
            f"no drill, runbook or experiment with id {ref!r}",
            f"known ids: {', '.join(known) or '(none)'}; `drill list` shows them all",
        )

    def runbook(self, ref: str) -> tuple[Runbook, Path]:
        from orchestrator.definitions.models import Runbook

        _k, d, p = self.resolve(ref, (DefinitionKind.RUNBOOK,))
        assert isinstance(d, Runbook)
        return d, p

    def experiment(self, ref: str) -> tuple[Experiment, Path]:
        _k, d, p = self.resolve(ref, (DefinitionKind.EXPERIMENT,))
        assert isinstance(d, Experiment)
        return d, p

    def check_drill_refs(self, drill: Drill, file: str, own_mode: bool = False) -> list[Problem]:
        """Every scenario of a drill names something that exists, unambiguously, and is
        valid; each problem points at the scenario's line in the drill. ``own_mode``
        (`drill validate`): also something runs in the drill's own ``mode`` — a `drill
        run --mode live` of it is still planned."""
        from orchestrator.engine.plan import foreign_actions
        from orchestrator.yamlsrc import load_file

        try:
            doc = load_file(Path(file))  # for line numbers; the drill itself was valid
        except DefinitionError:
            doc = None
        problems: list[Problem] = []
        seen: dict[str, int] = {}
        live_only: list[str] = []  # scenarios isolated mode skips
        for idx, sc in enumerate(drill.scenarios):
            first = seen.setdefault(sc.scenario_id, idx)
            if first != idx:  # results are keyed by it: metrics, evidence files, --only
                problems.append(
                    Problem(
                        f"scenario id {sc.scenario_id!r} is already scenarios[{first}]'s; "
                        "give this one its own `id:` (a scenario's results, metrics and "
                        "evidence files are keyed by it)",
                        file,
                        doc.line_of(("scenarios", idx)) if doc else None,
                        f"scenarios[{idx}]",
                    )
                )
            kind = DefinitionKind.RUNBOOK if sc.runbook else DefinitionKind.EXPERIMENT
            loc = ("scenarios", idx, kind.value)
            var_problems = _var_file_problems(sc.var_files, file, idx, doc)
            if sc.var_files and not var_problems:  # as chaos: .env files before validation
                from orchestrator.engine.experiment_options import inject_env_files

                inject_env_files([Path(file).parent / f for f in sc.var_files])
            try:
                _k, found, _p = self.resolve(scenario_ref(sc.ref, Path(file)), (kind,))
                if not getattr(found, "isolated_supported", True) or (
                    isinstance(found, Experiment) and foreign_actions(found.document)
                ):
                    live_only.append(sc.scenario_id)
            except DefinitionError as exc:
                problems.extend(exc.problems)
            except UsageError as exc:  # not found, or a file of another kind
                line = doc.line_of(loc) if doc else None
                why = (
                    f"{exc.message} ({exc.hint})" if isinstance(exc, NotFoundError) else exc.message
                )
                problems.append(Problem(why, file, line, f"scenarios[{idx}].{kind.value}"))
            problems += var_problems
        if own_mode and drill.mode is RunMode.ISOLATED and len(live_only) == len(drill.scenarios):
            problems.append(  # `drill run` refuses it; its schedule would fail every time
                Problem(
                    f"mode: isolated, but {', '.join(live_only)} "
                    f"{'is' if len(live_only) == 1 else 'are'} live-only: nothing would run",
                    file,
                    doc.line_of(("mode",)) if doc else None,
                    "mode",
                )
            )
        return problems


def scenario_ref(ref: str, drill_file: Path) -> str:
    """A drill scenario's ``runbook:``/``experiment:`` as :meth:`Catalog.resolve` takes
    it: an id as it is; a relative file path from the drill file's directory, as its
    ``var_files`` are — it was taken from the working directory, so a drill validated
    in one directory failed in another (and under the scheduler, from drill.yaml's)."""
    if "/" not in ref and Path(ref).suffix not in DEFINITION_SUFFIXES:  # an id
        return ref
    return str(drill_file.parent / ref)


def _var_file_problems(var_files: list[str], file: str, idx: int, doc: Any) -> list[Problem]:
    from orchestrator.engine.experiment_options import check_var_file
    from orchestrator.errors import UsageError

    problems: list[Problem] = []
    for n, name in enumerate(var_files):
        try:
            check_var_file(Path(file).parent / name)
        except (UsageError, DefinitionError) as exc:
            loc = ("scenarios", idx, "var_files", n)
            problems.append(
                Problem(
                    exc.message.replace("\n", " "),
                    file,
                    doc.line_of(loc) if doc else None,
                    f"scenarios[{idx}].var_files[{n}]",
                )
            )
    return problems


def _article(kind: DefinitionKind) -> str:
    return ("an " if kind.value[0] in "aeiou" else "a ") + kind.value


def definition_hash(path: Path) -> str:
    """sha256 of the definition file as run (recorded with each run)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refuse_url(ref: str) -> None:
    """``chaos run URL`` fetches the experiment; drill said "no such file: https://…",
    "check the path", as if it were a typo. A path reaching here as a ``Path`` has lost
    one slash of ``//``: the URL is said as given."""
    if not Path(ref).exists() and re.match(r"(?i)https?:/", ref):
        url = re.sub(r"(?i)^(https?:)/+", r"\1//", ref)
        raise UsageError(
            f"{url}: drill runs definitions from files, not URLs (it does not fetch code to run)",
            "download it, read it, then give the file: `curl -fLo experiment.json URL` "
            "and `drill run experiment.json`",
        )
