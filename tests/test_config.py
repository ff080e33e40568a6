"""Settings from the environment: a value that is not a number, or not one of a setting's choices, stops
start-up with a message naming the variable (zh-CN and en), not a traceback; a good value is used."""
from __future__ import annotations

import subprocess
import sys

import pytest

from config import (EMBEDDING_QUANTIZE_CHOICES, ROLES, ROOT, SECTIONS, Config, ConfigError, server_settings,
                    settings_of)
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


# ------------------------------------------------------------------------------------- typed sections

CHOICE_SETTINGS = {"EMBEDDING_QUANTIZE", "EMBEDDING_BACKEND", "EMBEDDING_QUERY_BACKEND", "VECTOR_STORE", "INDEX_SYNC",
                   "MATCHER_REFRESH", "JOBS_MODE", "JOBS_EMBEDDED_WORKER", "CACHE_URL", "MAIL_BACKEND", "SMTP_TLS",
                   "NOTIFY_MATCH_MIN_BAND", "SESSION_COOKIE_SECURE", "RATELIMIT_ENABLED", "TOTP_REQUIRED_ROLES",
                   "BABEL_DEFAULT_LOCALE"}


def _choice_settings() -> list[tuple[str, str, tuple[str, ...]]]:
    """(app.config key, environment variable, allowed values) of every choice-valued setting."""
    return [(key, spec.env or key, spec.choices) for section in SECTIONS.values()
            for key, spec in settings_of(section).items() if spec.choices]


def test_every_choice_valued_setting_declares_its_choices() -> None:
    assert {key for key, _, _ in _choice_settings()} == CHOICE_SETTINGS


@pytest.mark.parametrize("key, variable, allowed", _choice_settings(), ids=lambda v: v if isinstance(v, str) else "")
def test_a_typo_in_any_choice_is_refused_naming_the_setting_the_value_and_the_choices(
        monkeypatch: pytest.MonkeyPatch, key: str, variable: str, allowed: tuple[str, ...]) -> None:
    monkeypatch.setenv(variable, "tyop")
    with pytest.raises(ConfigError) as err:
        Config()
    message = str(err.value.code)
    assert f"{variable}='tyop' 无效" in message and f"{variable}='tyop' is not valid; use one of:" in message
    assert all(value in message for value in allowed)


@pytest.mark.parametrize("key, variable, allowed", _choice_settings(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_allowed_value_of_a_choice_is_taken(monkeypatch: pytest.MonkeyPatch, key: str, variable: str,
                                                   allowed: tuple[str, ...]) -> None:
    for value in allowed:
        written = value + "localhost:6379/1" if value.endswith("//") else value
        monkeypatch.setenv(variable, written)
        assert getattr(Config(), key) in (written, written == "1")


def test_flags_take_0_and_1_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATELIMIT_ENABLED", "0")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    config = Config()
    assert config.RATELIMIT_ENABLED is False and config.SESSION_COOKIE_SECURE is True
    monkeypatch.setenv("JOBS_EMBEDDED_WORKER", "true")  # used to mean off, silently
    with pytest.raises(ConfigError, match=r"(?s)JOBS_EMBEDDED_WORKER='true' 无效，可选值：0, 1"):
        Config()


def test_an_unknown_role_in_totp_required_roles_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOTP_REQUIRED_ROLES", "broker, admin")
    assert Config().TOTP_REQUIRED_ROLES == "broker, admin"  # kept as written; web/security.py splits it
    monkeypatch.setenv("TOTP_REQUIRED_ROLES", "broker,admn")
    with pytest.raises(ConfigError, match=r"(?s)TOTP_REQUIRED_ROLES='admn' 无效.*company, university, broker, admin"):
        Config()


def test_config_roles_are_the_models_roles() -> None:
    from models import Role

    assert ROLES == tuple(role.value for role in Role)


def test_the_default_locale_is_read_from_default_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    assert Config().as_dict()["BABEL_DEFAULT_LOCALE"] == "en"


def test_sections_are_typed_and_flatten_into_distinct_app_config_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_RETRIES", "5")
    monkeypatch.setenv("SESSION_MAX_HOURS", "2")
    config = Config()
    assert config.database.DB_RETRIES == 5 == config.DB_RETRIES
    assert config.security.PERMANENT_SESSION_LIFETIME == 7200
    keys = [key for section in config.sections() for key in section.as_dict()]
    assert len(keys) == len(set(keys))  # no key in two sections
    flat = config.as_dict()
    assert set(flat) == {"INSTANCE_DIR", *keys} and flat["DB_RETRIES"] == 5
    assert not any(hasattr(config, name) for name in ("database_url", "MATCH_MIN_SCORE", "WEB_BIND"))


def test_sections_are_frozen() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().database.DB_RETRIES = 9  # type: ignore[misc]


def test_server_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_WORKERS", "2")
    monkeypatch.setenv("WEB_ACCESS_LOG", "")
    assert server_settings() == {"bind": "127.0.0.1:8000", "workers": 2, "threads": 1, "timeout": 60,
                                 "accesslog": None}
    monkeypatch.setenv("WEB_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="Environment variable WEB_TIMEOUT must be a whole number"):
        server_settings()


@pytest.mark.parametrize("name, value", [("DEMAND_OVERDUE_DAYS", "0"), ("DEMAND_OVERDUE_DAYS", "400"),
                                         ("OPPORTUNITY_IDLE_DAYS", "-3")])
def test_a_number_of_days_outside_its_range_is_refused_naming_the_range(monkeypatch, name, value):
    """It used to fall back to 14 silently, so an operator's 0 or 400 did nothing they could see."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        Config()
    message = str(err.value.code)
    assert f"环境变量 {name} 必须是 1 到 365 之间的整数" in message
    assert f"Environment variable {name} must be a whole number from 1 to 365 (it is {int(value)}" in message
    monkeypatch.setenv(name, "30")
    assert getattr(Config(), name) == 30
