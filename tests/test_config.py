"""config.py: EMBEDDING_QUANTIZE is checked when settings are read."""
from __future__ import annotations

import pytest

from config import EMBEDDING_QUANTIZE_CHOICES, Config
from matchmaking.encoders import QUANTIZE_CHOICES


@pytest.fixture(autouse=True)
def _own_instance(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))  # Config() writes a secret key file there


@pytest.mark.parametrize("value", ["none", "int8", "bf16"])
def test_embedding_quantize_accepts_the_choices(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_QUANTIZE", value)
    assert Config().EMBEDDING_QUANTIZE == value


def test_empty_embedding_quantize_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_QUANTIZE", "")
    assert Config().EMBEDDING_QUANTIZE == "none"


@pytest.mark.parametrize("value", ["fp16", "BF16", "int4"])
def test_embedding_quantize_rejects_other_values_in_both_languages(value: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_QUANTIZE", value)
    with pytest.raises(ValueError, match=rf"(?s)EMBEDDING_QUANTIZE='{value}' 无效，可选值：none, int8, bf16.*is not valid"):
        Config()


def test_config_choices_match_the_encoder_factory() -> None:
    assert EMBEDDING_QUANTIZE_CHOICES == ("none", *QUANTIZE_CHOICES)
