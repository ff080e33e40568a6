"""A real Redis server for tests (Debian's redis-server on a free loopback port, no persistence).

Import the fixtures in a conftest.py: ``from tests.redis_server import redis_server, redis_url  # noqa: F401``.
When redis-server is missing or cannot start, the tests fail under CI (CI set) and are skipped, with the
reason, elsewhere (`make redis` installs it as root)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Iterator

import pytest


def _unavailable(reason: str) -> None:
    message = f"Redis (redis-server) could not start: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RedisServer:
    """A running redis-server that a test may stop and start again (failure tests)."""

    binary: str
    port: int
    workdir: str
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server on the same port and wait until it answers PING."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        """Stop the server (a failure test's outage)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def flush(self) -> None:
        """Empty every database (between tests)."""
        import redis

        redis.Redis.from_url(self.url).flushall()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server per test session."""
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if binary is None:
        _unavailable("redis-server is not installed (make redis, or apt-get install redis-server)")
    server = RedisServer(binary=binary, port=_free_port(), workdir=tempfile.mkdtemp(prefix="techmatch-redis-"))
    try:
        server.start()
    except Exception as err:  # noqa: BLE001 - any start-up failure is reported the same way
        server.stop()
        _unavailable(f"{type(err).__name__}: {err}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of an empty Redis database for one test (restarted first if an earlier test stopped it)."""
    if redis_server.process is None or redis_server.process.poll() is not None:
        redis_server.start()
    redis_server.flush()
    yield redis_server.url
