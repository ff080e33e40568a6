"""Fixtures for tests/matchmaking (no database, no Flask)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def default_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted default model: $EMBEDDING_MODEL or instance/models/..., else converted into a tmp dir."""
    from matchmaking.tools.convert import ensure_default_model

    path = Path(os.environ.get("EMBEDDING_MODEL") or ROOT / "instance" / "models" / "multilingual-e5-small")
    if (path / "modules.json").is_file():
        return path
    return ensure_default_model(tmp_path_factory.mktemp("models") / "multilingual-e5-small")


@pytest.fixture(scope="session")
def real_encoder(default_model_path: Path):  # -> matchmaking.encoders.Encoder
    """The fp32 default encoder, torch on both sides (the reference), loaded once per test session."""
    from matchmaking.encoders import build_encoder

    return build_encoder(str(default_model_path), query_backend="torch")
