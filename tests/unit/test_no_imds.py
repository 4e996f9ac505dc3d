"""Looking for AWS credentials for an emulator on loopback never asks the instance
metadata service (169.254.169.254): loopback only."""

from __future__ import annotations

import os

import pytest

from orchestrator.providers.aws.clients import needs_placeholder_credentials


class _Session:
    """Records whether the metadata service was off while credentials were looked up."""

    def __init__(self) -> None:
        self.imds_disabled: str | None = None

    def get_credentials(self) -> None:
        self.imds_disabled = os.environ.get("AWS_EC2_METADATA_DISABLED")
        return None


def test_the_credential_lookup_for_a_loopback_emulator_skips_the_metadata_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED", raising=False)
    session = _Session()
    assert needs_placeholder_credentials("http://127.0.0.1:5000", session)
    assert session.imds_disabled == "true"
    assert "AWS_EC2_METADATA_DISABLED" not in os.environ  # put back as it was


def test_a_real_endpoint_is_not_looked_at() -> None:
    session = _Session()
    assert not needs_placeholder_credentials("https://rds.us-east-1.amazonaws.com", session)
    assert not needs_placeholder_credentials(None, session)
    assert session.imds_disabled is None  # no lookup at all
