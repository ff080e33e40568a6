"""Several real web processes: gunicorn (gunicorn.conf.py) with 2 workers on a free port, over the test's
SQLite database and index folder, with a real redis-server for rate limits and the match cache.

The test process writes through its own app (the `app` fixture, same database file and INDEX_DIR), as
another machine or a CLI would; the workers only see what the shared stores carry."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import MODEL_DIR, PASSWORD
from tests.redis_server import redis_server, redis_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PID_RE = re.compile(r"pid=<?(\d+)")
READY_RE = re.compile(r"worker ready pid=(\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """A running gunicorn and an HTTP client for it."""

    def __init__(self, proc: subprocess.Popen, base: str, access_log: Path, instance: Path, log: Any) -> None:
        self.proc, self.base, self.access_log, self.instance, self.log = proc, base, access_log, instance, log

    def client(self) -> Any:
        import requests

        return requests.Session()

    def get(self, client: Any, path: str, **kw: Any) -> Any:
        return client.get(self.base + path, timeout=120, allow_redirects=False, **kw)

    def post_form(self, client: Any, path: str, data: dict, form_path: str | None = None) -> Any:
        """POST a form with the CSRF token of the page it is on (same cookie session)."""
        page = client.get(self.base + (form_path or path), timeout=120).text
        token = CSRF_RE.search(page).group(1)
        return client.post(self.base + path, data={"csrf_token": token, **data}, timeout=120,
                           allow_redirects=False)

    def login(self, client: Any, email: str, password: str = PASSWORD) -> Any:
        return self.post_form(client, "/login", {"email": email, "password": password})

    def pids(self) -> set[int]:
        """Worker pids that answered so far (from the access log)."""
        return {int(m) for m in PID_RE.findall(self.access_log.read_text())} if self.access_log.exists() else set()

    def many(self, fn: Callable[[int], Any], n: int, parallel: int = 6) -> list[Any]:
        """n calls of fn(i) from `parallel` threads at once (so several workers answer)."""
        with ThreadPoolExecutor(parallel) as pool:
            return list(pool.map(fn, range(n)))

    def until_workers(self, fn: Callable[[int], Any], workers: int = 2, seconds: float = 90) -> list[Any]:
        """More rounds of 12 parallel calls of fn until `workers` workers have answered (a threaded worker can take
        every request of a burst while the other idles), or the time is up; every call's result, to check."""
        out: list[Any] = []
        deadline = time.monotonic() + seconds
        while len(self.pids()) < workers and time.monotonic() < deadline:
            out += self.many(fn, 12, parallel=12)
        return out


@pytest.fixture
def start_site(app, tmp_path: Path, redis_url: str) -> Iterator[Callable[..., Site]]:  # noqa: F811
    """Start gunicorn on the `app` fixture's database and index folder; Redis for limits and cache."""
    sites: list[Site] = []

    def start(workers: int = 2, **env_over: str) -> Site:
        port = free_port()
        instance = tmp_path / f"instance-{port}"  # fresh: the workers create the secret key together
        access_log = tmp_path / f"access-{port}.log"
        env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
        env.update(DATABASE_URL=app.config["DATABASE_URL"], INDEX_DIR=app.config["INDEX_DIR"],
                   INSTANCE_DIR=str(instance), EMBEDDING_MODEL=MODEL_DIR, INDEX_SYNC="inline",
                   MATCHER_REFRESH="inline",
                   JOBS_MODE="inline", MAIL_DIR=str(tmp_path / "mail"), RATELIMIT_STORAGE_URI=redis_url,
                   RATELIMIT_FALLBACK_SECONDS="1", CACHE_URL=redis_url.rsplit("/", 1)[0] + "/1",
                   WEB_WORKERS=str(workers), WEB_BIND=f"127.0.0.1:{port}", WEB_ACCESS_LOG=str(access_log),
                   WEB_TIMEOUT="120")
        env.update(env_over)
        log = open(tmp_path / f"gunicorn-{port}.log", "w")
        proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py")],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        site = Site(proc, f"http://127.0.0.1:{port}", access_log, instance, log)
        sites.append(site)
        _wait_up(site, tmp_path / f"gunicorn-{port}.log", int(env["WEB_WORKERS"]))
        return site

    yield start
    for site in sites:
        if site.proc.poll() is None:
            os.killpg(site.proc.pid, signal.SIGTERM)
            site.proc.wait(timeout=60)
        site.log.close()


def _wait_up(site: Site, log: Path, workers: int) -> None:
    """Until every worker has built its app (gunicorn.conf.py post_worker_init logs "worker ready") and the site
    answers: a worker still booting would leave the other to answer every request of a test about both."""
    import requests

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if site.proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {log.read_text()[-2000:]}")
        ready = len(set(READY_RE.findall(log.read_text(errors="replace"))))
        try:
            if ready >= workers and requests.get(site.base + "/login", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"gunicorn's {workers} workers were not all ready within 180 s: {log.read_text()[-2000:]}")
