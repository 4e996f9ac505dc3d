"""Every corpus experiment, run by `chaos run` and by `drill run` with the same options.

For each experiment and option set both tools run it for real (python, process and
http providers against files and a loopback HTTP service) in their own scratch
directory, and must agree on: the outcome (exit code, with the two documented
differences below), the journal's keys and meaning (status, deviated, hypothesis
results, activities and rollbacks played with their statuses, dry mode) and the files
the run left behind. `drill validate` and `chaos validate` must agree on every
experiment, and on the invalid and quirky ones under invalid/ and quirky/.

Both CLIs run in-process (click's runner for chaos, `orchestrator.cli.main` for drill):
one Python, no start-up cost per run, so the corpus stays CI-cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clihelp import drill
from tests.corpus.httpd import Service

HERE = Path(__file__).resolve().parent
EXPERIMENTS = sorted((HERE / "experiments").iterdir())
VARS = HERE / "vars"

# drill is stricter than chaos in two documented places (orchestrator/engine/
# experiment_journal.py): chaos exit code → drill exit code for these experiments.
DRILL_EXIT = {
    "05-process-rollback-fails": {0: 1},  # a rollback process exiting 1 is a failed rollback
    "24-not-steady-before": {0: 1},  # steady state not met before the method fails the run
}

BASE = ["--rollback-strategy", "default"]  # chaos's default, given to both explicitly
OPTION_SETS: dict[str, list[list[str]]] = {
    "01-python-exists": [
        ["--hypothesis-strategy", "continuously", "--hypothesis-frequency", "0.05"],
        ["--control-file", str(VARS / "controls.yaml")],
        ["--settings", str(VARS / "settings-controls.yaml")],
    ],
    "02-python-deviates": [["--rollback-strategy", s] for s in ("always", "never", "deviated")]
    + [
        ["--dry", "actions"],
        ["--hypothesis-strategy", "before-method-only"],
        ["--hypothesis-strategy", "after-method-only"],
        ["--dry", "probes"],
    ],
    "03-process-exit-code": [["--dry", "probes"]],
    "08-http-break-and-repair": [["--rollback-strategy", "always"]],
    "10-range": [
        [
            "--hypothesis-strategy",
            "during-method-only",
            "--hypothesis-frequency",
            "0.05",
            "--fail-fast",
        ]
    ],
    "11-range-deviates": [["--rollback-strategy", "deviated"]],
    "17-secrets-env": [],
    "18-var-file-yaml": [["--var", "target_name=cli", "--var", "expected_name=cli"]],
    "19-pauses": [["--dry", "pause"]],
    "21-rollbacks-order": [["--dry", "activities"], ["--rollback-strategy", "never"]],
    "22-method-action-fails": [["--rollback-strategy", "always"]],
    "23-probe-errors-before": [["--rollback-strategy", "always"]],
    "29-runtime-empty": [["--settings", str(VARS / "settings-never.yaml")]],
}
NEEDS = {  # options every run of these experiments needs (a var file)
    "17-secrets-env": ["--var-file", str(VARS / "api.env")],
    "18-var-file-yaml": ["--var-file", str(VARS / "corpus.yaml")],
}
NO_BASE = {"28-runtime-strategy", "29-runtime-empty"}  # the runtime decides the strategy


def _cases() -> list[tuple[Path, list[str]]]:
    cases = []
    for path in EXPERIMENTS:
        name = path.stem
        needs = NEEDS.get(name, [])
        cases.append((path, needs + ([] if name in NO_BASE else BASE)))
        cases += [(path, needs + opts) for opts in OPTION_SETS.get(name, [])]
    return cases


@pytest.fixture(scope="module")
def httpd() -> Iterator[Service]:
    svc = Service()
    yield svc
    svc.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """.env var files inject variables into the process (as chaos does): undo after."""
    monkeypatch.setenv("CORPUS_API_TOKEN", "unset")
    monkeypatch.delenv("CORPUS_API_TOKEN")
    monkeypatch.setenv("HOME", str(VARS))  # no ~/.chaostoolkit/settings.yaml of the host


def chaos(*args: str) -> int:
    from chaostoolkit.cli import cli
    from click.testing import CliRunner

    result = CliRunner().invoke(
        cli, ["--no-version-check", "--no-log-file", *args], catch_exceptions=False
    )
    return int(result.exit_code)


def _state(state: dict[str, Any] | None) -> Any:
    if state is None:
        return None
    return (
        state["steady_state_met"],
        [(p["activity"]["name"], p["status"], p.get("tolerance_met")) for p in state["probes"]],
    )


def _runs(runs: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    return [(r["activity"].get("name"), r["status"]) for r in runs or []]


def summary(journal: dict[str, Any]) -> dict[str, Any]:
    """What a chaos journal means: drill's must mean the same."""
    ss = journal["steady_states"]
    return {
        "keys": sorted(journal),
        "status": journal["status"],
        "deviated": journal["deviated"],
        "before": _state(ss["before"]),
        "after": _state(ss["after"]),
        "during_all_met": all(s is None or s["steady_state_met"] for s in ss["during"]),
        "during_ran": bool(ss["during"]),
        "run": _runs(journal["run"]),
        "rollbacks": _runs(journal["rollbacks"]),
        "dry": journal["experiment"].get("dry"),
    }


def _files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    ("path", "opts"),
    _cases(),
    ids=[f"{p.stem}{''.join(o[-1:]) and ' ' + ' '.join(o)}" for p, o in _cases()],
)
def test_drill_and_chaos_agree(
    path: Path,
    opts: list[str],
    workdir: Path,
    httpd: Service,
    clean_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    results: dict[str, tuple[int, dict[str, Any], dict[str, str]]] = {}
    settings = str(VARS / "settings.yaml")
    if "--settings" in opts:  # chaos takes it before `run`; drill as a run option
        i = opts.index("--settings")
        settings, opts = opts[i + 1], opts[:i] + opts[i + 2 :]
    for tool in ("chaos", "drill"):
        scratch = workdir / tool
        scratch.mkdir()
        journal = workdir / f"{tool}-journal.json"
        common = [
            "--var",
            f"workdir={scratch}",
            "--var",
            f"http_base={httpd.base(f'{tool}-{path.stem}-{len(opts)}')}",
            "--journal-path",
            str(journal),
            *opts,
        ]
        os.environ.pop("CORPUS_API_TOKEN", None)
        if tool == "chaos":
            code = chaos("--settings", settings, "run", *common, str(path))
        else:
            code = drill(capsys, "run", str(path), "--settings", settings, *common).code
        results[tool] = (code, summary(json.loads(journal.read_text())), _files(scratch))
    (c_code, c_sum, c_files), (d_code, d_sum, d_files) = results["chaos"], results["drill"]
    assert d_sum == c_sum, "drill's journal must mean what chaos's means"
    assert d_files == c_files, "both runs must leave the same files behind"
    if "controls" in " ".join(opts) + settings or "controls:" in path.read_text():
        assert "before-experiment" in d_files.get("controls.log", ""), "controls ran"
    expected = DRILL_EXIT.get(path.stem, {}).get(c_code, c_code)
    if c_sum["status"] in ("aborted", "interrupted"):
        expected = 3
    assert d_code == expected, f"chaos exit {c_code}, drill exit {d_code}"


def test_corpus_covers_what_it_claims() -> None:
    """≥25 experiments, every provider type, tolerance type, config/secret source…"""
    assert len(EXPERIMENTS) >= 25
    text = "\n".join(p.read_text() for p in EXPERIMENTS)
    for needle in (
        "type: python",
        "type: process",
        "type: http",
        "type: jsonpath",
        "type: regex",
        "type: range",
        "tolerance: true",
        "tolerance: 200",
        "type: env",
        "secrets:",
        "pauses:",
        "controls:",
        "rollbacks:",
        "ref:",
        "runtime:",
    ):
        assert needle in text, needle
    assert any(p.suffix == ".json" for p in EXPERIMENTS)


QUIRKY = sorted((HERE / "quirky").iterdir())
INVALID = sorted((HERE / "invalid").iterdir())


@pytest.mark.parametrize("path", EXPERIMENTS + QUIRKY + INVALID, ids=lambda p: p.stem)
def test_validate_agrees(
    path: Path, workdir: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        chaos_ok = chaos("--settings", str(VARS / "settings.yaml"), "validate", str(path)) == 0
    except json.JSONDecodeError:  # chaos reads .json with json.load: a traceback, exit 1
        chaos_ok = False
    res = drill(capsys, "validate", str(path))
    assert (res.code == 0) is chaos_ok, res.err
    if chaos_ok:
        assert res.code == 0
    else:
        assert res.code == 2 and f"{path}:" in res.err, "drill names file:line"
        assert "Traceback" not in res.err
    if path in QUIRKY and ("duplicate" in path.stem or "missing" in path.stem):
        assert "drill: warning:" in res.err, "where drill is stricter it warns"


def test_a_control_whose_module_is_missing_is_left_out_as_chaos_does(
    workdir: Path, clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """chaos warns and runs the experiment without the control; drill refused the run
    ("could not find Python module … in control", exit 2)."""
    path = HERE / "quirky" / "missing-control-module.yaml"
    codes = []
    for tool in ("chaos", "drill"):
        scratch = workdir / tool
        scratch.mkdir()
        args = ["--var", f"workdir={scratch}", "--rollback-strategy", "default"]
        if tool == "chaos":
            codes.append(chaos("--settings", str(VARS / "settings.yaml"), "run", *args, str(path)))
        else:
            res = drill(capsys, "run", str(path), *args)
            codes.append(res.code)
            assert "drill: warning:" in res.err and "corpus_tracing_not_installed" in res.err
        assert (scratch / "touched").exists(), tool
    assert codes == [0, 0]
