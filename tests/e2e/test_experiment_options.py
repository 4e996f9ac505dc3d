"""`drill run EXPERIMENT` takes `chaos run`'s options with their meaning (DESIGN 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import drill, run
from tests.e2e.defs import experiment, write

VARS_EXP = """title: vars ${who}
description: configuration from --var, --var-file and the environment
configuration:
  who: nobody
  target:
    type: env
    key: I15_TARGET
    default: unset
steady-state-hypothesis:
  title: nothing
  probes:
    - type: probe
      name: who-is-set
      tolerance: alice
      provider: {type: python, module: os.path, func: basename, arguments: {p: "${who}"}}
method:
  - type: action
    name: write-target
    provider: {type: python, module: tests.faults, func: touch, arguments: {path: "${target}"}}
"""


def _journal(path: Path) -> dict:
    return json.loads(path.read_text())


def test_var_and_var_file_substitute_and_journal_is_written(
    workdir: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("I15_TARGET", "restored after the test")  # the .env file sets it
    exp = write(workdir, "exp.yaml", VARS_EXP)
    write(workdir, "vars.yaml", "configuration:\n  who: bob\n")  # --var wins, as in chaos
    write(workdir, "env.env", f"# target file\nI15_TARGET={workdir / 'target'}\n")
    res = drill(
        capsys,
        "run",
        str(exp),
        "--var",
        "who=alice",
        "--var-file",
        str(workdir / "vars.yaml"),
        "--var-file",
        str(workdir / "env.env"),
        "--journal-path",
        str(workdir / "journal.json"),
        "--json",
    )
    assert res.code == 0, res.err
    journal = _journal(workdir / "journal.json")
    assert journal["status"] == "completed" and journal["deviated"] is False
    assert journal["steady_states"]["before"]["probes"][0]["output"] == "alice"
    assert (workdir / "target").exists()
    assert {
        "status",
        "deviated",
        "steady_states",
        "run",
        "rollbacks",
        "start",
        "end",
        "duration",
    } <= set(journal)


def test_typed_var(workdir: Path, capsys) -> None:
    exp = write(workdir, "exp.yaml", VARS_EXP)
    res = drill(
        capsys, "run", str(exp), "--var", "who:int=3", "--journal-path", str(workdir / "j.json")
    )
    # basename(3) raises: the probe fails before the method (chaos: status failed)
    assert res.code == 1
    journal = _journal(workdir / "j.json")
    assert journal["status"] == "failed"
    assert journal["steady_states"]["before"]["steady_state_met"] is False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--var", "novalue"], "--var 'novalue'"),
        (["--var", "n:complex=1"], "--var 'n:complex=1'"),
        (["--var-file", "missing.yaml"], "--var-file missing.yaml"),
        (["--rollback-strategy", "sometimes"], "--rollback-strategy"),
        (["--dry", "everything"], "--dry"),
        (["--hypothesis-strategy", "later"], "--hypothesis-strategy"),
        (["--hypothesis-frequency", "0"], "--hypothesis-frequency"),
        (["--journal-path", "no/such/dir/j.json"], "--journal-path"),
        (["--control-file", "missing.yaml"], "--control-file missing.yaml"),
        # a directory was "no such file"
        (["--var-file", "."], "--var-file .: a directory, not a file"),
        (["--control-file", "."], "--control-file .: a directory, not a file"),
        (["--var-file", "/dev/null"], "--var-file /dev/null: not a regular file"),
    ],
)
def test_bad_options_are_usage_errors(workdir: Path, capsys, args: list[str], needle: str) -> None:
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), *args)
    assert res.code == 2, res.err
    assert needle in res.err and "Traceback" not in res.err
    assert not (workdir / "m").exists(), "nothing ran"


def test_an_experiment_url_is_refused_saying_so(workdir: Path, capsys) -> None:
    """`chaos run https://…/experiment.json` fetches the experiment; drill said "no such
    file: https://…" with the hint "check the path", as if it were a typo. Nothing is
    fetched (only 127.0.0.1 is named here, and nothing listens on port 9)."""
    url = "http://127.0.0.1:9/experiments/exp.yaml"
    for command in (["run", url], ["plan", url], ["validate", url]):
        res = drill(capsys, *command)
        assert res.code == 2, res.err
        assert f"drill: error: {url}: drill runs definitions from files, not URLs" in res.err
        assert "curl -fLo experiment.json URL" in res.err and "no such file" not in res.err


def test_a_bad_typed_var_is_named_and_the_types_chaos_takes_are_listed(
    workdir: Path, capsys
) -> None:
    """The hint said "TYPE is one of str, int, float, bytes" right under chaoslib's own
    "variable type can only be: bool, str, int, float, bytes or json" (bool and json
    work); and a bad value was blamed on the first typed --var given, not on itself."""
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--var", "a:int=1", "--var", "b:int=x", "--var", "c:x=1")
    assert res.code == 2 and "--var 'b:int=x'" in res.err, res.err
    assert "hint: TYPE is one of str, int, float, bytes, bool, json" in res.err, res.err
    res = drill(capsys, "run", str(exp), "--var", "a:int=1", "--var", "c:x=1")
    assert res.code == 2 and "--var 'c:x=1'" in res.err, res.err
    assert "bool, json" in drill(capsys, "run", "--help").out
    assert not (workdir / "m").exists(), "nothing ran"


def test_a_control_file_python_control_without_module_is_refused(workdir: Path, capsys) -> None:
    """chaoslib's loading of it raised KeyError: 'module': the run started and ended on
    'internal error: KeyError' with an internal_error finding (chaos: a traceback)."""
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    write(workdir, "controls.yaml", "tracing:\n  provider:\n    type: python\n")
    res = drill(capsys, "run", str(exp), "--control-file", str(workdir / "controls.yaml"))
    assert res.code == 2, res.err
    assert "controls.yaml:2: control 'tracing' must have a module path" in res.err
    assert not (workdir / "m").exists(), "nothing ran"
    write(workdir, "none.yaml", "")  # chaos skips an empty control file: so does drill
    res = drill(capsys, "run", str(exp), "--control-file", str(workdir / "none.yaml"))
    assert res.code == 0, res.err


def test_bad_var_file_names_file_and_line(workdir: Path, capsys) -> None:
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    write(workdir, "bad.yaml", "configuration:\n  a: [1,\n")
    write(workdir, "bad.env", "A=1\nnot a pair\n")
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "bad.yaml"))
    assert res.code == 2 and "bad.yaml:" in res.err
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "bad.env"))
    assert res.code == 2 and "bad.env:2" in res.err
    write(workdir, "nokey.env", "A=1\n=value\n")  # os.environ[""]: OSError in chaoslib
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "nokey.env"))
    assert res.code == 2 and "nokey.env:2: KEY is empty" in res.err, res.err
    (workdir / "nul.env").write_bytes(b"A=1\x00\n")
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "nul.env"))
    assert res.code == 2 and "nul.env:1: a NUL byte" in res.err, res.err


def test_a_json_var_file_chaos_cannot_read_is_refused(workdir: Path, capsys) -> None:
    """chaos reads a .json var file with json.load, and only logs one it cannot read: a
    trailing comma (valid YAML, which drill checked it as) had the run go on with the
    experiment's defaults — another target than the var file named."""
    exp = write(workdir, "exp.yaml", VARS_EXP.replace("tolerance: alice", "tolerance: nobody"))
    write(workdir, "vars.json", '{\n  "configuration": {\n    "target": "t",\n  }\n}\n')
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "vars.json"))
    assert res.code == 2, res.err
    assert f"{workdir / 'vars.json'}:4: invalid JSON" in res.err
    assert not (workdir / "unset").exists() and not (workdir / "t").exists(), "nothing ran"
    write(workdir, "nothing.json", "{}\n")  # chaos reads it as a .env file: a traceback
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "nothing.json"))
    assert res.code == 2, res.err
    assert "nothing.json:1: no configuration or secrets in this var file" in res.err
    assert "internal error" not in res.err and not (workdir / "unset").exists()
    write(workdir, "empty.json", "")  # chaos skips an empty var file: so does drill
    res = drill(capsys, "run", str(exp), "--var-file", str(workdir / "empty.json"))
    assert res.code == 0, res.err


@pytest.mark.parametrize(
    ("runtime", "said"),
    [
        ("hypothesis: {strategy: whenever}", "unknown hypothesis strategy 'whenever'"),
        ("rollbacks: {strategy: alwyas}", "unknown rollback strategy 'alwyas'"),
    ],
)
def test_an_unknown_runtime_strategy_is_a_definition_error(
    workdir: Path, capsys, runtime: str, said: str
) -> None:
    """chaoslib does not validate the experiment's runtime: an unknown hypothesis strategy
    failed the run (exit 1, 'chaoslib raised ValueError: Unknown strategy') after playing
    the rollbacks of a method never run; an unknown rollback strategy played none."""
    touch = "{type: python, module: tests.faults, func: touch, arguments: {path: %s}}"
    exp = write(
        workdir,
        "exp.yaml",
        "title: a runtime chaos cannot run\ndescription: x\n"
        f"method:\n  - {{type: action, name: act, provider: {touch % (workdir / 'm')}}}\n"
        f"rollbacks:\n  - {{type: action, name: undo, provider: {touch % (workdir / 'u')}}}\n"
        f"runtime:\n  {runtime}\n",
    )
    res = drill(capsys, "run", str(exp))
    assert res.code == 2, res.err
    assert f"exp.yaml:{len(exp.read_text().splitlines())}: {said}" in res.err
    assert not (workdir / "m").exists() and not (workdir / "u").exists(), "nothing ran"


@pytest.mark.parametrize(
    ("runtime", "said"),
    [
        ("hypothesis: {strategy: whenever}", "unknown hypothesis strategy 'whenever'"),
        ("rollbacks: {strategy: alwyas}", "unknown rollback strategy 'alwyas'"),
    ],
)
def test_an_unknown_strategy_of_the_chaos_settings_is_refused(
    workdir: Path, capsys, runtime: str, said: str
) -> None:
    """The same strategies from the Chaos Toolkit settings (`--settings`, default
    ~/.chaostoolkit/settings.yaml): the run failed after its rollbacks, or played none."""
    settings = write(workdir, "settings.yaml", f"runtime:\n  {runtime}\n")
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--settings", str(settings))
    assert res.code == 2, res.err
    assert f"settings.yaml: {said}" in res.err and "nothing was started" in res.err
    assert not (workdir / "m").exists(), "nothing ran"
    flag = "--hypothesis-strategy" if "hypothesis" in runtime else "--rollback-strategy"
    res = drill(capsys, "run", str(exp), "--settings", str(settings), flag, "default")
    assert res.code == 0, "the command line wins over the settings, as in chaos"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("runtime:\n  rollbacks: always\n", "runtime.rollbacks must be a mapping, not str"),
        ("runtime: 5\n", "runtime must be a mapping, not int 5"),
        ("controls: 5\n", "controls must be a mapping, not int 5"),
        ("- a list\n", "the settings must be a mapping, not list"),
        (
            "controls:\n  tracing:\n    provider: {type: python}\n",
            "control 'tracing' must have a module path (controls.tracing)",
        ),
    ],
)
def test_chaos_settings_of_the_wrong_kind_are_refused(
    workdir: Path, capsys, text: str, said: str
) -> None:
    """'runtime: {rollbacks: always}' ended drill on 'internal error: AttributeError …
    this is a bug in drill'; 'controls: 5' failed the run (chaos: a traceback)."""
    settings = write(workdir, "settings.yaml", text)
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--settings", str(settings))
    assert res.code == 2 and f"settings.yaml: {said}" in res.err, res.err
    assert not (workdir / "m").exists(), "nothing ran"


def test_chaos_settings_that_are_not_yaml_are_one_warning(workdir: Path, capsys) -> None:
    """chaos carries on without such settings, and so does drill; but it printed
    chaoslib's 'Failed parsing YAML settings: while parsing a flow sequence …' over six
    lines with a caret, not drill's file:line."""
    settings = write(workdir, "settings.yaml", "runtime:\n  rollbacks: [\n  hypothesis: x\n")
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--settings", str(settings))
    assert res.code == 0, "the experiment ran, without the settings"
    warning = (
        f"drill: warning: {settings}:4: invalid YAML: expected ',' or ']', but got "
        "'<stream end>'; carrying on without these Chaos Toolkit settings (as chaos does)\n"
    )
    assert warning in res.err, res.err
    assert res.err.count("expected ','") == 1 and "^" not in res.err


def test_chaos_settings_that_are_not_utf8_are_refused(workdir: Path, capsys) -> None:
    """chaos ends on a UnicodeDecodeError traceback; drill said 'internal error:
    UnicodeDecodeError … this is a bug in drill' (exit 1)."""
    settings = workdir / "settings.yaml"
    settings.write_bytes(b'runtime:\n  x: "\xff"\n')
    exp = write(workdir, "exp.yaml", experiment(workdir / "m"))
    res = drill(capsys, "run", str(exp), "--settings", str(settings))
    assert res.code == 2, res.err
    assert f"drill: error: {settings}:2: not valid UTF-8 (byte 0xff)" in res.err
    assert "nothing was started" in res.err and not (workdir / "m").exists()


@pytest.mark.parametrize(
    ("strategy", "played"),
    [("always", True), ("default", True), ("never", False), ("deviated", False)],
)
def test_rollback_strategy_on_completed_run(
    workdir: Path, capsys, strategy: str, played: bool
) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker))
    res = drill(
        capsys,
        "run",
        str(exp),
        "--rollback-strategy",
        strategy,
        "--journal-path",
        str(workdir / "j.json"),
    )
    assert res.code == 0, res.err
    assert (workdir / "marker.rolled-back").exists() is played
    assert bool(_journal(workdir / "j.json")["rollbacks"]) is played


def test_default_strategy_skips_rollbacks_after_deviation_but_drill_default_plays(
    workdir: Path, capsys
) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker, deviate=True))
    assert drill(capsys, "run", str(exp)).code == 1
    assert (workdir / "marker.rolled-back").exists(), "drill's default: always"
    (workdir / "marker.rolled-back").unlink()
    (workdir / "marker.broken").unlink()  # the steady state holds again
    assert drill(capsys, "run", str(exp), "--rollback-strategy", "deviated").code == 1
    assert (workdir / "marker.rolled-back").exists()


def test_dry_actions_runs_no_action(workdir: Path, capsys) -> None:
    marker = workdir / "marker"
    exp = write(workdir, "exp.yaml", experiment(marker, pause=600))
    res = drill(
        capsys, "run", str(exp), "--dry", "actions", "--journal-path", str(workdir / "j.json")
    )
    assert res.code == 0, res.err
    assert not marker.exists()
    assert _journal(workdir / "j.json")["experiment"]["dry"] == "actions"


NOT_STEADY = """title: not steady
description: the steady state does not hold to begin with
steady-state-hypothesis:
  title: a file that is not there
  probes:
    - type: probe
      name: marker-present
      tolerance: true
      provider: {type: python, module: os.path, func: exists, arguments: {path: /no/such/i15}}
method:
  - type: action
    name: touch
    provider: {type: python, module: tests.faults, func: touch, arguments: {path: "MARK"}}
"""


def test_steady_state_not_met_before_method_fails_the_run(workdir: Path, capsys) -> None:
    exp = write(workdir, "exp.yaml", NOT_STEADY.replace("MARK", str(workdir / "m")))
    res = drill(capsys, "run", str(exp), "--json")
    assert res.code == 1
    doc = json.loads(res.out)
    shown = json.loads(drill(capsys, "runs", "show", doc["run_id"], "--json").out)
    assert [f["title"] for f in shown["findings"]] == ["exp: system not in steady state"]
    assert not (workdir / "m").exists(), "the method never ran"


ROLLBACK_EXIT_1 = """title: rollback exits 1
description: its rollback process exits 1
method:
  - type: probe
    name: noop
    provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
rollbacks:
  - type: action
    name: undo-that-fails
    provider: {type: process, path: "false"}
"""


def test_rollback_process_exit_nonzero_is_a_failed_rollback(workdir: Path, capsys) -> None:
    exp = write(workdir, "exp.yaml", ROLLBACK_EXIT_1)
    res = drill(capsys, "run", str(exp), "--json")
    assert res.code == 1
    assert json.loads(res.out)["status"] == "rollback_failed"
    # the rollback's own step says so too: it said "succeeded", as chaoslib has it,
    # beside "experiment rollback(s) failed: undo-that-fails"
    shown = json.loads(drill(capsys, "runs", "show", json.loads(res.out)["run_id"], "--json").out)
    (step,) = [s for s in shown["steps"] if s["name"] == "undo-that-fails"]
    assert (step["status"], step["error"]) == ("failed", "the process exited 1: not undone")


def test_schedule_carries_vars_and_var_files_to_each_run(workdir: Path, capsys) -> None:
    """`drill schedule add … --var --var-file`: stored with the schedule, and the run the
    scheduler launches (a real `drill run` child) substitutes them."""
    from orchestrator.config import load_settings
    from orchestrator.schedule.launcher import ChildLauncher, RunRequest

    (workdir / "drill.yaml").write_text("database: sqlite:///state/evidence.db\n")
    write(workdir, "experiments/vars-exp.yaml", VARS_EXP)
    write(workdir, "vars/prod.env", f"I15_TARGET={workdir / 'from-schedule'}\n")
    bad = drill(
        capsys, "schedule", "add", "vars-exp", "--env", "lab", "--every", "1h", "--var", "oops"
    )
    assert bad.code == 2 and "--var 'oops'" in bad.err
    res = drill(
        capsys,
        "schedule",
        "add",
        "vars-exp",
        "--env",
        "lab",
        "--every",
        "1h",
        "--var",
        "who=alice",
        "--var-file",
        "vars/prod.env",
        "--json",
    )
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["run_args"] == [
        "--var",
        "who=alice",
        "--var-file",
        str(workdir / "vars" / "prod.env"),
    ]
    listed = json.loads(drill(capsys, "schedule", "list", "--json").out)
    assert listed[0]["run_args"] == doc["run_args"]
    launcher = ChildLauncher(load_settings())
    result = launcher.run(
        RunRequest(
            "vars-exp",
            "lab",
            "schedule",
            schedule_id=doc["id"],
            run_args=tuple(listed[0]["run_args"]),
        )
    )
    assert result.exit_code == 0, result.error
    assert (workdir / "from-schedule").exists(), "the .env var file reached the run"


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "played"), [(None, True), ("default", False)])
def test_sigterm_interrupts_journal_and_follows_rollback_strategy(
    workdir: Path, strategy: str | None, played: bool
) -> None:
    """chaos: an interrupted run plays rollbacks only with `always`; drill's default is
    always. Either way the run is aborted (exit 3) and the journal says interrupted."""
    import signal

    from tests.clihelp import spawn
    from tests.e2e.test_signals import wait_for

    marker, held = workdir / "marker", workdir / "held"
    exp = write(workdir, "exp.yaml", experiment(marker, held=held))
    extra = ["--rollback-strategy", strategy] if strategy else []
    proc = spawn(
        workdir, "run", str(exp), "--json", "--journal-path", str(workdir / "j.json"), *extra
    )
    wait_for(held)
    proc.send_signal(signal.SIGTERM)
    (workdir / "held.release").touch()  # the action a stop lets end
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert json.loads(out)["status"] == "aborted"
    journal = _journal(workdir / "j.json")
    assert journal["status"] == "interrupted" and {"end", "duration"} <= set(journal)
    assert (workdir / "marker.rolled-back").exists() is played
    assert bool(journal["rollbacks"]) is played


def test_drill_scenario_names_vars_and_var_files(workdir: Path, capsys, monkeypatch) -> None:
    """A drill's experiment scenario carries vars/var_files (relative to the drill file);
    a --var on the command line wins."""
    monkeypatch.setenv("I15_TARGET", "restored after the test")
    write(workdir, "experiments/vars-exp.yaml", VARS_EXP)
    write(workdir, "drills/env/prod.env", f"I15_TARGET={workdir / 'from-drill'}\n")
    write(
        workdir,
        "drills/with-vars.yaml",
        """id: with-vars
title: an experiment with its vars
scenarios:
  - experiment: vars-exp
    vars: {who: bob}
    var_files: [env/prod.env]
""",
    )
    assert drill(capsys, "run", "with-vars").code == 1  # bob is not alice: not steady
    assert not (workdir / "from-drill").exists()
    res = drill(capsys, "run", "with-vars", "--var", "who=alice")
    assert res.code == 0, res.err
    assert (workdir / "from-drill").exists()
    write(
        workdir,
        "drills/bad-vars.yaml",
        """id: bad-vars
title: a missing var file
scenarios:
  - experiment: vars-exp
    var_files: [missing.env]
""",
    )
    res = drill(capsys, "validate", str(workdir / "drills" / "bad-vars.yaml"))
    assert res.code == 2 and "bad-vars.yaml:5" in res.err and "missing.env" in res.err


def test_drill_scenario_env_var_file_is_applied_before_validation(
    workdir: Path, capsys, monkeypatch
) -> None:
    """An `env` secret the experiment needs comes from the scenario's .env var file:
    applied before chaoslib validates the experiment, as `chaos run --var-file` does."""
    monkeypatch.setenv("CORPUS_API_TOKEN", "restored after the test")
    monkeypatch.delenv("CORPUS_API_TOKEN")
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    write(
        workdir,
        "experiments/secrets-env.yaml",
        (corpus / "experiments" / "17-secrets-env.yaml").read_text(),
    )
    write(workdir, "drills/api.env", "CORPUS_API_TOKEN=from-dot-env\n")
    write(
        workdir,
        "drills/secret.yaml",
        """id: secret
title: needs an env secret
scenarios:
  - experiment: secrets-env
    vars: {workdir: /tmp}
    var_files: [api.env]
""",
    )
    res = drill(capsys, "run", "secret")
    assert res.code == 0, res.err


@pytest.mark.parametrize("where", ["/dev/full", "fifo"])
def test_a_journal_path_that_cannot_be_written_is_said_not_an_internal_error(
    workdir: Path, capsys, where: str
) -> None:
    """--journal-path on a full device ended the run with 'internal error: OSError:
    [Errno 28] No space left on device'; a FIFO that nobody reads hung drill for good.
    Each is a failed run (exit 1) naming the option and why; the rollbacks ran and the
    evidence keeps the journal."""
    import os

    path = Path(where)
    if where == "fifo":
        path = workdir / ("a-long-directory-name-" * 4) / "journal.fifo"  # > a line: whole
        path.parent.mkdir()
        os.mkfifo(path)
    marker = workdir / "m"
    exp = write(workdir, "exp.yaml", experiment(marker))
    res = drill(capsys, "run", str(exp), "--journal-path", str(path))
    assert res.code == 1, res.err
    why = "No space left on device" if where == "/dev/full" else "no process reads that FIFO"
    said = " ".join(res.err.split())
    assert f"--journal-path {path}: the journal could not be written ({why})" in said, res.err
    assert "internal error" not in said, res.err
    listed = json.loads(drill(capsys, "runs", "list", "--json").out)
    assert [r["status"] for r in listed] == ["failed"] and not marker.exists()


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("--no-validation", "drill validates every experiment before it runs it"),
        ("--no-verify-tls", "drill runs experiments from files only"),
    ],
)
def test_chaos_run_options_drill_does_not_take_say_why(
    workdir: Path, capsys: pytest.CaptureFixture[str], option: str, said: str
) -> None:
    """A CI script's `chaos run --no-validation|--no-verify-tls exp.json` ported to
    `drill run` got click's bare "No such option"; it now says why, and nothing runs."""
    marker = workdir / "m"
    exp = write(workdir, "exp.yaml", experiment(marker))
    res = drill(capsys, "run", str(exp), option)
    assert res.code == 2 and res.out == ""
    text = " ".join(res.err.split())
    assert f"{option} is a `chaos run` option" in text and said in text, res.err
    assert not marker.exists()


def test_the_journal_path_is_where_drill_was_told_whatever_an_activity_chdirs(
    workdir: Path,
) -> None:
    """--journal-path j.json was opened when the run ended, relative to the working
    directory of that moment: an activity that changed it (a library's os.chdir) had the
    journal written into that other directory — over a file of that name there."""
    away = workdir / "away"
    away.mkdir()
    chdir = {"type": "python", "module": "tests.faults", "func": "chdir"}
    chdir["arguments"] = {"path": str(away)}
    doc = {
        "title": "an activity changes directory",
        "description": "as a library may",
        "method": [{"type": "action", "name": "chdir", "provider": chdir}],
    }
    (workdir / "exp.json").write_text(json.dumps(doc))
    res = run(workdir, "run", "exp.json", "--journal-path", "j.json")
    assert res.code == 0, res.err
    assert json.loads((workdir / "j.json").read_text())["status"] == "completed"
    assert not (away / "j.json").exists()


def test_rollbacks_chaoslib_crashed_in_are_a_failed_rollback(workdir: Path, capsys) -> None:
    """A rollback's pause chaoslib cannot read (`--var wait=0.2` is a string) ends
    chaoslib inside its rollbacks, before the undo: drill recorded 'experiment rollbacks:
    succeeded' and the run 'failed', the fault left in place with nothing saying so."""
    marker = workdir / "fault"
    exp = write(
        workdir,
        "exp.yaml",
        f"""title: a rollback chaoslib cannot play
description: its pause is a string
configuration:
  wait: 0.1
method:
  - type: action
    name: inject
    provider: {{type: python, module: tests.faults, func: touch, arguments: {{path: "{marker}"}}}}
rollbacks:
  - type: action
    name: undo
    pauses: {{before: "${{wait}}"}}
    provider: {{type: python, module: tests.faults, func: remove, arguments: {{path: "{marker}"}}}}
""",
    )
    res = drill(capsys, "run", str(exp), "--var", "wait=0.2", "--json")
    assert res.code == 1, res.err
    assert json.loads(res.out)["status"] == "rollback_failed", res.out
    assert marker.exists(), "the undo never ran: the run says so"
    assert "a rollback failed" in res.err
