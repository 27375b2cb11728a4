"""The kairos command's offline sub-commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main


def test_token_prints_a_verifiable_jwt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("KAIROS_JWT_SECRET", raising=False)
    assert main(["token", "--role", "manager", "--sub", "m1", "--stores", "s1,s2"]) == 0
    token = capsys.readouterr().out.strip()
    from app.auth import TokenVerifier
    from app.settings import Settings

    principal = TokenVerifier(Settings.from_env({"KAIROS_DATA_DIR": str(tmp_path)})).verify(token)
    assert principal.stores == frozenset({"s1", "s2"})


def test_token_is_refused_in_production(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIROS_ENV", "production")
    monkeypatch.setenv("KAIROS_JWT_SECRET", "Zq8v-3kP_w9LmN2xR7tY4uB6cD1eF5gH")
    assert main(["token", "--role", "admin", "--sub", "a"]) == 1
    assert "production" in capsys.readouterr().err


def test_openapi_check_detects_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAIROS_DATA_DIR", str(tmp_path))
    out = tmp_path / "openapi.json"
    assert main(["openapi", "--check", "--output", str(out)]) == 1
    assert main(["openapi", "--output", str(out)]) == 0
    assert main(["openapi", "--check", "--output", str(out)]) == 0
    out.write_text(out.read_text().replace('"Kairos"', '"Old"'))
    assert main(["openapi", "--check", "--output", str(out)]) == 1
    assert not (tmp_path / "dev-jwt-secret").exists()  # generating the document writes nothing


def test_production_server_refuses_to_start_without_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAIROS_ENV", "production")
    monkeypatch.delenv("KAIROS_JWT_SECRET", raising=False)
    monkeypatch.delenv("KAIROS_JWT_PUBLIC_KEY", raising=False)
    assert main(["serve"]) == 2
    assert "KAIROS_JWT_SECRET" in capsys.readouterr().err
