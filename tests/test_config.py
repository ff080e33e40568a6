"""Settings from the environment: a value that is not a number, or not one of a setting's choices, stops
start-up with a message naming the variable (zh-CN and en), not a traceback; a good value is used."""
from __future__ import annotations

import subprocess
import sys

import pytest

from config import EMBEDDING_QUANTIZE_CHOICES, ROOT, Config, ConfigError
from matchmaking.encoders import QUANTIZE_CHOICES


@pytest.fixture(autouse=True)
def _own_instance(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))  # Config() writes a secret key file there


@pytest.mark.parametrize("name, value", [("PAGE_SIZE", "twenty"), ("CACHE_TTL", "1.5"), ("SESSION_MAX_HOURS", "nan"),
                                         ("JOBS_RETRY_DELAY", "inf"), ("DB_RETRIES", "")])
def test_a_setting_that_is_not_a_number_is_refused_with_its_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        Config()
    assert f"环境变量 {name} 必须是" in str(err.value.code) and f"Environment variable {name} must be" in str(err.value.code)


def test_numbers_are_read(monkeypatch):
    monkeypatch.setenv("PAGE_SIZE", " 50 ")
    monkeypatch.setenv("SESSION_MAX_HOURS", "1.5")
    config = Config()
    assert config.PAGE_SIZE == 50 and config.SESSION_MAX_HOURS == 1.5


def test_the_command_line_prints_the_message_without_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "INSTANCE_DIR": str(tmp_path), "PAGE_SIZE": "lots", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Environment variable PAGE_SIZE must be a whole number" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("value", ["auto", "none", "int8", "bf16"])
def test_embedding_quantize_accepts_the_choices(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_QUANTIZE", value)
    assert Config().EMBEDDING_QUANTIZE == value


def test_empty_embedding_quantize_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_QUANTIZE", "")
    assert Config().EMBEDDING_QUANTIZE == "auto"


@pytest.mark.parametrize("value", ["fp16", "BF16", "int4"])
def test_embedding_quantize_rejects_other_values_in_both_languages(value: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBEDDING_QUANTIZE", value)
    with pytest.raises(ConfigError, match=rf"(?s)EMBEDDING_QUANTIZE='{value}' 无效，可选值：auto, none, int8, bf16.*is not valid"):
        Config()


def test_config_choices_match_the_encoder_factory() -> None:
    assert EMBEDDING_QUANTIZE_CHOICES == ("auto", "none", *QUANTIZE_CHOICES)


def test_embedding_quantize_defaults_to_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMBEDDING_QUANTIZE", raising=False)
    assert Config().EMBEDDING_QUANTIZE == "auto"


def test_embedding_query_backend_takes_its_choices_and_refuses_others(monkeypatch: pytest.MonkeyPatch) -> None:
    from matchmaking.encoders import QUERY_BACKENDS

    assert Config().EMBEDDING_QUERY_BACKEND == "auto"
    for value in QUERY_BACKENDS:
        monkeypatch.setenv("EMBEDDING_QUERY_BACKEND", value)
        assert Config().EMBEDDING_QUERY_BACKEND == value
    monkeypatch.setenv("EMBEDDING_QUERY_BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match=r"(?s)EMBEDDING_QUERY_BACKEND='tensorrt' 无效.*is not valid"):
        Config()


@pytest.mark.parametrize("name, good, typo", [("EMBEDDING_BACKEND", "onnx", "onxx"), ("VECTOR_STORE", "pgvector", "pgvecter"),
                                              ("INDEX_SYNC", "inline", "inlne"), ("JOBS_MODE", "inline", "inlin"),
                                              ("MATCHER_REFRESH", "inline", "sync")])
def test_a_typo_in_a_choice_stops_start_up_instead_of_falling_back(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                   good: str, typo: str) -> None:
    monkeypatch.setenv(name, good)
    assert getattr(Config(), name) == good
    monkeypatch.setenv(name, typo)
    with pytest.raises(ConfigError, match=rf"(?s){name}='{typo}' 无效.*is not valid"):
        Config()
