"""The one redaction (orchestrator.secrets): every spelling of a secret, and no more."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import secrets
from orchestrator.secrets import (
    MASK,
    find_restorable,
    redact,
    redact_bytes,
    redact_text,
    remember_from,
    restore,
)


@pytest.fixture(autouse=True)
def _forget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_known", set())


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "postgresql+psycopg://:S3cr3tPassw0rd@127.0.0.1:1/x",
            "postgresql+psycopg://:***@127.0.0.1:1/x",
        ),  # no user
        ("postgresql://u:S3cr3t@Passw0rd@127.0.0.1:1/x", "postgresql://u:***@127.0.0.1:1/x"),
        ("postgresql://u:pa%ZZss@127.0.0.1:1/x", "postgresql://u:***@127.0.0.1:1/x"),
        (
            "cannot open postgresql://u:my pass word@127.0.0.1:1/x: refused",
            "cannot open postgresql://u:***@127.0.0.1:1/x: refused",
        ),
        (
            "postgresql://me@corp:pw/with/slashes@127.0.0.1/x",
            "postgresql://me@corp:***@127.0.0.1/x",
        ),
        ("host=127.0.0.1 password='my pass' user=x", "host=127.0.0.1 password='***' user=x"),
        ("token=FreeTextTok3n rest", "token=*** rest"),
        ("Authorization: Bearer BearerTok3nVal", "Authorization: Bearer ***"),
        ("curl -H 'Authorization: Basic dXNlcjpwYXNz'", "curl -H 'Authorization: Basic ***'"),
        ("sent bearer eyJhbGciOi.x.y", "sent bearer ***"),
        ('{"password": "a\\"b", "x": 1}', '{"password": "***", "x": 1}'),
        (
            "AWS_SECRET_ACCESS_KEY=abc123xyz\nAWS_SESSION_TOKEN=tok456\nDB_PASSWORD=pw1\n",
            "AWS_SECRET_ACCESS_KEY=***\nAWS_SESSION_TOKEN=***\nDB_PASSWORD=***\n",
        ),
        ("db_pass: hunter22, db_pwd=hunter33", "db_pass: ***, db_pwd=***"),
        ("https://hooks.slack.com/services/T1/B2/XYZ", "https://hooks.slack.com/services/***"),
        ("https://x.invalid/a?key=K1&sig=S2&b=1", "https://x.invalid/a?key=***&sig=***&b=1"),
        ("password:123456 token:987654", "password:*** token:***"),  # digits are secrets too
        ("app.token:99", "app.token:***"),  # a dotted key, not a file name
        ("secret.yaml:12:password=hunter22", "secret.yaml:***"),  # more than a line number
    ],
)
def test_every_spelling_is_masked(text: str, want: str) -> None:
    assert redact_text(text) == want


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://drill@127.0.0.1:5432/postgres",
        "PWD=/home/me OLDPWD=/tmp",
        "checks_passed: 3, bypass=yes",
        "AWS_ACCESS_KEY_ID=AKIAEXAMPLE",
        'password authentication failed for user "x"',
        "https://127.0.0.1:8080/a/b",
        # FILE:LINE of a file whose name says secret: a location, kept whole (every
        # `drill validate` error about runbooks/secret-rotation.yaml read "yaml:*** …")
        "runbooks/secret-rotation.yaml:12: Field required (steps)",
        "/x/17-secrets-env.yaml:1: Secrets make reference to an environment key",
        "tokens.JSON:3:",
    ],
)
def test_what_is_no_secret_stays(text: str) -> None:
    assert redact_text(text) == text


@given(st.text(st.characters(codec="ascii", exclude_characters='"\n\r'), min_size=1, max_size=40))
def test_any_dsn_password_is_masked(password: str) -> None:
    assert (
        redact_text(f"postgresql://u:{password}@127.0.0.1:5432/x")
        == "postgresql://u:***@127.0.0.1:5432/x"
    )


def test_keys_that_name_secrets_mask_their_whole_value() -> None:
    doc = {
        "secrets": {"s": {"password": "x"}},
        "checks_passed": 3,
        "db_pass": "y",
        "Authorization": "Bearer z",
        "passed": True,
        "api_key": "",
    }
    assert redact(doc) == {
        "secrets": MASK,
        "checks_passed": 3,
        "db_pass": MASK,
        "Authorization": MASK,
        "passed": True,
        "api_key": "",
    }


def test_known_values_are_masked_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "EnvAwsSecretVal")
    monkeypatch.setenv("APP_REF", "FromEnvRefVal")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # trivial values stay
    monkeypatch.setenv("PGPASSWORD", "postgres")  # would garble every DSN, hides nothing
    remember_from(
        {
            "secrets": {"s": {"plain": "InlineVal9", "ref": {"type": "env", "key": "APP_REF"}}},
            "configuration": {"dsn": "postgresql://u:Cfg%40Pw@127.0.0.1/x"},
        }
    )
    text = (
        "key EnvAwsSecretVal, inline InlineVal9, ref FromEnvRefVal, decoded Cfg@Pw, "
        "name APP_REF, flag false, db postgresql://127.0.0.1/postgres"
    )
    assert redact_text(text) == (
        "key ***, inline ***, ref ***, decoded ***, name APP_REF, flag false, "
        "db postgresql://127.0.0.1/postgres"
    )


def test_artifacts_json_by_structure_text_by_pattern_binary_kept() -> None:
    journal = {
        "experiment": {"secrets": {"s": {"token": "T"}}, "title": "t"},
        "run": [{"output": {"stdout": "AWS_SESSION_TOKEN=abc\n"}}],
    }
    masked = json.loads(redact_bytes(json.dumps(journal).encode()))
    assert masked == {
        "experiment": {"secrets": MASK, "title": "t"},
        "run": [{"output": {"stdout": "AWS_SESSION_TOKEN=***\n"}}],
    }
    assert redact_bytes(b"log: password=hunter22\n") == b"log: password=***\n"
    binary = b"\xff\xfepassword=x"
    assert redact_bytes(binary) is binary
    clean = b'{"a": 1}'
    assert redact_bytes(clean) is clean


def test_restore_takes_masked_parts_back_from_the_definition() -> None:
    source = {
        "secrets": {"s": {"password": "P"}},
        "configuration": {"dsn": "postgresql://u:pw12@127.0.0.1/x"},
        "rollbacks": [{"name": "r"}],
    }
    stored = redact({**source, "configuration": {**source["configuration"], "extra": 1}})
    assert restore(stored, source) == {
        **source,
        "configuration": {**source["configuration"], "extra": 1},
    }
    # a runbook rollback's activity: found wherever it is in the definition
    activity = {"type": "action", "provider": {"arguments": {"password": "P2"}}}
    runbook = {"id": "rb", "rollback": [{"name": "undo", "activity": activity}]}
    assert find_restorable(redact(activity), runbook) == activity
    # a changed definition: what does not match stays masked
    assert find_restorable(redact(activity), {"other": 1}) == redact(activity)


def test_a_yes_or_no_about_a_secret_is_kept() -> None:
    """A boolean under a key naming a secret says whether there is one, never what it
    is: `drill inventory --json` showed `"password_in_state": "***"` whether the
    Terraform state held a password or not. The values themselves stay masked."""
    doc = {"password_in_state": False, "has_token": True, "password": "hunter22", "token": 0}
    assert redact(doc) == {
        "password_in_state": False,
        "has_token": True,
        "password": MASK,
        "token": MASK,
    }
