"""What a notification says, and its Slack-compatible JSON.

The payload is what a Slack incoming webhook accepts (``text`` + ``attachments``
with colour and fields) plus Slack's ``metadata`` block carrying the machine-readable
event, so Mattermost, Teams bridges or a custom receiver can act on it without
parsing prose. Every string passes through :func:`orchestrator.secrets.redact`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from orchestrator.secrets import redact, redact_text


class NoticeKind(StrEnum):
    RUN_START = "run.start"
    RUN_FINISH = "run.finish"
    OBJECTIVE_MISSED = "objective.missed"
    OVERDUE = "drill.overdue"
    SKIPPED = "run.skipped"
    GAMEDAY_ANNOUNCE = "gameday.announce"
    GAMEDAY_SUMMARY = "gameday.summary"


_COLOR = {
    NoticeKind.RUN_START: "#439FE0",
    NoticeKind.RUN_FINISH: "good",
    NoticeKind.OBJECTIVE_MISSED: "danger",
    NoticeKind.OVERDUE: "danger",
    NoticeKind.SKIPPED: "warning",
    NoticeKind.GAMEDAY_ANNOUNCE: "#439FE0",
    NoticeKind.GAMEDAY_SUMMARY: "good",
}


@dataclass
class Notice:
    kind: NoticeKind
    title: str
    text: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    failed: bool = False  # colours a finish/summary red

    def payload(self, now: datetime | None = None) -> dict[str, Any]:
        """The Slack-compatible JSON body."""
        color = "danger" if self.failed else _COLOR[self.kind]
        title, text = redact_text(self.title), redact_text(self.text)
        return {
            "text": f"*{title}*" + (f"\n{text}" if text else ""),
            "attachments": [
                {
                    "color": color,
                    "fallback": f"{title}. {text}".strip(),
                    "fields": [
                        {"title": k, "value": redact_text(str(v)), "short": len(str(v)) < 40}
                        for k, v in self.fields.items()
                    ],
                    "footer": "drill",
                    "ts": int((now or datetime.now(UTC)).timestamp()),
                }
            ],
            "metadata": {
                "event_type": "drill_" + self.kind.value.replace(".", "_"),
                "event_payload": redact(self.data),
            },
        }


def run_notice(
    kind: NoticeKind,
    target: str,
    env: str,
    *,
    run_id: str | None = None,
    status: str | None = None,
    trigger: str = "schedule",
    detail: str | None = None,
) -> Notice:
    """Start / finish / objective-missed notice of one run."""
    verbs = {
        NoticeKind.RUN_START: "started",
        NoticeKind.RUN_FINISH: f"finished: {status}",
        NoticeKind.OBJECTIVE_MISSED: "missed an objective",
        NoticeKind.SKIPPED: "skipped",
    }
    fields = {"drill": target, "environment": env, "trigger": trigger}
    if run_id:
        fields["run"] = run_id
    if status:
        fields["status"] = status
    failed = kind is NoticeKind.OBJECTIVE_MISSED or (
        kind is NoticeKind.RUN_FINISH and status not in (None, "succeeded")
    )
    return Notice(
        kind,
        f"drill {target} on {env} {verbs.get(kind, kind.value)}",
        detail or (f"`drill runs show {run_id}`" if run_id else ""),
        fields,
        {
            "drill": target,
            "env": env,
            "run_id": run_id,
            "status": status,
            "trigger": trigger,
            "detail": detail,
        },
        failed,
    )
