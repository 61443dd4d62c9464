"""Fixtures for every test: no test can reach a real AWS account.

Fake credentials are set and every profile, config file and metadata endpoint is switched off
before any test runs, so a stray client would fail to sign for a real account rather than use
somebody's credentials. Only loopback endpoints are ever used.
"""

from __future__ import annotations

import os

import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKEFAKE",
    "AWS_SECRET_ACCESS_KEY": "fake/secret/key/for/tests/only/000000000",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_GUARDDUTY",
    "AWS_ENDPOINT_URL_SECURITYHUB",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "RECONCILER_MANIFEST",
    "GITHUB_STEP_SUMMARY",
)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
