"""`drill validate` and bad input: every problem at once, with file:line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clihelp import REPO, drill
from tests.e2e.defs import write

BAD_RUNBOOK = """id: broken
title: Broken runbook
steps:
  - name: fail over
    action: db.failovr
  - name: restore
    action: db.restore
    args:
      source: backup_vault
      colour: blue
  - name: wait forever
    kind: wait
"""


def test_reports_all_problems_with_lines(workdir: Path, capsys) -> None:
    rb = write(workdir, "runbooks/broken.yaml", BAD_RUNBOOK)
    res = drill(capsys, "validate", str(rb))
    assert res.code == 2
    err = res.err
    assert f"{rb}:11: a wait step needs duration or until (steps[2])" in err
    assert f"{rb}:5: unknown action 'db.failovr'" in err
    assert f"{rb}:10: unknown field 'colour'" in err
    assert "3 problem(s)" in err
    assert "Traceback" not in err


def test_unknown_action_lists_valid_names_and_bad_args(workdir: Path, capsys) -> None:
    rb = write(workdir, "runbooks/broken.yaml", BAD_RUNBOOK.rsplit("  - name: wait", 1)[0])
    res = drill(capsys, "validate", str(rb))
    assert res.code == 2
    assert f"{rb}:5: unknown action 'db.failovr' (did you mean 'db.failover'?)" in res.err
    assert "db.promote_replica" in res.err  # the valid names are listed
    assert f"{rb}:10: unknown field 'colour' (steps[1].args.colour)" in res.err


def test_invalid_yaml_points_at_line(workdir: Path, capsys) -> None:
    rb = write(workdir, "runbooks/bad.yaml", "id: x\ntitle: [unclosed\nsteps: []\n")
    res = drill(capsys, "validate", str(rb))
    assert res.code == 2
    assert f"{rb}:" in res.err and "invalid YAML" in res.err
    assert "Traceback" not in res.err


def test_invalid_yaml_on_run_is_exit_2(workdir: Path, capsys) -> None:
    rb = write(workdir, "runbooks/bad.yaml", "id: x\n  title: : :\n")
    res = drill(capsys, "run", str(rb), "--json")
    assert res.code == 2 and res.out == ""
    assert "invalid YAML" in res.err


def test_several_files_report_together(workdir: Path, capsys) -> None:
    write(workdir, "defs/a.yaml", "id: a\ntitle: A\nsteps:\n  - action: nope.nope\n")
    write(workdir, "defs/b.yaml", "id: b\ntitle: B\nscenarios:\n  - runbook: missing-one\n")
    res = drill(capsys, "validate", str(workdir / "defs"))
    assert res.code == 2
    assert "a.yaml:4" in res.err and "unknown action 'nope.nope'" in res.err
    assert "b.yaml" in res.err and "missing-one" in res.err
    assert "0 of 2 file(s) valid" in res.err


def test_invalid_experiment_reported(workdir: Path, capsys) -> None:
    exp = write(
        workdir,
        "experiments/bad.yaml",
        """title: bad
description: x
method:
  - type: action
    name: call-nothing
    provider: {type: python, module: os.path, func: no_such_function}
""",
    )
    res = drill(capsys, "validate", str(exp))
    assert res.code == 2
    assert f"{exp}:4" in res.err and "no_such_function" in res.err


def test_bundled_definitions_are_valid(workdir: Path, capsys) -> None:
    res = drill(capsys, "validate")
    assert res.code == 0, res.err
    assert "definition(s) valid" in res.err


def test_invalid_config_points_at_line(workdir: Path, capsys) -> None:
    write(
        workdir, "drill.yaml", "database: sqlite:///x.db\nenvironments:\n  prod: {provider: gcp}\n"
    )
    res = drill(capsys, "list")
    assert res.code == 2
    assert "drill.yaml:3" in res.err and "environments.prod.provider" in res.err


def test_missing_config_file(workdir: Path, capsys) -> None:
    res = drill(capsys, "--config", "nope.yaml", "list")
    assert res.code == 2 and "config file not found: nope.yaml" in res.err


def test_unreachable_database_is_clear(workdir: Path, capsys, monkeypatch) -> None:
    from orchestrator.pgbin import free_port

    port = free_port()
    monkeypatch.setenv(
        "DRILL_DATABASE", f"postgresql+psycopg://drill:s3cret@127.0.0.1:{port}/evidence"
    )
    res = drill(capsys, "runs", "list")
    assert res.code == 2
    assert "unreachable" in res.err and "s3cret" not in res.err
    assert "Traceback" not in res.err


def test_list_shows_bundled(workdir: Path, capsys) -> None:
    import json

    res = drill(capsys, "list", "--json")
    assert res.code == 0
    kinds = {(e["kind"], e["origin"]) for e in json.loads(res.out)}
    assert all(origin == "bundled" for _k, origin in kinds)


def test_help_teaches(capsys) -> None:
    res = drill(capsys, "--help")
    assert res.code == 0 and "drill run quarterly-dr" in res.out
    run_help = drill(capsys, "run", "--help")
    assert "Exit codes" in run_help.out and "--env" in run_help.out


def test_drill_scenario_paths_are_relative_to_the_drill_and_of_the_right_kind(
    workdir: Path, capsys, monkeypatch
) -> None:
    """A drill's scenario named by file path is read from the drill file's directory, as
    its var_files are; it was read from the working directory, so the same drill was
    valid in the project root and invalid anywhere else. A path to a file of another
    kind (a drill naming itself as a runbook) stopped `drill validate` at that one
    unlocated error, the other files' problems unreported; it is now one located
    problem among all the others."""
    rb = (
        (REPO / "runbooks" / "rds-failover.yaml")
        .read_text()
        .replace("id: rds-failover", "id: local-failover")
    )
    write(workdir, "runbooks/local-failover.yaml", rb)
    write(
        workdir,
        "drills/by-path.yaml",
        """id: by-path
title: scenarios named by file
scenarios:
  - runbook: ../runbooks/local-failover.yaml
""",
    )
    for where in (workdir, workdir / "drills", workdir / "runbooks"):
        monkeypatch.chdir(where)
        res = drill(capsys, "validate", str(workdir / "drills" / "by-path.yaml"))
        assert res.code == 0, (where, res.err)
        res = drill(capsys, "plan", str(workdir / "drills" / "by-path.yaml"), "--json")
        assert res.code == 0, (where, res.err)
    monkeypatch.chdir(workdir)
    me = write(
        workdir,
        "drills/me.yaml",
        """id: me
title: names itself
scenarios:
  - runbook: me.yaml
""",
    )
    write(workdir, "runbooks/other.yaml", "id: other\ntitle: no steps\n")
    res = drill(capsys, "validate")
    assert res.code == 2
    assert f"{me}:4: {me} is a drill, not a runbook (scenarios[0].runbook)" in res.err, res.err
    assert "other.yaml:1: Field required (steps)" in res.err, res.err  # still reported


def test_a_file_whose_name_says_secret_keeps_its_line_numbers(workdir: Path, capsys) -> None:
    """The redaction of every printed line read `secret-rotation.yaml:2: …` as a
    secret-named key and its value: each problem of that runbook said
    `secret-rotation.yaml:*** Input should be a valid string` — no line to go to."""
    rb = write(workdir, "runbooks/secret-rotation.yaml", "id: rot\ntitle: 5\n")
    res = drill(capsys, "validate", str(rb))
    assert res.code == 2
    assert f"{rb}:2: Input should be a valid string (title)" in res.err, res.err
    assert f"{rb}:1: Field required (steps)" in res.err, res.err


ROLE_TYPO = """id: analytics-failover
title: Fail over a database the lab does not have
steps:
  - name: fail over analytics
    action: db.failover
    args: {target: analytics_db}
  - name: the clone answers (isolated mode only)
    kind: probe
    action: db.health
    args: {target: clone_db}
    isolated: only
"""


def test_validate_env_checks_roles_as_plan_and_run_do(workdir: Path, capsys) -> None:
    """`drill validate` had no --env: a step naming a role the environment lacks passed
    it, and only `drill plan` / `drill run` refused it. Without --env: unchanged."""
    rb = write(workdir, "runbooks/analytics.yaml", ROLE_TYPO)
    write(
        workdir, "drills/d.yaml", "id: d\ntitle: d\nscenarios:\n  - runbook: analytics-failover\n"
    )
    assert drill(capsys, "validate", str(rb)).code == 0
    planned = drill(capsys, "plan", "analytics-failover", "--env", "lab")
    assert planned.code == 2 and f"{rb}:6:" in planned.err

    res = drill(capsys, "validate", "--env", "lab")
    assert res.code == 2, res.err
    lines = res.err.splitlines()
    assert lines[0] == "drill: error: 2 problem(s) in definitions:"  # each once, drill or not
    assert lines[1].startswith(f"  {rb}:6: step 'fail over analytics': db.failover: target ")
    assert lines[1].endswith("(steps[0].args.target)") and "'analytics_db'" in lines[1]
    # a step that runs in isolated mode only is checked in that mode
    assert lines[2].startswith(f"  {rb}:10: step 'the clone answers (isolated mode only)'")
    assert "primary_db" in lines[3]  # the hint: the roles the lab has
    isolated = drill(capsys, "plan", "analytics-failover", "--env", "lab", "--mode", "isolated")
    assert isolated.code == 2 and f"{rb}:10:" in isolated.err

    ok = drill(capsys, "validate", str(REPO / "runbooks"), "--env", "lab")
    assert ok.code == 0, ok.err
    assert "4 definition(s) valid (roles checked against lab)" in ok.err
    unknown = drill(capsys, "validate", "--env", "nope")
    assert unknown.code == 2 and "unknown environment 'nope'" in unknown.err


def test_preconditions_and_verification_may_not_change_anything(workdir: Path, capsys) -> None:
    """A `db.failover` in preconditions or verification passed validation, and as only
    steps and rollbacks were looked at to decide whether a run changes the environment,
    it ran on a `protected: true` environment with no --yes (`drill plan` said
    needs_confirmation: false). Both sections only look now: an action there is a
    located definition error, and nothing runs."""
    (workdir / "drill.yaml").write_text("environments:\n  prod: {provider: lab, protected: true}\n")
    pre = write(
        workdir,
        "runbooks/pre.yaml",
        "id: pre\ntitle: t\npreconditions:\n  - action: db.failover\n"
        "    args: {target: primary_db}\n"
        "  - activity: {type: action, name: a, provider: {type: python, module: os.path,"
        " func: exists, arguments: {path: /}}}\n"
        "steps:\n  - kind: wait\n    duration: 1s\n",
    )
    ver = write(
        workdir,
        "runbooks/ver.yaml",
        "id: ver\ntitle: t\nsteps:\n  - kind: wait\n    duration: 1s\n"
        "verification:\n  - action: db.failover\n    args: {target: primary_db}\n",
    )
    res = drill(capsys, "validate", str(pre), str(ver))
    assert res.code == 2
    assert f"{pre}:4: preconditions only look, and db.failover is an action" in res.err, res.err
    assert f"{pre}:6: preconditions only look, and an inline activity" in res.err, res.err
    assert f"{ver}:7: verification only look, and db.failover is an action" in res.err
    for rb in ("pre", "ver"):
        ran = drill(capsys, "run", rb, "--env", "prod", "--json")
        assert (ran.code, ran.out) == (2, ""), ran.err
    assert drill(capsys, "runs", "list", "--json").out.strip() == "[]"


def test_a_probe_step_running_an_inline_action_is_refused(workdir: Path, capsys) -> None:
    """`kind: probe` with an inline `type: action` activity was judged as changing
    nothing: run on a protected environment with no --yes."""
    (workdir / "drill.yaml").write_text("environments:\n  prod: {provider: lab, protected: true}\n")
    rb = write(
        workdir,
        "runbooks/ia.yaml",
        "id: ia\ntitle: t\nsteps:\n  - kind: probe\n"
        "    activity: {type: action, name: a, provider: {type: process, path: /bin/true}}\n",
    )
    res = drill(capsys, "validate", str(rb))
    assert res.code == 2
    assert f"{rb}:4: the activity is `type: action`, and the step says `kind: probe`" in res.err
    ran = drill(capsys, "run", "ia", "--env", "prod", "--json")
    assert (ran.code, ran.out) == (2, ""), ran.err


def test_files_of_a_clash_are_not_counted_valid(workdir: Path, capsys) -> None:
    """Two runbooks with one id: the hint said "2 of 2 file(s) valid; fix the rest"."""
    body = "id: dup\ntitle: t\nsteps:\n  - kind: wait\n    duration: 1s\n"
    write(workdir, "runbooks/a.yaml", body)
    write(workdir, "runbooks/b.yaml", body)
    res = drill(capsys, "validate", str(workdir / "runbooks"))
    assert res.code == 2 and "is also defined in" in res.err
    assert "hint: 0 of 2 file(s) valid; fix the rest" in res.err, res.err


ACTION = '  - {type: action, name: a, provider: {type: process, path: "true"}}\n'


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("method: null\n", "exp.yaml:3: method must be a list, not null (method)"),
        (
            f"configuration: [1, 2]\nmethod:\n{ACTION}",
            "exp.yaml:3: configuration must be a mapping, not list [1, 2] (configuration)",
        ),
        (f"method:\n{ACTION}rollbacks:\n", "exp.yaml:5: rollbacks must be a list, not null"),
        (f"method:\n{ACTION}  - just a string\n", "exp.yaml:5: an activity must be a mapping"),
        (
            f"method:\n{ACTION}  - {{type: action, name: b, pauses: [1], provider: "
            '{type: process, path: "true"}}\n',
            "exp.yaml:5: pauses must be a mapping (before, after), not list [1] (method[1].pauses)",
        ),
        (
            "method:\n  - type: action\n    name: a\n    provider:\n      type: python\n"
            "      module: os\n      func: getcwd\n      arguments: null\n",
            "exp.yaml:10: a python provider's arguments must be a mapping, not null",
        ),
        (
            f"controls:\n  - name: a\n    provider: {{type: python}}\nmethod:\n{ACTION}",
            "exp.yaml:4: Control 'a' must have a module path (controls[0])",
        ),
        (
            "steady-state-hypothesis:\n  title: h\n  controls: [{name: c}]\n  probes: []\n"
            f"method:\n{ACTION}",
            "exp.yaml:5: Control 'c' must have a `provider` property "
            "(steady-state-hypothesis.controls[0])",
        ),
        (
            'method:\n  - {type: action, name: a, provider: {type: process, path: "true"}, '
            "controls: 5}\n",
            "exp.yaml:4: controls must be a list, not int 5 (method[0].controls)",
        ),
        (
            f"configuration:\n  home: {{type: env}}\nmethod:\n{ACTION}",
            "exp.yaml:4: configuration 'home' of type env needs a `key`",
        ),
    ],
)
def test_an_experiment_chaoslib_crashes_on_is_said_where_and_why(
    workdir: Path, capsys, body: str, said: str
) -> None:
    """chaos validate ends on a traceback for these; drill said chaoslib's exception at
    line 1 ("invalid experiment: 'NoneType' object has no attribute 'items'")."""
    write(workdir, "exp.yaml", f"title: t\ndescription: d\n{body}")
    res = drill(capsys, "validate", "exp.yaml")
    assert res.code == 2 and said in res.err, res.err


def test_a_missing_environment_variable_is_located_and_explained(
    workdir: Path, capsys, monkeypatch
) -> None:
    """chaoslib's 'Secrets make reference to an environment key that does not exist: X'
    was reported at line 1, with 'fix it' as if the file were wrong."""
    monkeypatch.delenv("I5_API_TOKEN", raising=False)
    write(
        workdir,
        "exp.yaml",
        "title: t\ndescription: d\nsecrets:\n  api:\n    token:\n      type: env\n"
        f"      key: I5_API_TOKEN\nmethod:\n{ACTION}",
    )
    res = drill(capsys, "validate", "exp.yaml")
    assert res.code == 2
    assert (
        "exp.yaml:5: Secrets make reference to an environment key that does not exist: " in res.err
    )
    assert "I5_API_TOKEN (set it in the environment or with a .env --var-file)" in res.err
    assert "(secrets.api.token)" in res.err


def test_a_probe_as_tolerance_chaoslib_rejects_is_pointed_at(workdir: Path, capsys) -> None:
    """chaoslib names the tolerance's probe; drill looked for that name among the
    activities only, then matched the module name quoted in the message to a method
    action using the same module, and pointed there."""
    write(
        workdir,
        "exp.yaml",
        """title: t
description: d
steady-state-hypothesis:
  title: h
  probes:
    - type: probe
      name: root
      tolerance:
        type: probe
        name: check-root
        provider: {type: python, module: no_such_module_i5, func: ok}
      provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
method:
  - type: action
    name: act
    provider: {type: python, module: no_such_module_i5, func: act}
""",
    )
    res = drill(capsys, "validate", "exp.yaml")
    assert res.code == 2
    assert "exp.yaml:8: could not find Python module 'no_such_module_i5' in activity" in res.err
    assert "(steady-state-hypothesis.probes[0].tolerance)" in res.err


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (
            "arguments: 5",
            "exp.yaml:9: a process provider's arguments must be a string, a list or a mapping, "
            "not int 5 (method[0].provider.arguments)",
        ),
        (
            "timeout: abc",
            "exp.yaml:9: a process provider's timeout must be a number of seconds, "
            "not str 'abc' (method[0].provider.timeout)",
        ),
        (
            "timeout: abc\n      url: http://127.0.0.1:9/",
            "exp.yaml:9: an http provider's timeout must be a number of seconds or "
            "[connect, read], not str 'abc' (method[0].provider.timeout)",
        ),
        (
            "method: 5\n      url: http://127.0.0.1:9/",
            "exp.yaml:9: an http provider's method must be a string, not int 5 "
            "(method[0].provider.method)",
        ),
        (
            "max_retries: abc\n      url: http://127.0.0.1:9/",
            "exp.yaml:9: an http provider's max_retries must be a whole number, not str 'abc' "
            "(method[0].provider.max_retries)",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_a_provider_chaoslib_cannot_run_is_refused_up_front(
    workdir: Path, capsys, command: str, line: str, said: str
) -> None:
    """chaos validate accepts these (chaoslib does not look at them); drill ran the
    experiment and failed it when the action started ("experiment aborted: TypeError",
    "ValueError: Timeout value connect was abc", "AttributeError: 'int' object has no
    attribute 'upper'" for http)."""
    write(
        workdir,
        "exp.yaml",
        "title: t\ndescription: d\nmethod:\n  - type: action\n    name: a\n    provider:\n"
        f"      type: {'http' if 'url' in line else 'process'}\n"
        f'      path: "true"\n      {line}\n',
    )
    res = drill(capsys, command, "exp.yaml", *(["--json"] if command == "run" else []))
    assert res.code == 2, res.err
    assert f"drill: error: {said}" in res.err
    assert res.out == ""


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_invalid_json_path_tolerance_is_said_once(workdir: Path, capsys, command: str) -> None:
    """jsonpath2's parser prints its own syntax error on stderr; drill validates several
    times over, and the line came out four times before drill's error said the same."""
    write(
        workdir,
        "exp.yaml",
        """title: t
description: d
steady-state-hypothesis:
  title: h
  probes:
    - type: probe
      name: p
      tolerance: {type: jsonpath, path: "$.[[[", expect: 1}
      provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
method:
  - {type: action, name: a, provider: {type: process, path: "true"}}
""",
    )
    res = drill(capsys, command, "exp.yaml")
    assert res.code == 2
    assert res.err.startswith(
        "drill: error: exp.yaml:8: hypothesis probe tolerance JSON path $.[[[ is invalid "
        "(steady-state-hypothesis.probes[0].tolerance)"
    ), res.err
    assert "mismatched input" not in res.err


def test_a_duplicate_key_in_a_json_experiment_is_said_as_json(workdir: Path, capsys) -> None:
    """The warning said "invalid YAML: … chaos accepts this file (it reads it with
    PyYAML)": a .json experiment is neither YAML to drill nor read by PyYAML in chaos."""
    write(
        workdir,
        "exp.json",
        '{\n  "title": "t",\n  "title": "t2",\n  "description": "d",\n  "method": [{"type": '
        '"action", "name": "a", "provider": {"type": "process", "path": "true"}}]\n}\n',
    )
    res = drill(capsys, "validate", "exp.json")
    assert res.code == 0, res.err
    assert (
        'drill: warning: exp.json:3: duplicate key "title" with value "t2" (original value: '
        '"t") — chaos accepts this file (it reads it with Python\'s json module); drill runs '
        "it as chaos reads it"
    ) in res.err
    assert "YAML" not in res.err
