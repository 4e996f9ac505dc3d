"""``LabProvider``: the lab's implementation of the provider protocol.

Construction is free (no process, no connection); ``prepare`` brings the lab up when
it is not running. Every provider-neutral action and probe in
:data:`orchestrator.actions.ACTIONS` has a lab implementation registered by name in
:data:`ops.OPS` (the modules ``ops_db``, ``ops_restore``, ``ops_faults``, ``probes``).
``plan`` describes the real lab operations from the current state, changing nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.config import EnvironmentConfig, Settings
from orchestrator.errors import LabError
from orchestrator.providers.base import PlannedCall, StepContext

if TYPE_CHECKING:
    from datetime import datetime

    from orchestrator.measure.base import ObservationResult, ScenarioObserver
    from orchestrator.providers.lab.ops import Lab
    from orchestrator.providers.lab.state import LabState


def _load_ops() -> None:
    from orchestrator.providers.lab import ops_db, ops_faults, ops_restore, probes  # noqa: F401


class LabProvider:
    """Runs actions and probes against the local DR lab."""

    name = "lab"

    def __init__(self, env_name: str, env: EnvironmentConfig, settings: Settings) -> None:
        self.env_name, self.env, self.settings = env_name, env, settings

    def _lab(self) -> Lab:
        from orchestrator.providers.lab.ops import Lab

        return Lab(self.settings, self.env)

    def prepare(self, log: Callable[[str], None]) -> None:
        from orchestrator.providers.lab import lab_up

        lab_up(self.settings, self.env, log)

    def supports(self, action: str) -> bool:
        from orchestrator.providers.lab.ops import OPS

        _load_ops()
        return action in OPS

    def execute(self, action: str, args: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
        from orchestrator.actions import ACTIONS
        from orchestrator.providers.lab.ops import OPS

        _load_ops()
        if action not in OPS:
            raise LabError(
                f"the lab does not implement {action!r}", f"lab actions: {', '.join(sorted(OPS))}"
            )
        if action in ACTIONS:  # defaults filled in; extra keys (rollback_args) kept
            spec = ACTIONS.get(action)
            known = {k: v for k, v in args.items() if k in spec.args.model_fields}
            args = {**args, **_validated(action, spec.args, known)}
        from orchestrator.providers.lab.ops import unknown_target

        problem = unknown_target(args, self._lab().state())
        if problem is not None:
            raise problem
        from orchestrator.providers.lab.journal import recording, unplanned
        from orchestrator.secrets import redact

        with recording() as made:
            result = dict(redact(OPS[action](self._lab(), args, ctx)))
        if made:  # like the AWS provider: what was done, and what the plan did not say
            result["lab_operations"] = made
            missing = unplanned(self.plan(action, args, ctx.mode), made)
            if missing:
                result["unplanned_calls"] = missing
                ctx.log(f"{action}: lab operations missing from its plan: {', '.join(missing)}")
        return result

    def skip_reason(self, action: str, args: dict[str, Any]) -> str | None:
        return None  # the lab is always reachable

    def plan(self, action: str, args: dict[str, Any], mode: str) -> list[PlannedCall]:
        from orchestrator.errors import UnknownTarget
        from orchestrator.providers.lab.ops import unknown_target
        from orchestrator.providers.lab.plan import describe
        from orchestrator.providers.lab.state import lab_dir, load

        st = load(lab_dir(self.settings.state_path()))
        problem = unknown_target(args, st)
        if problem is not None:  # as the AWS provider's plan refuses an unknown role
            raise UnknownTarget(f"{action}: {problem.message}", problem.hint, args["target"])
        return describe(action, args, mode, st)

    def observer(
        self, scenario_id: str, scenario_kind: str | None, run_id: str
    ) -> ScenarioObserver | None:
        from orchestrator.measure.observer import ProbeTargets, build_observer

        st: LabState = self._lab().state()
        ep = st.endpoints()
        targets = ProbeTargets(
            db=ep["db"], global_db=ep["global_db"], app=ep["app"], interval_s=0.1
        )
        return FailoverNoted(build_observer(targets, scenario_kind, run_id), self._primary_now)

    def _primary_now(self) -> str | None:
        try:
            return self._lab().state().primary
        except LabError:
            return None

    def close(self) -> None:
        pass


def _validated(action: str, model: Any, known: dict[str, Any]) -> dict[str, Any]:
    """The action's arguments with defaults filled in; a bad argument (e.g. a DSN that
    could leave 127.0.0.0/8) is a :class:`LabError` naming it, not pydantic's traceback."""
    from pydantic import ValidationError

    try:
        return dict(model.model_validate(known).model_dump())
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'args'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise LabError(f"{action}: {problems}", "fix the step's arguments") from None


class FailoverNoted:
    """The probe observer, plus the lab's answer to "which server is primary now" when
    the scenario ends. rds-failover's ``db.failover`` does not wait for the promotion
    (``wait: false``: the probes measure recovery), so its output cannot name the new
    primary, and every successful failover's evidence said ``new_primary: null``."""

    def __init__(self, inner: ScenarioObserver, primary_now: Callable[[], str | None]) -> None:
        self.inner = inner
        self.primary_now = primary_now

    def start(self) -> None:
        self.inner.start()

    def mark(self, name: str, at: datetime) -> None:
        self.inner.mark(name, at)

    def observe_step(self, action: str, args: dict[str, Any], output: Any) -> None:
        self.inner.observe_step(action, args, output)

    def wait_until(
        self, condition: str, timeout_s: float, should_abort: Callable[[], bool]
    ) -> datetime:
        return self.inner.wait_until(condition, timeout_s, should_abort)

    def stop(self) -> ObservationResult:
        result = self.inner.stop()
        failover = result.notes.get("failover")
        if isinstance(failover, dict) and failover.get("new_primary") is None:
            now = self.primary_now()
            # only a server other than the one killed is news; the same one means the
            # standby never took over (the probes' RTO says what clients saw)
            if now is not None and now != failover.get("old_primary"):
                failover["new_primary"] = now
        return result
