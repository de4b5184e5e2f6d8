"""Settings come from PARLEY_ variables, *_FILE variables and a mounted secrets directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from parley.common.settings import BaseServiceSettings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "PARLEY_POSTGRES_DSN",
        "PARLEY_REDIS_URL",
        "PARLEY_POSTGRES_DSN_FILE",
        "PARLEY_MAX_BODY_BYTES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PARLEY_SECRETS_DIR", str(tmp_path / "absent"))


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_POSTGRES_DSN", "postgresql://u:p@127.0.0.1:1/db")
    monkeypatch.setenv("PARLEY_MAX_BODY_BYTES", "2048")
    settings = BaseServiceSettings()
    assert settings.postgres_dsn.get_secret_value() == "postgresql://u:p@127.0.0.1:1/db"
    assert settings.max_body_bytes == 2048
    assert "u:p" not in repr(settings)  # secrets do not leak into logs


def test_file_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "dsn"
    secret.write_text("postgresql://from:file@127.0.0.1:1/db\n")
    monkeypatch.setenv("PARLEY_POSTGRES_DSN_FILE", str(secret))
    assert BaseServiceSettings().postgres_dsn.get_secret_value() == "postgresql://from:file@127.0.0.1:1/db"
    # A plain variable wins over a file.
    monkeypatch.setenv("PARLEY_POSTGRES_DSN", "postgresql://plain@127.0.0.1:1/db")
    assert BaseServiceSettings().postgres_dsn.get_secret_value() == "postgresql://plain@127.0.0.1:1/db"


def test_secrets_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "parley_redis_url").write_text("redis://127.0.0.1:1/3")
    monkeypatch.setenv("PARLEY_SECRETS_DIR", str(secrets))
    assert BaseServiceSettings().redis_url.get_secret_value() == "redis://127.0.0.1:1/3"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_MAX_BODY_BYTES", "0")
    with pytest.raises(ValueError, match="max_body_bytes"):
        BaseServiceSettings()
