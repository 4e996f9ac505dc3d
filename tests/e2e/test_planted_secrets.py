"""Secrets planted in every input path never reach the evidence DB, output or bundle.

One run plants known secrets where an operator's would be: an experiment's ``secrets:``
(inline and an env reference) and ``configuration:`` DSN, AWS keys and tokens and a
password in the environment (printed by a process probe running ``env``), free text
(``token=``, ``password=``, ``Authorization: Bearer``), a DSN in every hard spelling in an
error, and a runbook rollback whose activity holds a DSN. Then the raw bytes of
everything drill wrote — the evidence database files, stdout/stderr of every command
and the export bundle (each member, decompressed) — are searched for each secret.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.clihelp import spawn
from tests.e2e.defs import write

SECRETS = {
    "inline": "InlinePassw0rdVal",
    "inline_other": "InlineOtherS3cret",
    "env_ref": "EnvRefS3cretVal",
    "cfg_dsn": "CfgDsnPassw0rd",
    "aws_secret": "AwsSecretKeyVal123",
    "aws_token": "AwsSessionTokVal456",
    "pgpassword": "PgPassEnvVal789",
    "free_token": "FreeTextTok3n",
    "free_password": "FreeTextPassw0rd",
    "bearer": "BearerTok3nVal",
    "no_user_dsn": "NoUserDsnPassw0rd",
    "at_dsn": "AtIn@DsnPassw0rd",
    "space_dsn": "Space In DsnPassw0rd",
    "runbook_dsn": "RunbookDsnPassw0rd",
}
ENV = {
    "AWS_SECRET_ACCESS_KEY": SECRETS["aws_secret"],
    "AWS_SESSION_TOKEN": SECRETS["aws_token"],
    "PGPASSWORD": SECRETS["pgpassword"],
    "APP_REF_SECRET": SECRETS["env_ref"],
    "AWS_ACCESS_KEY_ID": "AKIATESTPLANTED",
}
FAIL_MESSAGE = (
    f"cannot reach postgresql+psycopg://:{SECRETS['no_user_dsn']}@127.0.0.1:1/x, "
    f"postgresql://u:{SECRETS['at_dsn']}@127.0.0.1:1/x or "
    f"postgresql://u:{SECRETS['space_dsn']}@127.0.0.1:1/x"
)
STEADY = """steady-state-hypothesis:
  title: the filesystem is there
  probes:
    - type: probe
      name: root-exists
      tolerance: true
      provider: {type: python, module: os.path, func: exists, arguments: {path: /}}
"""
FREE_TEXT = (
    f"token={SECRETS['free_token']} password={SECRETS['free_password']} "
    f"Authorization: Bearer {SECRETS['bearer']}"
)

EXPERIMENT = f"""title: planted secrets
description: every input path carries a known secret
secrets:
  app:
    password: {SECRETS["inline"]}
    other: {SECRETS["inline_other"]}
    from_env: {{type: env, key: APP_REF_SECRET}}
configuration:
  db_dsn: "postgresql://app:{SECRETS["cfg_dsn"]}@127.0.0.1:1/app"
{STEADY}method:
  - type: probe
    name: dump-env
    provider: {{type: process, path: env}}
  - type: probe
    name: free-text
    provider:
      type: process
      path: echo
      arguments: "{FREE_TEXT}"
  - type: action
    name: fail-with-dsns
    provider:
      type: python
      module: tests.faults
      func: fail
      arguments: {{message: "{FAIL_MESSAGE}"}}
rollbacks:
  - type: probe
    name: dump-env-again
    provider: {{type: process, path: env}}
"""

RUNBOOK = f"""id: planted-runbook
title: Planted runbook
scenario: test
steps:
  - name: a step that fails with a DSN
    kind: action
    activity: {{type: action, name: fail, provider: {{type: python, module: tests.faults,
               func: fail, arguments: {{message: "postgresql://u:{SECRETS["runbook_dsn"]}@127.0.0.1:1/x"}}}}}}
rollback:
  - name: a rollback whose activity holds a DSN
    kind: action
    activity: {{type: action, name: echo, provider: {{type: process, path: echo,
               arguments: "postgresql://u:{SECRETS["runbook_dsn"]}@127.0.0.1:1/x"}}}}
"""


def _drill(cwd: Path, *args: str) -> tuple[int, str, str]:
    proc = spawn(cwd, *args, env=ENV)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def _leaks(blob: bytes) -> list[str]:
    return [name for name, value in SECRETS.items() if value.encode() in blob]


@pytest.mark.slow
def test_planted_secrets_never_stored_or_exported(workdir: Path) -> None:
    exp = write(workdir, "exp.yaml", EXPERIMENT)
    rb = write(workdir, "runbooks/planted.yaml", RUNBOOK)
    outputs: list[str] = []
    journal = workdir / "journal.json"  # chaos's --journal-path: a file drill writes too
    # the experiment's failing action is recorded with its error (chaos semantics: the
    # run still succeeds); the runbook's failing step fails the run and makes a finding
    for target, extra, want in ((exp, ("--journal-path", str(journal)), 0), (rb, (), 1)):
        code, out, err = _drill(workdir, "run", str(target), "--env", "lab", "--json", *extra)
        assert code == want, err
        outputs += [out, err]
        run_id = json.loads(out)["run_id"]
        for cmd in (
            ("runs", "show", run_id, "--json"),
            ("runs", "show", run_id),
            ("findings", "list", "--json"),
        ):
            code, out, err = _drill(workdir, *cmd)
            assert code == 0, err
            outputs += [out, err]

    # what a person sees: the run's progress and errors, the plan (the runbook's step
    # arguments hold a DSN) and a rendered runbook
    for cmd, want in (
        (("run", str(rb), "--env", "lab"), 1),
        (("plan", str(rb), "--env", "lab"), 0),
        (("plan", str(exp), "--env", "lab", "--json"), 0),
        (("runbook", "render", str(rb), "--out", str(workdir / "rendered")), 0),
    ):
        code, out, err = _drill(workdir, *cmd)
        assert code == want, (cmd, err)
        outputs += [out, err]
    rendered = b"".join(p.read_bytes() for p in (workdir / "rendered").iterdir())
    assert rendered and _leaks(rendered) == []

    code, out, err = _drill(workdir, "evidence", "keygen")
    assert code == 0, err
    today = datetime.now(UTC).date().isoformat()
    bundle = workdir / "bundle.zip"
    code, out, err = _drill(
        workdir, "evidence", "export", "--from", today, "--to", today, "--out", str(bundle)
    )
    assert code == 0, err
    outputs += [out, err]

    # the run really had the secrets: the journal shows the env probe ran, masked
    shown = sqlite3.connect(workdir / ".drill" / "evidence.db")
    try:
        db_text = "\n".join(shown.iterdump()).encode()
        contents = b"".join(r[0] for r in shown.execute("SELECT content FROM artifact"))
    finally:
        shown.close()
    assert b"AWS_SECRET_ACCESS_KEY=***" in contents and b"AKIATESTPLANTED" in contents
    assert b"postgresql+psycopg://:***@127.0.0.1:1/x" in db_text  # the error was recorded
    assert _leaks(db_text) == [] and _leaks(contents) == []
    raw = b"".join(p.read_bytes() for p in (workdir / ".drill").rglob("*") if p.is_file())
    assert _leaks(raw) == [], "a secret is in a file under .drill/"
    assert b"AWS_SESSION_TOKEN=***" in journal.read_bytes()
    assert _leaks(journal.read_bytes()) == [], "a secret is in the --journal-path file"
    assert _leaks("\n".join(outputs).encode()) == [], "a secret was printed"
    with zipfile.ZipFile(bundle) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    assert any(n.startswith("journals/") for n in members)
    for name, content in members.items():
        assert _leaks(content) == [], f"a secret is in the bundle's {name}"


CRASH_EXPERIMENT = """title: a rollback that needs a secret
description: recovery after SIGKILL must play it with the real value
configuration:
  db_password: {password}
{steady}method:
  - type: action
    name: inject-marker
    provider: {{type: python, module: tests.faults, func: touch, arguments: {{path: "{marker}"}}}}
  - type: action
    name: hold
    provider: {{type: python, module: tests.faults, func: pause, arguments: {{seconds: 60}}}}
rollbacks:
  - type: action
    name: remove-marker-with-the-secret
    provider:
      type: python
      module: tests.faults
      func: remove_with_key
      arguments: {{path: "{marker}", password: "${{db_password}}"}}
"""


@pytest.mark.slow
def test_recovery_after_a_crash_plays_rollbacks_with_their_secrets(workdir: Path) -> None:
    """The pending rollback is stored without the secret; recovery (a new process that
    never saw it) takes it from the experiment file, and the rollback succeeds."""
    password = "RollbackS3cretVal"
    marker = workdir / "marker"
    (workdir / "marker.key").write_text(password)
    exp = write(
        workdir,
        "exp.yaml",
        CRASH_EXPERIMENT.format(password=password, marker=marker, steady=STEADY),
    )
    proc = spawn(workdir, "run", str(exp), "--json")
    end = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < end and proc.poll() is None, "the fault never appeared"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)

    code, _out, err = _drill(workdir, "recover")  # reads only warn: recovery is explicit
    assert code == 0 and "recovering run" in err, err
    assert not marker.exists(), "recovery must play the rollback with the real secret"
    code, out, err = _drill(workdir, "runs", "list", "--json")
    (entry,) = json.loads(out)
    assert entry["status"] == "crashed"
    db = sqlite3.connect(workdir / ".drill" / "evidence.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert password not in dump


def test_live_rollback_gets_the_secrets_its_stored_record_lacks(workdir: Path) -> None:
    """In the run's own process the rollback plays with the real args; only the stored
    pending-rollback record is redacted."""
    password = "LiveRollbackS3cret"
    marker = workdir / "marker"
    marker.write_text("fault")
    (workdir / "marker.key").write_text(password)
    rb = write(
        workdir,
        "runbooks/live.yaml",
        f"""id: live-secret
title: rollback with a secret
scenario: test
steps:
  - name: fail
    kind: action
    activity: {{type: action, name: fail, provider: {{type: python, module: tests.faults,
               func: fail, arguments: {{message: planned}}}}}}
rollback:
  - name: remove the marker with the secret
    kind: action
    activity: {{type: action, name: remove, provider: {{type: python, module: tests.faults,
               func: remove_with_key, arguments: {{path: "{marker}", password: {password}}}}}}}
""",
    )
    code, _, err = _drill(workdir, "run", str(rb), "--json")
    assert code == 1, err
    assert not marker.exists(), "the rollback must have had the real password"
    db = sqlite3.connect(workdir / ".drill" / "evidence.db")
    try:
        (args,) = db.execute("SELECT args FROM step_run WHERE phase = 'rollback'").fetchone()
    finally:
        db.close()
    assert password not in args and json.loads(args)["source"] == str(rb.resolve())


@pytest.mark.parametrize(
    "userinfo",
    [
        ":NoUserS3cretPw",
        "u:S3cret@InsidePw",
        "u:Pct%ZZS3cretPw",
        "u:Space S3cret Pw",
        "u:Enc%40S3cretPw",
    ],
)
def test_database_password_never_echoed_in_any_spelling(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    userinfo: str,
) -> None:
    """A bad or unreachable evidence database URL: one clear line, exit 2, no password."""
    from tests.clihelp import drill

    monkeypatch.setenv("DRILL_DATABASE", f"postgresql+psycopg://{userinfo}@127.0.0.1:1/x")
    res = drill(capsys, "runs", "list")
    assert res.code == 2 and res.err.startswith("drill: error: "), res.err
    password = userinfo.split(":", 1)[1]
    for part in {password, *password.replace("@", " ").replace("%", " ").split()}:
        if len(part) >= 4:
            assert part not in res.err + res.out, part


def test_a_var_file_secret_never_reaches_the_journal_or_the_evidence(workdir: Path) -> None:
    """`--var-file` is where chaos users keep an environment's secrets (`secrets:`): its
    values were not known to drill's redaction, so a probe that printed one left it in
    the --journal-path file and in the evidence in clear."""
    secret = "VarFileS3cretVal"
    write(workdir, "prod.yaml", f"secrets:\n  api:\n    key: {secret}\n")
    exp = write(
        workdir,
        "exp.yaml",
        f"""title: a secret from a var file
description: the probe's output is the secret
secrets:
  api:
    key: placeholder
{STEADY}method:
  - type: probe
    name: echo-key
    provider: {{type: python, module: os.path, func: basename, arguments: {{p: "${{key}}"}}}}
""",
    )
    journal = workdir / "journal.json"
    code, out, err = _drill(
        workdir, "run", str(exp), "--var-file", "prod.yaml", "--journal-path", str(journal)
    )
    assert code == 0, err
    runs = json.loads(journal.read_text())["run"]
    assert [r["output"] for r in runs] == ["***"], "the probe printed the secret"
    raw = b"".join(p.read_bytes() for p in (workdir / ".drill").rglob("*") if p.is_file())
    assert secret.encode() not in raw + journal.read_bytes() + (out + err).encode()
