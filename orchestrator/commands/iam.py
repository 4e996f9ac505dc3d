"""`drill iam-policy DRILL --env ENV`: the least-privilege IAM policy for a drill."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.commands.common import print_json, state


def iam_policy(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="drill, runbook or experiment: id or path")],
    env: Annotated[str | None, typer.Option("--env", "-e", help="an AWS environment")] = None,
    mode: Annotated[str | None, typer.Option(help="live | isolated")] = None,
) -> None:
    """Print the IAM policy (JSON) covering exactly the AWS actions the drill uses.

    Generated from each action's declared permissions, so it cannot fall behind the code.
    """
    from orchestrator.definitions.catalog import Catalog
    from orchestrator.engine.plan import build_plan
    from orchestrator.errors import UsageError
    from orchestrator.providers.aws.iam import policy

    settings = state(ctx).settings()
    if mode not in (None, "live", "isolated"):
        raise UsageError(f"--mode must be live or isolated, not {mode!r}")
    env_name, cfg = settings.environment(env)
    if cfg.provider.value != "aws":
        raise UsageError(
            f"environment {env_name!r} is not an AWS environment",
            "pass --env with an environment whose provider is aws",
        )
    print_json(policy(build_plan(Catalog(settings), target, mode), cfg))
