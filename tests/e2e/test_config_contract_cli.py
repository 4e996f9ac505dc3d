"""What an SRE meets first (DESIGN 4 and 5): drill.yaml mistakes are one located line,
exit 2, and `drill plan` prints what it means. Each case was found by trying drill from
the outside (README first, then every command with wrong input)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clihelp import drill


def test_plan_of_an_experiment_says_it_has_no_objectives(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An experiment has no RTO/RPO objective of its own; the plan printed
    `objectives: RTO ≤ Nones, RPO ≤ Nones`."""
    res = drill(capsys, "plan", "multi-az-failover")
    assert res.code == 0, res.err
    assert "None" not in res.out
    assert "objectives: none (the steady-state hypothesis decides)" in res.out
    drill_plan = drill(capsys, "plan", "rds-failover")
    # in the human format reports use (it printed raw seconds: `RTO ≤ 120.0s`)
    assert "objectives: RTO ≤ 2m 00s, RPO ≤ 0.00s" in drill_plan.out


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ("{detection_delay_s: abc}", "valid number"),
        ("{detecton_delay_s: 2}", "unknown field 'detecton_delay_s'"),
        ("{dataset_rows: 0}", "greater than or equal to 1"),
        ("{in_memory: perhaps}", "valid boolean"),
    ],
)
def test_lab_tuning_mistakes_are_located_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str], tuning: str, message: str
) -> None:
    """`lab:` was an untyped mapping: a typo was ignored and a bad value surfaced as
    `internal error: ValueError` from `drill lab up`."""
    (workdir / "drill.yaml").write_text(
        f"environments:\n  lab:\n    provider: lab\n    lab: {tuning}\n"
    )
    res = drill(capsys, "validate")
    assert (res.code, res.out) == (2, ""), res.err
    first = res.err.splitlines()[0]
    assert first.startswith(f"drill: error: {workdir / 'drill.yaml'}:4: "), res.err
    assert message in first and "environments.lab.lab." in first
    assert "Traceback" not in res.err and "internal error" not in res.err


def test_lab_tuning_from_a_variable_is_typed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DRILL_ENVIRONMENTS__LAB__LAB__IN_MEMORY=false` was the string "false", which the
    lab read as true."""
    from orchestrator.config import load_settings
    from orchestrator.providers.lab.lifecycle import _tuning

    monkeypatch.setenv("DRILL_ENVIRONMENTS__LAB__LAB__IN_MEMORY", "false")
    monkeypatch.setenv("DRILL_ENVIRONMENTS__LAB__LAB__DETECTION_DELAY_S", "2.5")
    tune = _tuning(load_settings().environments["lab"])
    assert (tune["in_memory"], tune["detection_delay_s"]) == (False, 2.5)
    assert tune["dataset_rows"] == 1000  # the default, untouched


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ("nothing", "probes must be a mapping such as {db: DSN, http: URL}, or `none`"),
        ("[a]", "probes must be a mapping"),
        ("{db: 5}", "Input should be a valid string (environments.s.probes.db)"),
        ("{htp: x}", "unknown field 'htp' (environments.s.probes.htp)"),
    ],
)
def test_a_wrong_probes_value_is_one_problem(
    workdir: Path, capsys: pytest.CaptureFixture[str], probes: str, message: str
) -> None:
    """`probes:` is a mapping or `none`: a wrong value gave two problems, one of them
    naming the internal class (`environments.s.probes.ProbesConfig`)."""
    (workdir / "drill.yaml").write_text(
        f"environments:\n  s:\n    provider: aws\n    probes: {probes}\n"
    )
    res = drill(capsys, "list")
    assert (res.code, res.out) == (2, ""), res.err
    assert res.err.startswith(f"drill: error: {workdir / 'drill.yaml'}:4: "), res.err
    assert message in res.err.splitlines()[0]
    assert "ProbesConfig" not in res.err and "problem(s)" not in res.err


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("DRILL_DATABSE", "DRILL_DATABASE"),
        ("DRILL_DATABASE_URL", "DRILL_DATABASE"),
        ("DRILL_ENVIRONMENT__PROD__PROTECTED", "DRILL_ENVIRONMENTS__PROD__PROTECTED"),
        ("DRILL_STATEDIR", "DRILL_STATE_DIR"),
    ],
)
def test_a_misspelt_setting_variable_is_refused(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    meant: str,
) -> None:
    """A misspelt variable was ignored: drill ran with the default (evidence in SQLite
    instead of the team's database, an unprotected production environment)."""
    monkeypatch.setenv(variable, "true")
    res = drill(capsys, "list", "--json")
    assert (res.code, res.out) == (2, ""), res.err
    first = res.err.splitlines()[0]
    assert first == f"drill: error: {variable} is not a setting (did you mean {meant}?)"


def test_drills_other_variables_are_not_settings_and_not_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DRILL_SERVE_TOKEN", "DRILL_PG_USER", "DRILL_OPERATOR", "DRILL_DB_PASSWORD"):
        monkeypatch.setenv(name, "x")
    res = drill(capsys, "list", "--json")
    assert (res.code, res.err) == (0, ""), res.err


@pytest.mark.parametrize("scheme", ["postgresql+psycopg2", "postgresql+asyncpg", "postgres"])
def test_an_evidence_database_url_of_another_driver_is_refused_by_name(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    """`postgresql+psycopg2://…` passed the check and failed at connect with libpq's
    `missing "=" after "postgresql+psycopg2://…" in connection info string`."""
    monkeypatch.setenv("DRILL_DATABASE", f"{scheme}://drill@127.0.0.1:1/x")
    res = drill(capsys, "runs", "list", "--json")
    assert (res.code, res.out) == (2, ""), res.err
    first = res.err.splitlines()[0]
    assert first.startswith("drill: error: DRILL_DATABASE: database must be sqlite:///PATH")
    assert f"not {scheme}://" in first and "missing" not in res.err


def test_a_paths_entry_that_is_no_directory_is_a_warning(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in `paths:` was silent, and `drill run az-loss` then ran the bundled
    az-loss instead of the team's own."""
    (workdir / "rbs").mkdir()
    (workdir / "drill.yaml").write_text("paths:\n  runbooks: [rbs, runboks]\n")
    res = drill(capsys, "plan", "az-loss", "--json")
    assert res.code == 0, res.err
    assert res.err == (
        f"drill: warning: {workdir / 'drill.yaml'}:2: no such directory: "
        f"{workdir / 'runboks'} (paths.runbooks[1])\n"
    )
    (workdir / "drill.yaml").write_text("paths:\n  runbooks: [rbs]\n")
    assert drill(capsys, "plan", "az-loss", "--json").err == ""


def test_tables_in_a_log_are_not_cut_at_80_columns(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where no terminal gives a width (CI logs, `| tee`), rich assumed 80 columns and
    cut cells: `drill list` read `rds-reboot-failover-chao…`, `drill inventory`
    `primary…` / `aws_db_…`, `drill lab status` `127.0.0.…`. COLUMNS still decides."""
    import io

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO())
    res = drill(capsys, "list")
    assert res.code == 0, res.err
    assert "rds-reboot-failover-chaosaws" in res.out and "…" not in res.out
    assert "Restore from backup after logical corruption (DROP TABLE)" in res.out
    monkeypatch.setenv("COLUMNS", "60")
    narrow = drill(capsys, "list")
    assert max(len(line) for line in narrow.out.splitlines()) <= 60


def test_a_misspelt_target_role_is_refused_on_the_lab_before_anything_runs(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`target: primry_db` passed `drill plan` on the lab, and `drill run` failed at the
    failover step and at its rollback (`rollback_failed`: "the environment may be
    degraded"), where the AWS provider refuses an unknown role at plan time."""
    import re

    text = (Path(__file__).resolve().parents[2] / "runbooks" / "rds-failover.yaml").read_text()
    text = re.sub(r"(?m)^id: .*$", "id: typo", text)
    text = text.replace("target: primary_db, wait: false", "target: primry_db, wait: false")
    assert "primry_db" in text
    (workdir / "runbooks").mkdir()
    (workdir / "runbooks" / "typo.yaml").write_text(text)
    for args in (("plan", "typo", "--json"), ("run", "typo", "--json")):
        res = drill(capsys, *args)
        assert (res.code, res.out) == (2, ""), res.err
        first = res.err.splitlines()[0]
        where = f"drill: error: {workdir / 'runbooks' / 'typo.yaml'}:{_line_of(text)}: "
        assert first == (
            f"{where}step 'force a failover to the standby': db.failover: target 'primry_db' "
            "is no role, endpoint or server of the lab (steps[0].args.target)"
        )
        assert "primary_db" in res.err.splitlines()[1]  # the hint lists the known ones
    assert not (workdir / ".drill" / "lab").exists()  # nothing was started
    assert drill(capsys, "runs", "list", "--json").out.strip() == "[]"


def _line_of(text: str, needle: str = "primry_db") -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-Q5", "--period '2026-Q5' is not a quarter"),
        (
            "2026-01-01..2026-13-01",
            "--period '2026-01-01..2026-13-01': TO '2026-13-01' is not a date",
        ),
        ("2026-12-01..2026-01-01", "TO 2026-01-01 is before FROM 2026-12-01"),
        ("..2026-01-01", "--period '..2026-01-01' needs both dates: FROM..TO"),
    ],
)
def test_runs_list_period_errors_speak_of_its_own_option(
    workdir: Path, capsys: pytest.CaptureFixture[str], period: str, message: str
) -> None:
    """`drill runs list --period 2026-Q5` hinted `use --from/--to`, options only
    `evidence export` has (and `..X` said "say which period to export")."""
    res = drill(capsys, "runs", "list", "--period", period, "--json")
    assert (res.code, res.out) == (2, ""), res.err
    assert message in res.err.splitlines()[0]
    assert "--from" not in res.err and "--to" not in res.err and "export" not in res.err
    assert "2026-10-01..2026-12-31" in res.err.splitlines()[1]


def test_validate_of_a_directory_skips_hidden_ones(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`drill validate .` walked `.drill/` (drill's own state: each JSON file reported as
    an invalid definition) and `.venv/` (every installed package's JSON, minutes)."""
    text = (Path(__file__).resolve().parents[2] / "runbooks" / "rds-failover.yaml").read_text()
    (workdir / "runbooks").mkdir()
    (workdir / "runbooks" / "rb.yaml").write_text(text.replace("id: rds-failover", "id: rb", 1))
    for hidden in (".drill/lab/state.json", ".venv/lib/pkg/data.json", "runbooks/.draft.yaml"):
        (workdir / hidden).parent.mkdir(parents=True, exist_ok=True)
        (workdir / hidden).write_text('{"not": "a definition"}')
    res = drill(capsys, "validate", ".")
    assert (res.code, res.out) == (0, ""), res.err
    assert "1 definition(s) valid" in res.err
    explicit = drill(capsys, "validate", ".drill/lab/state.json")  # named: checked
    assert explicit.code == 2 and "state.json:1: cannot tell what this is" in explicit.err


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "scenarios: [rds-failover]\n",
            3,
            "a scenario is a mapping: `- runbook: ID` or `- experiment: ID`, "
            "e.g. `- runbook: rds-failover` (scenarios[0])",
        ),
        (
            "scenarios: [{runbook: rds-failover}]\nschedule: every tuesday\n",
            4,
            "invalid cron expression 'every tuesday': wrong number of fields",
        ),
    ],
)
def test_drill_definition_mistakes_are_explained(
    workdir: Path, capsys: pytest.CaptureFixture[str], body: str, line: int, message: str
) -> None:
    """A list of ids as `scenarios:` said "Input should be a valid dictionary or instance
    of ScenarioRef"; an invalid `schedule:` passed `drill validate`, and `drill status`
    then showed no cadence (the drill never fell overdue)."""
    (workdir / "drills").mkdir()
    (workdir / "drills" / "d.yaml").write_text(f"id: dd\ntitle: t\n{body}")
    res = drill(capsys, "validate")
    assert (res.code, res.out) == (2, ""), res.err
    first = res.err.splitlines()[0]
    assert first.startswith(f"drill: error: {workdir / 'drills' / 'd.yaml'}:{line}: "), res.err
    assert message in first and "ScenarioRef" not in res.err


def test_one_webhook_url_in_drill_notify_is_a_list_of_one(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DRILL_NOTIFY=https://…` was refused: "Input should be a valid list"."""
    from orchestrator.config import load_settings

    monkeypatch.setenv("DRILL_NOTIFY", "https://hooks.example.invalid/services/T0/B0/x")
    assert drill(capsys, "list", "--json").code == 0
    assert load_settings().notify == ["https://hooks.example.invalid/services/T0/B0/x"]
    monkeypatch.setenv(
        "DRILL_NOTIFY", '["https://a.example.invalid/1", "https://b.example.invalid/2"]'
    )
    assert len(load_settings().notify) == 2


@pytest.mark.parametrize(
    ("yaml_notify", "variable", "located"),
    [
        ("notify:\n  - hooks.example.invalid/services/T0/B0/s3cr3t\n", None, "drill.yaml:3:"),
        ("", "ftp://hooks.example.invalid/services/T0/B0/s3cr3t", "DRILL_NOTIFY:"),
    ],
)
def test_a_webhook_url_that_is_not_http_is_refused_where_it_is_set(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    yaml_notify: str,
    variable: str | None,
    located: str,
) -> None:
    """`notify:` without its https:// was accepted: the scheduler service started, and
    each announcement, missed objective and overdue drill was only a log line ('only
    http(s) URLs are supported') that nobody was sent — where `gameday create --notify`
    refuses the same URL."""
    (workdir / "drill.yaml").write_text("database: sqlite:///state/evidence.db\n" + yaml_notify)
    if variable:
        monkeypatch.setenv("DRILL_NOTIFY", variable)
    res = drill(capsys, "schedule", "list", "--json")  # as `scheduler run` now, at its start
    assert (res.code, res.out) == (2, ""), res.err
    first = res.err.splitlines()[0]
    assert first.startswith("drill: error: ") and located in first, res.err
    assert "is not an http(s) URL" in first and "(notify[0])" in first
    assert "s3cr3t" not in res.err


@pytest.mark.lab
def test_a_misspelt_drill_pg_user_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root, `DRILL_PG_USER=postgress` fell back to `postgres` without a word."""
    import os

    from orchestrator import pgbin
    from orchestrator.errors import LabError

    if os.geteuid() != 0:
        pytest.skip("the lab's servers run as another user only when drill runs as root")
    try:
        pgbin.bindir()
    except LabError as exc:
        pytest.skip(f"PostgreSQL server not installed: {exc.message}")
    (workdir / "drill.yaml").write_text(
        "environments:\n  lab: {provider: lab, lab: {in_memory: false}}\n"
    )
    monkeypatch.setenv("DRILL_PG_USER", "no-such-user-for-drill")
    pgbin.run_as_user.cache_clear()  # read once per process: an earlier test's user stays
    try:
        res = drill(capsys, "lab", "up")
    finally:
        pgbin.run_as_user.cache_clear()
    assert (res.code, res.out) == (2, ""), res.err
    assert res.err.splitlines()[0] == (
        "drill: error: DRILL_PG_USER=no-such-user-for-drill: no such user"
    )
    assert drill(capsys, "lab", "status", "--json").out.count('"running": false') == 1


def test_inventory_without_dr_region_says_so(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heading read `(us-east-1, DR None)`; without a DR region both replicas of the
    primary qualify, so `dr_replica` is reported ambiguous, never guessed."""
    state = Path(__file__).resolve().parents[1] / "fixtures" / "terraform" / "reference.tfstate"
    for key, value in {
        "PROVIDER": "aws",
        "REGION": "us-east-1",
        "TERRAFORM__STATE": str(state),
        "ENDPOINT_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(f"DRILL_ENVIRONMENTS__STAGING__{key}", value)
    # the heading names the state's path: wide enough that no checkout's path wraps it
    monkeypatch.setenv("COLUMNS", "400")
    res = drill(capsys, "inventory", "--env", "staging", "--no-drift")
    assert res.code == 0, res.err
    assert "(us-east-1, no dr_region)" in res.out and "None" not in res.out
    assert "unresolved dr_replica: ambiguous" in res.out


@pytest.mark.parametrize("args", [(), ("lab",), ("evidence",)])
def test_a_bare_command_group_prints_its_help_not_a_one_line_blob(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    """`drill` alone printed `drill: error: Usage: drill [OPTIONS] COMMAND [ARGS]...
    Chaos and … Commands: run Run a drill …` — the whole help page on one line."""
    res = drill(capsys, *args)
    assert (res.code, res.out) == (2, "")
    assert res.err.startswith(f"Usage: drill {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND")
    assert "drill: error" not in res.err and "\nCommands:\n" in res.err


def test_runbook_render_out_mistakes_are_usage_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out FILE` was `internal error: FileExistsError` (exit 1), `--out /proc/x`
    `internal error: FileNotFoundError`; a symlink where the page goes was written
    through."""
    (workdir / "afile").write_text("")
    res = drill(capsys, "runbook", "render", "az-loss", "--out", "afile")
    assert (res.code, res.out) == (2, "")
    assert res.err.splitlines()[0] == "drill: error: --out afile is not a directory"
    res = drill(capsys, "runbook", "render", "az-loss", "--out", "/proc/drill-none")
    assert res.code == 2 and res.err.startswith("drill: error: --out /proc/drill-none: ")
    (workdir / "docs").mkdir()
    (workdir / "target.txt").write_text("keep")
    (workdir / "docs" / "az-loss.md").symlink_to(workdir / "target.txt")
    res = drill(capsys, "runbook", "render", "az-loss", "--out", "docs")
    assert res.code == 2 and "is a symbolic link" in res.err, res.err
    assert (workdir / "target.txt").read_text() == "keep"
    assert "internal error" not in res.err
    (workdir / "docs" / "az-loss.md").unlink()
    ok = drill(capsys, "runbook", "render", "az-loss", "--out", "docs")
    assert ok.code == 0 and (workdir / "docs" / "az-loss.md").read_text().startswith("<!--")


def test_an_unknown_default_env_is_located(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`default_env: staging` with no such environment said only "unknown environment
    'staging'", and only once a command used it."""
    (workdir / "drill.yaml").write_text("database: sqlite:///e.db\ndefault_env: staging\n")
    res = drill(capsys, "plan", "rds-failover", "--json")
    assert (res.code, res.out) == (2, "")
    assert res.err.splitlines()[0] == (
        f"drill: error: {workdir / 'drill.yaml'}:2: unknown environment 'staging' (default_env)"
    )
    (workdir / "drill.yaml").unlink()
    monkeypatch.setenv("DRILL_DEFAULT_ENV", "nope")
    res = drill(capsys, "list", "--json")
    assert res.code == 2
    assert res.err.startswith("drill: error: DRILL_DEFAULT_ENV: unknown environment 'nope'")


def test_a_config_path_that_is_a_directory_names_the_option_or_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "conf").mkdir()
    res = drill(capsys, "--config", "conf", "list")
    assert (res.code, res.err.splitlines()[0]) == (2, "drill: error: --config conf is a directory")
    monkeypatch.setenv("DRILL_CONFIG", str(workdir / "conf"))
    res = drill(capsys, "list")
    assert res.code == 2
    assert (
        res.err.splitlines()[0] == f"drill: error: DRILL_CONFIG={workdir / 'conf'} is a directory"
    )


def test_paths_in_drill_yaml_may_start_with_the_home_directory(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`signing_key: ~/keys/k.pem` meant the home directory, but `paths: {runbooks:
    ~/rb}` was read as ./~/rb (a warning, and the team's runbooks silently replaced by the
    bundled ones), and `state_dir: ~/drill` / `database: sqlite:///~/ev.db` created a
    directory named `~` beside drill.yaml. Every path setting now expands `~`."""
    home = workdir / "home"
    monkeypatch.setenv("HOME", str(home))
    (home / "rb").mkdir(parents=True)
    (home / "rb" / "mine.yaml").write_text(
        "id: mine\ntitle: my runbook\nsteps:\n  - kind: wait\n    duration: 1s\n"
    )
    project = workdir / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / "drill.yaml").write_text(
        "paths: {runbooks: ~/rb}\nstate_dir: ~/state\ndatabase: sqlite:///~/ev.db\n"
    )
    res = drill(capsys, "list")
    assert res.code == 0 and "warning" not in res.err, res.err
    assert "mine" in res.out
    assert drill(capsys, "runs", "list").code == 0  # (a read: it creates no store)
    assert drill(capsys, "recover").code == 0  # a writer creates it, at ~/ev.db
    assert (home / "ev.db").is_file() and not (project / "~").exists()
    assert drill(capsys, "evidence", "keygen").code == 0
    assert (home / "state" / "keys").is_dir()
    assert not (project / "~").exists()
