"""`drill report RUN_ID --html|--pdf [--out FILE]`: one run, for humans."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.commands.common import err_console, state


def report(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="run id (see `drill runs list`)")],
    html: Annotated[bool, typer.Option("--html", help="self-contained HTML")] = False,
    pdf: Annotated[bool, typer.Option("--pdf", help="PDF")] = False,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="file to write (default report-RUN_ID.EXT)")
    ] = None,
) -> None:
    """Render one run's report: timeline, RTO/RPO vs objectives, findings.

    The format is --html or --pdf, or the suffix of --out (.html, .pdf); a flag and a
    suffix that disagree are refused."""
    from orchestrator.engine.runner import operator
    from orchestrator.errors import UsageError
    from orchestrator.evidence.export import build_report_data
    from orchestrator.report.base import renderer

    suffix = Path(out).suffix.lower() if out else ""
    by_name = {".html": "html", ".htm": "html", ".pdf": "pdf"}.get(suffix)
    if html == pdf and (html or by_name is None):  # both, or neither and no telling suffix
        raise UsageError(
            "choose one of --html or --pdf",
            f"e.g. `drill report {run_id} --html`, or --out FILE.html / FILE.pdf",
        )
    fmt = "html" if html else "pdf" if pdf else str(by_name)
    if by_name and by_name != fmt:  # HTML in report.pdf: the auditor's reader refuses it
        raise UsageError(
            f"--{fmt} but --out {out} names a {by_name.upper()} file",
            f"give --out a .{fmt} name, or leave out --{fmt} (the suffix picks the format)",
        )
    from orchestrator.outpaths import check_output, write_output

    path = check_output(Path(out or f"report-{run_id}.{fmt}"), "--out")  # before any work
    data = build_report_data(state(ctx).read_db(), None, None, [], operator(), run_id=run_id)
    content = renderer(fmt).render(data)
    write_output(path, "--out", lambda tmp: tmp.write_bytes(content))
    err_console().print(f"wrote {path}")
