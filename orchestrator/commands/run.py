"""`drill run`, `drill plan`, `drill abort`, `drill ack`."""

# No `from __future__ import annotations`: Typer reads a command's annotations several
# times per call, and string annotations are compiled and evaluated each time (~2.5 ms of
# `drill run`'s start-up); evaluated here, at import, that happens once.
import os
import signal
import socket
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.commands.common import (
    err_console,
    esc,
    out_console,
    print_json,
    state,
    stdout_to_stderr,
    warn,
)
from orchestrator.engine.experiment_options import DryMode, HypothesisStrategy, RollbackStrategy

ENV_HELP = "environment from drill.yaml (default: lab, the local DR lab)"
CTK = "Chaos Toolkit (experiments, as `chaos run`)"


def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="drill, runbook or experiment: id or file path")],
    env: Annotated[str | None, typer.Option("--env", "-e", help=ENV_HELP)] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help="live disrupts the target; isolated restores/promotes a clone and leaves "
            "production alone (default: the drill's own mode)"
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            "-y",
            help=("confirm mutating actions on a protected environment (recorded as an approval)"),
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON document on stdout")
    ] = False,
    only: Annotated[
        list[str] | None, typer.Option(help="run only this scenario (repeatable)")
    ] = None,
    keep: Annotated[bool, typer.Option(help="keep restored instances after validation")] = False,
    trigger: Annotated[
        str,
        typer.Option(
            hidden=True, help="manual | schedule | gameday (set by `drill scheduler run`)"
        ),
    ] = "manual",
    schedule_id: Annotated[str | None, typer.Option(hidden=True)] = None,
    gameday_id: Annotated[str | None, typer.Option(hidden=True)] = None,
    var: Annotated[
        list[str] | None,
        typer.Option(
            "--var",
            metavar="KEY[:TYPE]=VALUE",
            rich_help_panel=CTK,
            help="configuration value for ${KEY} (repeatable); TYPE: str, int, float, "
            "bytes, bool, json",
        ),
    ] = None,
    var_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--var-file",
            metavar="FILE",
            rich_help_panel=CTK,
            help="JSON/YAML file of "
            "configuration and secrets values, or a .env file of environment variables "
            "(repeatable)",
        ),
    ] = None,
    rollback_strategy: Annotated[
        RollbackStrategy | None,
        typer.Option(
            rich_help_panel=CTK,
            help="when rollbacks play; drill's default: always "
            "(chaos's: default = not after a failed or interrupted run)",
        ),
    ] = None,
    hypothesis_strategy: Annotated[
        HypothesisStrategy | None,
        typer.Option(
            rich_help_panel=CTK,
            help="when the steady-state hypothesis runs (default: before and after the method)",
        ),
    ] = None,
    hypothesis_frequency: Annotated[
        float,
        typer.Option(
            rich_help_panel=CTK,
            help="seconds between hypothesis runs (during-method-only, continuously)",
        ),
    ] = 1.0,
    fail_fast: Annotated[
        bool,
        typer.Option(
            "--fail-fast",
            rich_help_panel=CTK,
            help="stop at the first deviation of a during-method/continuous hypothesis",
        ),
    ] = False,
    dry: Annotated[
        DryMode | None,
        typer.Option(
            rich_help_panel=CTK, help="run without executing probes, actions, activities or pauses"
        ),
    ] = None,
    journal_path: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel=CTK,
            help="also write chaos's journal here (it is always kept as evidence)",
        ),
    ] = None,
    control_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--control-file",
            metavar="FILE",
            rich_help_panel=CTK,
            help="global controls file, as chaos's (repeatable)",
        ),
    ] = None,
    chaos_settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            rich_help_panel=CTK,
            help="Chaos Toolkit settings file (its controls "
            "and runtime strategies apply; default ~/.chaostoolkit/settings.yaml)",
        ),
    ] = None,
    # `chaos run` options drill does not take: said why, not click's "No such option"
    no_validation: Annotated[bool, typer.Option("--no-validation", hidden=True)] = False,
    no_verify_tls: Annotated[bool, typer.Option("--no-verify-tls", hidden=True)] = False,
) -> None:
    """Run a drill, runbook or experiment; measure RTO/RPO; record evidence.

    Exit codes: 0 every objective met · 1 an objective missed or a step failed ·
    2 usage or invalid definition · 3 aborted (rollbacks done). An experiment's exit
    code follows its chaos journal: completed 0, deviated or failed 1 (so is a steady
    state not met before the method), aborted or interrupted by a signal 3 (by
    the experiment itself: an error, a control's interruption, 1).

    Examples:

    \b
      drill run quarterly-dr                      # the four DR scenarios (lab)
      drill run rds-failover --env staging --yes  # one runbook, protected env
      drill run multi-az-failover --json          # an experiment, as chaos run
      drill run experiments/rds-reboot-failover-chaosaws.yaml --env staging \\
          --yes --var db_instance=prod-db --journal-path journal.json
    """
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.experiment_options import (
        build_options,
        inject_env_files,
        refuse_aws_extension_off_aws,
        refuse_bad_settings,
        refuse_without_experiments,
    )
    from orchestrator.engine.plan import build_plan
    from orchestrator.engine.results import run_document
    from orchestrator.engine.runner import RunEngine, RunOptions
    from orchestrator.errors import ExitStatus, UsageError

    _refuse_chaos_only(no_validation, no_verify_tls)
    experiment_opts = build_options(
        var,
        var_file,
        control_file,
        rollback_strategy=rollback_strategy,
        hypothesis_strategy=hypothesis_strategy,
        hypothesis_frequency=hypothesis_frequency,
        fail_fast=fail_fast,
        dry=dry,
        journal_path=journal_path,
        settings_path=chaos_settings,
    )
    inject_env_files(experiment_opts.var_files)
    app_state = state(ctx)
    settings = app_state.settings()
    env_name, env_cfg = settings.environment(env)
    catalog = Catalog(settings)
    plan = build_plan(catalog, target, mode, only)
    warn(plan.warnings)
    refuse_without_experiments(experiment_opts, plan, catalog)
    warn(refuse_bad_settings(experiment_opts, plan))
    _refuse_if_nothing_runs(plan)
    refuse_aws_extension_off_aws(plan, env_name, env_cfg)
    # what `drill plan` refuses (a step naming a role or target the environment does not
    # have) is refused here too, exit 2 before anything starts: it used to fail at that
    # step, and its rollback with it (`rollback_failed`, "the environment may be degraded")
    provider_factory = _checked_provider(plan, env_name, env_cfg, settings)
    db = app_state.db(warn=False, write=True)  # the engine recovers this environment itself
    reporter: Any = None
    if not as_json:
        from orchestrator.commands.progress import ConsoleReporter

        reporter = ConsoleReporter(err_console())
    engine = RunEngine(settings, db, env_name, env_cfg, provider_factory, reporter)
    from orchestrator.evidence.enums import Trigger

    if trigger not in {t.value for t in Trigger}:
        raise UsageError(f"--trigger must be one of {', '.join(t.value for t in Trigger)}")
    import gc

    gc.freeze()  # start-up is over (see cli.main): keep its objects out of later passes
    gc.enable()
    from orchestrator.engine.runner import EndNotRecorded

    try:
        with stdout_to_stderr() if as_json else nullcontext():
            outcome = engine.execute(
                plan,
                RunOptions(
                    yes=yes,
                    keep=keep,
                    trigger=Trigger(trigger),
                    schedule_id=schedule_id,
                    gameday_id=gameday_id,
                    experiment=experiment_opts,
                ),
            )
    except EndNotRecorded as exc:  # the store failed: the document from drill's memory
        if as_json:
            from orchestrator.engine.results import run_summary

            print_json({**run_summary(exc.run, exc.outcome.scenarios), "recorded": False})
        raise
    doc = run_document(db, outcome.run_id)
    if as_json:
        print_json(doc)
    else:
        from orchestrator.commands.progress import summary_table

        # the detailed document: its notes say how each number was taken
        out_console().print(summary_table(run_document(db, outcome.run_id, detail=True)))
    # stderr says how it ended, --json or not (with --json, a failed or stopped run said
    # nothing there: the reason was only in the document's error)
    if outcome.exit_status is ExitStatus.ABORTED:  # what a stop did, in words
        kept = [
            f"{sc.scenario_id}: {sc.notes['rollbacks_not_played']}"
            for sc in outcome.scenarios
            if sc.notes and sc.notes.get("rollbacks_not_played")
        ]
        played = (
            f"the rollbacks were not played ({'; '.join(kept)})"
            if kept
            else "the rollbacks were played"
        )
        err_console().print(
            f"[yellow]drill:[/] aborted ({esc(outcome.error or 'stopped')}): nothing new "
            f"was started and {esc(played)}"
        )
    elif outcome.error:
        err_console().print(f"[red]drill:[/] {esc(outcome.error)}")
    if outcome.exit_status is ExitStatus.FAILED:
        err_console().print(f"findings recorded: `drill runs show {outcome.run_id}`")
    raise typer.Exit(int(outcome.exit_status))


def _refuse_if_nothing_runs(plan: Any) -> None:
    """A run in which every scenario would be skipped (live-only runbooks in isolated
    mode) is a usage error: recorded, it was a *succeeded* run that tested nothing, and
    counted as the target's last success in `drill status` and in evidence exports."""
    if plan.scenarios and all(sc.skipped(plan.mode) for sc in plan.scenarios):
        from orchestrator.errors import UsageError

        why: dict[str, list[str]] = {}
        for sc in plan.scenarios:
            why.setdefault(sc.skipped(plan.mode) or "", []).append(sc.scenario_id)
        raise UsageError(
            f"nothing would run in {plan.mode.value} mode, nothing was started: "
            + "; ".join(f"{', '.join(ids)}: {reason}" for reason, ids in why.items()),
            f"run it with `--mode live`, or choose scenarios that support isolated mode "
            f"(`drill plan {plan.target} --mode isolated` shows which)",
        )


def _checked_provider(plan: Any, env_name: str, env_cfg: Any, settings: Any) -> Any:
    """The engine's provider factory, after the checks that refuse a run before anything
    is recorded (exit 2). A runbook's steps and an experiment's activities of drill's
    extension are planned (no call, no change): a role or target the environment does
    not have is named with its file:line. On AWS the
    provider is also asked where its probes come from: a probe derived from the state
    that would leave loopback in an emulated environment is refused here, as an
    explicit bad probe is when drill.yaml is read."""
    from orchestrator.config import ProviderKind
    from orchestrator.engine.targets import check_targets, names_targets
    from orchestrator.providers import build_provider

    aws = env_cfg.provider is ProviderKind.AWS
    if not aws and not names_targets(plan):
        return lambda: build_provider(env_name, env_cfg, settings)

    provider = build_provider(env_name, env_cfg, settings)
    try:
        check_targets(plan, provider)
        if not aws:
            provider.close()
            return lambda: build_provider(env_name, env_cfg, settings)
        from orchestrator.commands.planview import probe_sources  # (its imports: AWS only)

        probe_sources(plan, provider)
    except BaseException:
        provider.close()
        raise
    return lambda: provider


def plan(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="drill, runbook or experiment: id or file path")],
    env: Annotated[str | None, typer.Option("--env", "-e", help=ENV_HELP)] = None,
    mode: Annotated[str | None, typer.Option(help="live | isolated")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
    only: Annotated[list[str] | None, typer.Option(help="only this scenario")] = None,
) -> None:
    """Show every step, the API calls or lab operations it would make, and its rollback.

    Changes nothing. Review it before running against a protected environment. On AWS it
    also says where the probes come from: `probes:` in drill.yaml, or derived from the
    primary_db / alb targets of the Terraform state (password never shown).
    """
    from orchestrator.commands.planview import plan_document, render_plan
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import build_plan
    from orchestrator.providers import build_provider

    settings = state(ctx).settings()
    env_name, env_cfg = settings.environment(env)
    run_plan = build_plan(Catalog(settings), target, mode, only)
    warn(run_plan.warnings)
    from orchestrator.engine.experiment_options import refuse_aws_extension_off_aws

    refuse_aws_extension_off_aws(run_plan, env_name, env_cfg)  # as `drill run` does
    provider = build_provider(env_name, env_cfg, settings)
    try:
        doc = plan_document(run_plan, provider, env_name, env_cfg, settings)
    finally:
        provider.close()
    if as_json:
        print_json(doc)
    else:
        render_plan(doc, out_console())


def abort(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="the run to abort (see `drill runs list`)")],
) -> None:
    """Abort a running drill: it stops and plays its rollbacks (exit 3 for that run).

    Who asked is recorded on the run (a `run.abort_requested` event), and the run ends
    "aborted by `drill abort`", not by the SIGTERM that carries the request."""
    from orchestrator.engine.ack import running_run
    from orchestrator.engine.recovery import awaiting_recovery
    from orchestrator.engine.runner import operator
    from orchestrator.evidence.enums import utcnow
    from orchestrator.evidence.records import TimelineEvent

    app_state = state(ctx)
    db = app_state.db(write=True)
    run_row = running_run(db, run_id, "abort")
    run_row.abort_requested = True
    asked = TimelineEvent(
        run_id=run_id,
        at=utcnow(),
        kind="run.abort_requested",
        message=f"abort requested by {operator()} (`drill abort`)",
    )
    db.write(run_row, asked)
    if any(r.id == run_id for r in awaiting_recovery(app_state.settings(), db)):
        # its lock is free: the drill died, and its pid may be another process's now
        err_console().print(
            f"abort recorded for {run_id}: its drill process is gone; "
            f"`drill recover --env {run_row.env}` plays its rollbacks"
        )
        return
    # the process to stop is the one holding the run's lock: the run's own, or a recovery
    # playing its rollbacks (the run's recorded pid is dead then, maybe another's now)
    holder = _lock_holder(app_state.settings(), db, run_row.env) or {
        "run_id": run_id,
        "pid": run_row.pid,
        "host": run_row.host,
    }
    if holder.get("run_id") != run_id or holder.get("host") != socket.gethostname():
        err_console().print(
            f"abort recorded for {run_id}; the drill running it elsewhere stops at its next check"
        )
        return
    recovery = holder.get("what") == "recovery"
    try:
        os.kill(int(holder["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        err_console().print(
            f"abort recorded for {run_id}: its process is gone; "
            f"`drill recover --env {run_row.env}` plays its rollbacks"
        )
        return
    if recovery:
        err_console().print(
            f"abort requested for {run_id}: sent SIGTERM to the recovery playing its rollbacks "
            f"(pid {holder['pid']}); it stops after the rollback in progress, and "
            f"`drill recover --env {run_row.env}` plays the rest"
        )
        return
    err_console().print(
        f"abort requested for {run_id} (sent SIGTERM to pid {holder['pid']}); rollbacks will run"
    )


def _lock_holder(settings: Any, db: Any, env: str) -> dict[str, Any] | None:
    """Who holds ``env``'s run lock, as written down by the holder (SQLite store)."""
    from orchestrator.engine.locks import EnvLock, lock_scope

    return EnvLock(db, settings.state_path(), env, lock_scope(settings, env)).holder()


def ack(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="run waiting on a manual step")],
    note: Annotated[str | None, typer.Option(help="what was done")] = None,
) -> None:
    """Acknowledge the manual step a run is waiting for."""
    from orchestrator.engine.ack import acknowledge
    from orchestrator.engine.runner import operator

    acknowledge(state(ctx).db(), run_id, operator(), note)
    err_console().print(f"acknowledged the manual step of {run_id}")


def _refuse_chaos_only(no_validation: bool, no_verify_tls: bool) -> None:
    """`chaos run --no-validation | --no-verify-tls`, ported to `drill run` with the
    rest of a CI script: each says why drill has no use for it (exit 2)."""
    from orchestrator.errors import UsageError

    if no_validation:
        raise UsageError(
            "--no-validation is a `chaos run` option drill does not take: drill validates "
            "every experiment before it runs it",
            "drop --no-validation; `drill validate FILE` shows what is wrong with one",
        )
    if no_verify_tls:
        raise UsageError(
            "--no-verify-tls is a `chaos run` option for an experiment fetched over HTTPS; "
            "drill runs experiments from files only",
            "drop --no-verify-tls: download the experiment, then `drill run FILE`",
        )
