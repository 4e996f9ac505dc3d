"""Webhook delivery to a real HTTP server on 127.0.0.1: payload, retries, redaction."""

from __future__ import annotations

import logging

import pytest

from orchestrator.notify.messages import NoticeKind, run_notice
from orchestrator.notify.webhook import WebhookNotifier, redact_webhook
from tests.unit.test_schedule_support import HookServer


def test_slack_compatible_payload_is_received() -> None:
    server = HookServer()
    try:
        notice = run_notice(
            NoticeKind.OBJECTIVE_MISSED,
            "quarterly-dr",
            "staging",
            run_id="r-1",
            status="failed",
            detail="rds-failover RTO 300s > 120s",
        )
        (d,) = WebhookNotifier([server.url()]).send(notice)
    finally:
        server.close()
    assert d.ok and d.attempts == 1 and d.status == 200
    (body,) = server.posts
    assert body["text"].startswith("*drill quarterly-dr on staging missed an objective*")
    att = body["attachments"][0]
    assert att["color"] == "danger"
    assert {f["title"]: f["value"] for f in att["fields"]}["run"] == "r-1"
    assert body["metadata"] == {
        "event_type": "drill_objective_missed",
        "event_payload": {
            "drill": "quarterly-dr",
            "env": "staging",
            "run_id": "r-1",
            "status": "failed",
            "trigger": "schedule",
            "detail": "rds-failover RTO 300s > 120s",
        },
    }


def test_retries_with_exponential_backoff_then_delivers() -> None:
    server = HookServer(fail_first=3, fail_code=503)
    slept: list[float] = []
    try:
        notifier = WebhookNotifier([server.url()], retries=4, backoff_s=0.5, sleep=slept.append)
        (d,) = notifier.send(run_notice(NoticeKind.RUN_START, "qdr", "lab"))
    finally:
        server.close()
    assert d.ok and d.attempts == 4
    assert slept == [0.5, 1.0, 2.0]
    assert server.attempts == 4 and len(server.posts) == 1


def test_client_errors_are_not_retried_and_give_up_is_reported() -> None:
    bad = HookServer(fail_first=99, fail_code=404)
    slept: list[float] = []
    try:
        (d,) = WebhookNotifier([bad.url()], retries=3, sleep=slept.append).send(
            run_notice(NoticeKind.RUN_START, "qdr", "lab")
        )
        assert (d.ok, d.attempts, d.status, slept) == (False, 1, 404, [])
        flaky = HookServer(fail_first=99, fail_code=500)
        try:
            (d2,) = WebhookNotifier([flaky.url()], retries=2, sleep=slept.append).send(
                run_notice(NoticeKind.RUN_START, "qdr", "lab")
            )
        finally:
            flaky.close()
        assert (d2.ok, d2.attempts, flaky.attempts) == (False, 3, 3)
    finally:
        bad.close()


def test_secrets_in_webhook_urls_never_reach_logs(caplog: pytest.LogCaptureFixture) -> None:
    server = HookServer(fail_first=1, fail_code=500)
    url = server.url("/services/T0/B0/s3cr3tT0ken?token=abc123")
    caplog.set_level(logging.DEBUG, logger="drill.notify")
    try:
        (d,) = WebhookNotifier([url], retries=1, sleep=lambda _s: None).send(
            run_notice(NoticeKind.RUN_FINISH, "qdr", "lab", status="succeeded")
        )
    finally:
        server.close()
    assert d.ok
    assert "s3cr3tT0ken" not in caplog.text and "abc123" not in caplog.text
    assert "127.0.0.1:" in caplog.text and "/***" in caplog.text
    assert "s3cr3tT0ken" not in d.url
    # unreachable: the error message is redacted too (port 9 on loopback: discard, closed)
    refused = WebhookNotifier(["http://127.0.0.1:9/hook/xyzSECRET"], retries=0)
    (r,) = refused.send(run_notice(NoticeKind.RUN_START, "qdr", "lab"))
    assert not r.ok and "xyzSECRET" not in caplog.text + (r.error or "") + r.url


def test_redact_webhook_forms() -> None:
    assert (
        redact_webhook("https://hooks.slack.com/services/T1/B2/XYZ")
        == "https://hooks.slack.com/***"
    )
    assert redact_webhook("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    # the first path segment is often the token itself: never kept
    assert redact_webhook("http://127.0.0.1:8080/Tok3nInPath") == "http://127.0.0.1:8080/***"
    assert redact_webhook("https://user:pw@example.invalid/a/b") == "https://example.invalid/***"
    assert redact_webhook("https://example.invalid?token=Q1") == "https://example.invalid/***"
    # a typo'd scheme is still somebody's token
    assert (
        redact_webhook("htps://hooks.slack.com/services/T1/B2/XYZ") == "htps://hooks.slack.com/***"
    )
    assert redact_webhook("hooks.slack.com/services/T1/B2/XYZ") == "<invalid url>"
