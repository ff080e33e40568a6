"""Settings from the environment: a value that is not a number stops start-up with a message naming the
variable (zh-CN and en), not a traceback; a good value is used."""
from __future__ import annotations

import subprocess
import sys

import pytest

from config import ROOT, Config, ConfigError


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
