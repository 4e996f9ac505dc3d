"""Read-side documents shared by the `--json` commands and the web dashboard.

Each builder returns the exact JSON document a command prints with ``--json``; the
dashboard's ``/api/…`` twins call the same builder, so the two cannot disagree. The
builders read through :class:`~orchestrator.evidence.writer.EvidenceDB`'s records and the
read functions of the modules that own each table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from orchestrator.config import Settings
    from orchestrator.evidence.export_data import Period
    from orchestrator.evidence.writer import EvidenceDB

T = TypeVar("T")

#: Most scenarios of one drill a trend chart shows (newest last).
TREND_RUNS = 12
#: Largest runs-list offset (``page`` included): SQLite and PostgreSQL take 64-bit ints.
MAX_OFFSET = 10**15
#: Most runs one list returns: `drill runs list --limit` and `/api/runs?limit=` alike.
MAX_LIMIT = 1_000_000


@dataclass(frozen=True)
class Spelling:
    """How the user gave a filter, for its error to name: `drill runs list --status x`
    or `/runs?status=x` (a web user cannot pass --status: "use --offset" told them
    nothing they could do)."""

    web: bool = False

    def given(self, name: str, value: object, quoted: bool = True) -> str:
        shown = repr(value) if quoted else str(value)
        return f"{name}={shown}" if self.web else f"--{name} {shown}"

    def name(self, name: str) -> str:
        return f"{name}=" if self.web else f"--{name}"


CLI, WEB = Spelling(), Spelling(web=True)


def measurement_shown(m: dict[str, Any]) -> tuple[str, str]:
    """A measurement of a run document as people read it, (value, error bound): seconds
    to the ms as the reports give them ("0.863409 s" before), counts whole ("0.0 rows"),
    a value the probes could not take "not measured" ("None s ±0.1s"); the bound only
    beside a value, and only when there is one (a count is exact). `drill runs show` and
    the dashboard's run page alike."""
    value = (
        "not measured"
        if m["value"] is None
        else f"{m['value']:.3f} s"
        if m["unit"] == "s"
        else f"{m['value']:g} {m['unit']}"
    )
    bound = f"±{m['error_bound_s']}s" if m["error_bound_s"] and m["value"] is not None else ""
    return value, bound


def as_ran(steps: Iterable[T], started: Callable[[T], datetime | str | None]) -> list[T]:
    """Steps in the order they ran, those never started last (in number order): a
    rollback is recorded (numbered) when the step it undoes starts, so by number "remove
    the marker" came before the step that put it there. ``started``: a step's start, a
    datetime (the reports' views) or ISO 8601 text (run documents: compared as times, not
    as text, where "…:00Z" of a whole second sorted after "…:00.5Z"). Every list and
    timeline of a run's steps (`runs show`, the dashboard, the reports) is in this order."""

    def key(st: T) -> tuple[bool, datetime]:
        at = started(st)
        if isinstance(at, str):
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        if at is None:
            return True, datetime.min.replace(tzinfo=UTC)
        return False, at if at.tzinfo else at.replace(tzinfo=UTC)

    return sorted(steps, key=key)


def steps_as_ran(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run document's steps in the order they ran (:func:`as_ran`)."""
    return as_ran(steps, itemgetter("started_at"))


def status_document(settings: Settings, db: EvidenceDB, now: datetime) -> dict[str, Any]:
    """`drill status --json` = `/api/status`: every drill's cadence, last run/success,
    next due, overdue, missed periods. No wall-clock field and nothing about who filed
    what: the two must be equal whenever the evidence is the same (the overview page
    shows its "as of" time as a page extra)."""
    return status_and_filed(settings, db, now, record=False)[0]


def status_and_filed(
    settings: Settings, db: EvidenceDB, now: datetime, record: bool
) -> tuple[dict[str, Any], list[str]]:
    """The status document and, with ``record``, the titles of the findings filed now —
    one per newly missed period (the CLI files them and says so on stderr; the
    read-only dashboard never files any). Not in the document: the CLI's first call
    would differ from the dashboard's and from its own second call."""
    from orchestrator.engine.results import untested
    from orchestrator.schedule.compliance import drill_status

    report = drill_status(settings, db, now, record=record)
    drills = [d.doc(now) for d in report.drills]
    ids = [d[k] for d in drills for k in ("last_run_id", "last_success_run_id") if d[k]]
    dry, skipped = untested(db, ids)
    for d in drills:  # a dry last run "succeeded" too: not the success status counts
        d["last_run_dry_run"] = d["last_run_id"] in dry
        # a success that skipped scenarios (isolated mode) did not test them (it counts)
        d["last_run_skipped_scenarios"] = skipped.get(d["last_run_id"], 0)
        d["last_success_skipped_scenarios"] = skipped.get(d["last_success_run_id"], 0)
    return {"drills": drills}, [f.title for f in report.new_findings]


def finding_document(f: Any) -> dict[str, Any]:
    """One finding (`drill findings show --json`)."""
    from orchestrator.engine.results import iso

    return {
        "id": f.id,
        "run_id": f.run_id,
        "kind": f.kind,
        "severity": f.severity,
        "title": f.title,
        "detail": f.detail,
        "corrective_action": f.corrective_action,
        "status": f.status,
        "owner": f.owner,
        "due_date": f.due_date,
        "resolution": f.resolution,
        "created_at": iso(f.created_at),
        "closed_at": iso(f.closed_at),
        "drill": f.drill,
        "env": f.env,
    }


def findings_documents(
    db: EvidenceDB, status: str | None = None, run_id: str | None = None, spell: Spelling = CLI
) -> list[dict[str, Any]]:
    """`drill findings list --json`: findings, newest first."""
    from orchestrator.errors import UsageError
    from orchestrator.evidence.records import Finding

    if status not in (None, "open", "closed"):
        raise UsageError(f"{spell.given('status', status)} is not open or closed")
    where = [(c, v) for c, v in (("status", status), ("run_id", run_id)) if v]
    found = db.records(
        Finding, " AND ".join(f"{c} = ?" for c, _ in where), [v for _, v in where], "id DESC"
    )
    return [finding_document(f) for f in found]


def calendar_document(settings: Settings, db: EvidenceDB, now: datetime) -> dict[str, Any]:
    """Schedules with their next fire, game days, and blackout windows (change freezes)."""
    from orchestrator.engine.results import iso
    from orchestrator.schedule import gameday, schedules
    from orchestrator.schedule.blackout import load_windows

    windows = []
    for raw, w in zip(settings.blackout_windows, load_windows(settings), strict=True):
        windows.append(
            {
                "name": raw.name,
                "start": raw.start,
                "end": raw.end,
                "duration": raw.duration,
                "timezone": raw.timezone,
                "active_now": w.contains(now),
                "from": iso(w.start),
                "until": iso(w.end),
            }
        )
    return {
        "generated_at": iso(now),
        "schedules": schedules.list_docs(db, now),
        "gamedays": [gameday.doc(g) for g in gameday.all_gamedays(db)],
        "blackout_windows": windows,
    }


@dataclass(frozen=True)
class RunsQuery:
    """The runs list's filters and page: `drill runs list` options = `/runs` parameters."""

    drill: str | None = None
    env: str | None = None
    status: str | None = None
    period: str | None = None  # a quarter (2026-Q4) or FROM..TO (YYYY-MM-DD, inclusive)
    limit: int = 50
    offset: int = 0
    spell: Spelling = CLI  # (the dashboard's: WEB)

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The period as [since, until), after checking every filter."""
        from orchestrator.errors import UsageError
        from orchestrator.evidence.enums import RunStatus

        given = self.spell.given
        if self.status and self.status not in {s.value for s in RunStatus}:
            raise UsageError(
                f"{given('status', self.status)} is not a run status",
                "one of " + ", ".join(s.value for s in RunStatus),
            )
        if self.limit < 1:
            raise UsageError(f"{given('limit', self.limit, False)} is not at least 1")
        if self.offset < 0:
            raise UsageError(f"{given('offset', self.offset, False)} is negative")
        if self.limit > MAX_LIMIT:
            raise UsageError(
                f"{given('limit', self.limit, False)} is more than {MAX_LIMIT}",
                f"page with {self.spell.name('offset')}"
                + (" (or page=)" if self.spell.web else ""),
            )
        if self.offset > MAX_OFFSET:  # the database's integers end at 2**63 - 1
            raise UsageError(
                f"{given('offset', self.offset, False)} is past any store (at most {MAX_OFFSET})"
            )
        if not self.period:
            return None, None
        p = period_of(self.period, self.spell)
        return p.start, p.end

    def documents(self, db: EvidenceDB) -> list[dict[str, Any]]:
        """One page of runs, newest first (`drill runs list --json`)."""
        from orchestrator.engine.results import list_runs

        since, until = self.window()
        return list_runs(
            db, self.limit, self.env, self.drill, self.status, since, until, self.offset
        )

    def count(self, db: EvidenceDB) -> int:
        from orchestrator.engine.results import count_runs

        since, until = self.window()
        return count_runs(db, self.env, self.drill, self.status, since, until)


def period_of(text: str, spell: Spelling = CLI) -> Period:
    """``--period`` / ``?period=`` of the runs list (and of the dashboard's export): a
    quarter (2026-Q4) or FROM..TO dates, both inclusive."""
    from orchestrator.errors import UsageError
    from orchestrator.evidence.export_data import parse_period

    first, sep, last = text.partition("..")
    hint = "write a quarter (2026-Q4) or FROM..TO dates, both inclusive (2026-10-01..2026-12-31)"
    said = f"--period {text!r}"  # how parse_period names it
    try:  # export's own words (--from/--to, "which period to export") do not apply here
        if not sep:
            return parse_period(text)
        if not (first.strip() and last.strip()):
            raise UsageError(f"{said} needs both dates: FROM..TO")
        return parse_period(None, first, last)
    except UsageError as exc:
        message = exc.message.replace("--from ", "FROM ").replace("--to ", "TO ")
        rest = message[len(said) :] if message.startswith(said) else f": {message}"
        raise UsageError(spell.given("period", text) + rest, hint) from None


def trend_documents(
    db: EvidenceDB, drill: str, env: str | None, limit: int = TREND_RUNS
) -> list[dict[str, Any]]:
    """RTO/RPO of a drill's newest runs (oldest first), per scenario, with objectives."""
    from orchestrator.engine.results import list_runs, run_document

    runs = list_runs(db, limit, env, drill)
    out = []
    for r in reversed(runs):
        doc = run_document(db, r["run_id"])
        for sc in doc["scenarios"]:
            out.append(
                {
                    "run_id": r["run_id"],
                    "started_at": r["started_at"],
                    "status": r["status"],
                    "scenario": sc["id"],
                    "rto_s": sc["rto_s"],
                    "rpo_s": sc["rpo_s"],
                    "objectives": sc["objectives"],
                    "met": sc["met"],
                }
            )
    return out


def fire_lags(db: EvidenceDB) -> list[tuple[str, str, float]]:
    """(target, env, seconds) of every claimed scheduler fire: how late it started."""
    rows = db.query("SELECT target, env, lag_s FROM schedule_fire WHERE lag_s IS NOT NULL")
    return [(t, e, float(lag or 0.0)) for t, e, lag in rows]


LAST_VERIFY = "last-verify.json"  # under the state dir: written by `drill evidence verify`


def record_verify(settings: Settings, doc: dict[str, Any], now: datetime, who: str) -> None:
    """Remember the outcome of a database verify, for the dashboard's evidence page.

    Operational state, not evidence (the chain itself is the evidence): a file in the
    state directory, replaced atomically. A state directory that cannot be written (read
    only, full) never fails the verify itself: the dashboard keeps the previous one."""
    import json

    from orchestrator.engine.results import iso

    # with the first break: "failed · 1 break(s)" alone sent the reader to a terminal
    keep = {
        k: doc.get(k) for k in ("ok", "events", "records", "head", "break_count", "first_break")
    }
    keep.update(at=iso(now), by=who)
    path = settings.state_path() / LAST_VERIFY
    tmp = path.with_suffix(".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(keep, indent=2))
        tmp.replace(path)
    except OSError:  # a partial .tmp is replaced by the next verify
        return


def evidence_document(settings: Settings, db: EvidenceDB, now: datetime) -> dict[str, Any]:
    """Journal head, the last verify's outcome, and the quarters one can export."""
    import json

    from orchestrator.engine.results import iso
    from orchestrator.evidence.journal import GENESIS, HEAD_SQL

    head = db.query(HEAD_SQL)
    seq, digest = (int(head[0][0]), str(head[0][1])) if head else (0, GENESIS)
    path = settings.state_path() / LAST_VERIFY
    from orchestrator.smallfiles import read_small

    try:
        last = json.loads(read_small(path))
    except (OSError, ValueError):
        last = None
    year, q = now.year, (now.month - 1) // 3 + 1
    quarters = []
    for _ in range(8):
        quarters.append(f"{year}-Q{q}")
        year, q = (year - 1, 4) if q == 1 else (year, q - 1)
    return {
        "generated_at": iso(now),
        "chain_head": {"seq": seq, "hash": digest},
        "last_verify": last,
        "export_periods": quarters,
    }


def open_findings_by_drill(db: EvidenceDB) -> dict[tuple[str, str], int]:
    """(drill, env) → how many findings are open (counted by the database)."""
    rows = db.query(  # NULL and "" are one label value: counted as one group
        "SELECT COALESCE(drill, ''), COALESCE(env, ''), COUNT(*) FROM finding "
        "WHERE status = 'open' GROUP BY COALESCE(drill, ''), COALESCE(env, '')"
    )
    return {(str(d), str(e)): int(n) for d, e, n in rows}
