"""`drill evidence export|verify|keygen`: auditor bundles and the integrity check."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.commands.common import (
    err_console,
    esc,
    out_console,
    print_json,
    state,
    warn,
    working,
)
from orchestrator.evidence.signing import DEFAULT_KEY, export_key, signing_key_path

#: a journal event's hash as ``--head`` takes it (lowercased first)
_HEX64 = re.compile(r"[0-9a-f]{64}")

app = typer.Typer(
    help="Tamper-evident evidence: verify the chain, export signed bundles.", no_args_is_help=True
)


@app.command("keygen")
def keygen(
    ctx: typer.Context,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="private key file (default: signing_key from drill.yaml, else "
            f".drill/{DEFAULT_KEY})",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing key")] = False,
) -> None:
    """Create the Ed25519 key that signs export bundles (kept out of DB and bundles)."""
    from orchestrator.evidence.signing import generate_key

    path = signing_key_path(state(ctx).settings(), out)
    pub, fp = generate_key(path, force)
    out_console().print(
        f"private key {path} (mode 0600: keep it secret, back it up)\n"
        f"public key  {pub}\nfingerprint {fp}"
    )
    if not state(ctx).settings().signing_key and out:
        err_console().print(f"set `signing_key: {path}` in drill.yaml to use it for exports")


@app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[str, typer.Option("--out", "-o", help="bundle to write (FILE.zip)")],
    period: Annotated[str | None, typer.Option(help="a quarter, e.g. 2026-Q4")] = None,
    date_from: Annotated[str | None, typer.Option("--from", help="first day, YYYY-MM-DD")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last day, YYYY-MM-DD")] = None,
    framework: Annotated[
        list[str] | None,
        typer.Option(
            help="soc2|iso27001|pci|hipaa|nist: repeat it or separate with commas (default: all)"
        ),
    ] = None,
    env: Annotated[str | None, typer.Option(help="only runs on this environment")] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="one run's evidence (instead of a period)")
    ] = None,
    key: Annotated[
        str | None, typer.Option(help="Ed25519 private key (default: signing_key in drill.yaml)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Write a signed bundle: runs, reports (HTML/PDF), OSCAL, journals, control mapping.

    The evidence is verified first (a tampered store exports nothing). The bundle checks
    without drill: its VERIFY.md has the three commands (sha256sum, openssl, python3).
    Without a signing key, one is created on first use (drill says where: keep it).

    Examples:

    \b
      drill evidence export --period 2026-Q4 --out q4.zip
      drill evidence export --from 2026-10-01 --to 2026-10-31 \\
          --framework soc2,iso27001 --env prod --out october.zip
      drill evidence export --run r-20261102-140000-1a2b3c --out run.zip
    """
    from orchestrator.compliance.mapping import framework_names, load_framework
    from orchestrator.engine.runner import operator
    from orchestrator.errors import EvidenceTampered, UsageError
    from orchestrator.evidence.export import export_bundle
    from orchestrator.evidence.export_data import parse_period
    from orchestrator.outpaths import check_output

    app_state = state(ctx)
    settings = app_state.settings()
    if run is not None and (period or date_from or date_to or env):
        raise UsageError("--run exports one run: give it without --period, --from/--to and --env")
    when = None if run is not None else parse_period(period, date_from, date_to)
    label = when.label if when else f"run {run}"
    check_output(Path(out), "--out")  # a link, a device, no directory: refused before any work
    names = _framework_list(framework) or framework_names()
    for name in names:
        load_framework(name)  # unknown names fail before any work
    if key or settings.signing_key:  # a named key that is not there or not a key: said first
        from orchestrator.evidence.signing import load_private_key

        load_private_key(signing_key_path(settings, key))
    _refuse_missing(app_state, as_json, label)  # before a key (or a store) is made
    if env is not None:
        _known_env(app_state, env)
    key_path, created = export_key(settings, key)
    if created:
        err_console().print(
            f"drill: created the signing key {key_path} ({created}); keep it "
            "secret and back it up: it is who signed your bundles"
        )
    try:
        with working(f"exporting {label}: runs, reports, OSCAL, signature…"):
            result = export_bundle(
                app_state.db(), when, names, env, Path(out), key_path, operator(), run
            )
    except EvidenceTampered as exc:  # exit 1 with --json: a document, as verify prints
        if as_json:
            print_json({"ok": False, "bundle": None, "period": label, "error": exc.message})
        raise
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM (cli.py): no bundle, and a document says so
        if as_json:
            print_json({"ok": False, "bundle": None, "period": label, "error": "stopped"})
        raise
    doc = {
        "ok": True,
        "bundle": str(result.path),
        "period": label,
        "runs": result.runs,
        "findings": result.findings,
        "files": result.files,
        "chain_head": result.chain_head,
        "signer": result.fingerprint,
        "controls": result.controls,
        **_tail_unchecked(app_state),
    }
    if as_json:
        print_json(doc)
        return
    unmet = [c for c, ok in result.controls.items() if not ok]
    out_console().print(
        f"wrote {result.path}: {result.runs} run(s), {result.findings} "
        f"finding(s), {len(result.files)} files, chain head "
        f"#{result.chain_head['seq']}, signed by {result.fingerprint}"
    )
    if unmet:  # each with what is missing: the names alone sent one to unzip the bundle
        out_console().print(f"[yellow]controls without full evidence:[/] {', '.join(unmet)}")
        for control in unmet:
            for why in result.missing.get(control, []):
                out_console().print(f"  {esc(control)}: {esc(why)}")


def _framework_list(given: list[str] | None) -> list[str]:
    """``--framework`` repeated, comma-separated (``soc2,iso27001``: it was taken for one
    unknown name) or both; each once, in the order given (``--framework soc2 --framework
    SOC2`` put controls/soc2.json in the zip twice: a bundle its own verify refused)."""
    from orchestrator.errors import UsageError

    names: list[str] = []
    for option in given or []:
        parts = [part.strip().lower() for part in option.split(",")]
        if not all(parts):
            raise UsageError(
                f"--framework {option!r}: an empty framework name",
                "name frameworks separated by commas, e.g. --framework soc2,iso27001",
            )
        names.extend(parts)
    return list(dict.fromkeys(names))


def _known_env(app_state: Any, env: str) -> None:
    """--env names a configured environment or one with runs (a retired one keeps its
    evidence): a typo exported an empty, signed bundle as if nothing had run."""
    from orchestrator.errors import UsageError

    if env in app_state.settings().environments or env in ("lab", "lab-aws"):
        return
    db = app_state.db()
    if db.query("SELECT 1 FROM run WHERE env = ? LIMIT 1", (env,)):
        return
    known = sorted(
        set(app_state.settings().environments)
        | {r[0] for r in db.query("SELECT DISTINCT env FROM run")}
    )
    raise UsageError(
        f"--env {env!r}: no such environment, and no run was recorded on it",
        f"environments configured or with runs: {', '.join(known) or 'none'}",
    )


def _remember(ctx: typer.Context, doc: dict[str, object]) -> None:
    """The dashboard's evidence page shows when the journal was last verified, and how."""
    from orchestrator.engine.runner import operator
    from orchestrator.evidence.enums import utcnow
    from orchestrator.views import record_verify

    record_verify(state(ctx).settings(), doc, utcnow(), operator())


@app.command("verify")
def verify(
    ctx: typer.Context,
    bundle: Annotated[
        str | None,
        typer.Argument(help="an exported FILE.zip; without it, the evidence database is verified"),
    ] = None,
    fingerprint: Annotated[
        str | None, typer.Option(help="bundle: require this signer (SHA256:…)")
    ] = None,
    public_key: Annotated[
        str | None, typer.Option(help="bundle: require the signer of this public key file")
    ] = None,
    head: Annotated[
        str | None,
        typer.Option(
            help="database: a chain head SEQ:HASH from an earlier export, to detect a cut tail"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document")] = False,
) -> None:
    """Check the evidence journal, or an exported bundle; exit 1 naming the first problem.

    The database: every event's hash recomputed, every record compared with its newest
    event, and the newest event this machine wrote or verified must still be there.
    A bundle: the signature of SHA256SUMS, every file's sha256, the journal chain, and
    the zip itself byte for byte.

    Examples:

    \b
      drill evidence verify                                # the evidence database
      drill evidence verify q4.zip --fingerprint SHA256:…  # a bundle, its signer
      drill evidence verify --head 4711:9f2c…              # an export's head kept
    """
    from orchestrator.errors import EvidenceTampered, UsageError

    if bundle and head:
        raise UsageError(
            "--head checks the evidence database, not a bundle",
            "a bundle's head is in its manifest.json (journal.head); drop FILE.zip to "
            "check that the database still holds it",
        )
    if not bundle and (fingerprint or public_key):
        option = "--fingerprint" if fingerprint else "--public-key"
        raise UsageError(
            f"{option} pins the signer of a bundle: name the FILE.zip to verify",
            "e.g. drill evidence verify q4.zip --fingerprint SHA256:…",
        )
    if bundle:
        from orchestrator.evidence.bundle import verify_bundle
        from orchestrator.evidence.signing import parse_fingerprint

        fingerprint = parse_fingerprint(fingerprint) if fingerprint else None

        try:
            with working(f"verifying {bundle}…"):
                rep = verify_bundle(
                    Path(bundle), fingerprint, Path(public_key) if public_key else None
                )
        except EvidenceTampered as exc:  # --json: the failed check is a document too
            if as_json:  # the keys of a bundle that verifies (not known: null), and why
                keys = ("files", "period", "runs", "signer", "signer_pinned", "chain_head")
                print_json(
                    {"ok": False, "bundle": bundle, **dict.fromkeys(keys), "error": exc.message}
                )
            raise
        doc = {
            "ok": True,
            "bundle": str(rep.path),
            "files": rep.files,
            "period": rep.period,
            "runs": rep.runs,
            "signer": rep.fingerprint,
            "signer_pinned": rep.pinned,
            "chain_head": rep.chain_head,
        }
        if as_json:
            print_json(doc)
            return
        out_console().print(
            f"bundle OK: {rep.files + 2} files (SHA256SUMS, signed by {rep.fingerprint}, "
            f"its signature, and the {rep.files} files it lists, which match); the journal "
            "chain recomputes"
        )
        if not rep.pinned:
            err_console().print(
                "note: the signer is not pinned; pass --fingerprint to check who signed it"
            )
        return
    from orchestrator.evidence.verify import verify_db

    anchor = None
    if head:
        # ASCII digits and 64 hex digits, in any case: '²' (a digit to str.isdigit) was an
        # internal error, a hash in capitals or a typo in it 'the database was changed
        # outside drill'
        seq, _, digest = head.partition(":")
        digest = digest.lower()
        if not (seq.isascii() and seq.isdigit()) or not _HEX64.fullmatch(digest):
            raise UsageError(
                f"--head {head!r} is not SEQ:HASH (an event number and its 64 hex digits)",
                "copy journal.head (seq, hash) from a bundle's manifest.json",
            )
        anchor = (
            int(seq),
            digest,
            "the head of that export is missing or different now: events were removed from "
            "the end, the journal was rewritten from there, or this is not the database that "
            "export was made from",
        )
    _refuse_missing(state(ctx), as_json)
    _refuse_damaged(state(ctx), as_json)
    with working("verifying the evidence journal: every event, every record…"):
        report = verify_db(state(ctx).db(), [anchor] if anchor else [])
    _remember(ctx, report.to_dict())
    unchecked = _tail_unchecked(state(ctx))
    if as_json:
        print_json({**report.to_dict(), **unchecked})
    elif report.ok:
        out_console().print(
            f"evidence journal OK: {report.events} events, {report.records} "
            f"records, head #{report.head_seq} {report.head_hash[:16]}…"
        )
    if not report.ok:
        raise EvidenceTampered(
            report.problems(),
            "the database was changed outside drill: keep a copy of it as it is, compare it "
            "with your latest backup to find out when and how, and give auditors this output; "
            "bundles exported before the change still verify on their own",
        )


def _tail_unchecked(app_state: Any) -> dict[str, Any]:
    """A damaged witness (``journal-heads.json``: unreadable, not JSON, a directory) was
    taken for none, and verify said OK with the check that no events were cut from the
    journal's end silently skipped. Now one stderr line names the file (a read keeps it
    as it is: it is evidence too), and the --json document gains ``witness``."""
    from orchestrator.evidence.witness import FILE, damaged

    path = app_state.settings().state_path() / FILE
    problem = damaged(path)
    if problem is None:
        return {}
    warn(
        [
            f"{path} {problem}: the check that no events were cut from the end of the "
            "journal could not be made (the hash chain itself was checked); keep a copy "
            "of the file for the auditors, then remove it: the next verify records the "
            "head anew"
        ]
    )
    return {"witness": {"path": str(path), "problem": problem, "tail_checked": False}}


def _refuse_missing(app_state: Any, as_json: bool, export: str | None = None) -> None:
    """No SQLite file where the evidence database should be: verify and export create
    none (a read makes no state; `verify` vouched for the empty store it had just made,
    an auditor pointing it at the wrong directory was told "OK"). Exit 2 when nothing
    was ever recorded there as far as this machine knows; exit 1 when drill on this
    machine saw a journal there (its witness): that evidence is lost. ``export``: the
    period's label, for the --json document of an export."""
    from orchestrator.errors import EvidenceTampered, UsageError

    path = app_state.store_missing()
    if path is None:
        return
    lost = app_state.store_lost()
    from orchestrator.evidence.witness import FILE, damaged

    heads = app_state.settings().state_path() / FILE
    problem = damaged(heads) if lost is None else None
    if problem is not None:  # it cannot tell whether a journal was there: not "nothing"
        raise UsageError(
            f"no evidence database at {path}, and whether drill on this machine recorded "
            f"one there cannot be told: {heads} {problem}",
            "restore the database from a backup if it was there; keep a copy of that file "
            "for the auditors, then remove it",
        )
    if lost is None:
        raise UsageError(
            f"no evidence database at {path}: nothing has been recorded there",
            "run drill in the directory whose drill.yaml recorded the evidence, or name it "
            "with --config FILE (or its database with DRILL_DATABASE)",
        )
    seq, _digest, at = lost
    detail = (
        f"the evidence database {path} is gone: drill on this machine last saw a journal "
        f"there whose newest event was #{seq} ({at})"
    )
    if as_json and export is not None:
        print_json({"ok": False, "bundle": None, "period": export, "error": detail})
    elif as_json:
        print_json(_database_break(path, seq, detail))
    raise EvidenceTampered(
        f"{detail}; its evidence is lost unless the file is restored",
        "restore it (with its -wal file, if any) from a backup; if it was removed on purpose, "
        f"delete {app_state.settings().state_path() / FILE} to accept the loss",
    )


def _database_break(path: Any, seq: int | None, detail: str) -> dict[str, Any]:
    """The verify document (the keys of every one: ``Report.to_dict``) of a database that
    could not be verified as a whole: gone, or damaged."""
    broken = {"seq": seq, "kind": "database", "run": None, "record": str(path), "detail": detail}
    return {
        "ok": False,
        "events": 0,
        "records": 0,
        "head": {"seq": None, "hash": None},
        "first_break": broken,
        "breaks": [broken],
        "break_count": 1,
        "database": str(path),
    }


def _refuse_damaged(app_state: Any, as_json: bool) -> None:
    """A damaged SQLite file cannot be verified: say so, and name what is still readable
    (exit 1, like any store that does not verify)."""
    from orchestrator.commands.storecheck import damage, readable_tables, sqlite_file
    from orchestrator.errors import EvidenceTampered

    path = sqlite_file(app_state.settings().database_url())
    problems = damage(path) if path is not None and path.exists() else []
    if path is None or not problems:
        app_state.store_checked = path is not None  # sound: no second quick_check
        return
    readable, unreadable = readable_tables(path)
    if as_json:  # and what is still readable
        detail = (
            f"the file is damaged ({'; '.join(problems)}); unreadable: "
            f"{', '.join(unreadable) or 'none'}"
        )
        doc = _database_break(path, None, detail)
        doc.update(damaged=True, problems=problems, readable=readable, unreadable=unreadable)
        print_json(doc)
    tables = ", ".join(f"{k} ({v} rows)" for k, v in readable.items()) or "none"
    raise EvidenceTampered(
        f"evidence database {path} is damaged ({problems[0]}"
        + (f"; {len(problems) - 1} more problem(s)" if len(problems) > 1 else "")
        + f"): the hash chain cannot be verified. Unreadable: {', '.join(unreadable) or 'none'}"
        f"; still readable: {tables}",
        "restore the file from a backup and verify that; an export bundle made before the "
        "damage verifies on its own (`drill evidence verify FILE.zip`)",
    )
