"""`flask jobs worker` as its own process: it runs what another process (the web app) queued, through the
SQLite queue file, and stops cleanly on Ctrl-C (SIGINT) after its running jobs."""
from __future__ import annotations

import pytest

import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models import Job
from services import notifications
from tests.conftest import MODEL_DIR, ROOT
from tests.jobs.conftest import wait_for


pytestmark = pytest.mark.server  # starts a `flask jobs worker` process (not in `make test-fast`)


def test_a_worker_process_runs_jobs_the_web_process_queued(app, session, make_user, job_row, tmp_path):
    env = dict(os.environ, DATABASE_URL=app.config["DATABASE_URL"], JOBS_MODE="queue",
               JOBS_QUEUE_URL=app.config["JOBS_QUEUE_URL"], INSTANCE_DIR=str(tmp_path),
               MAIL_DIR=app.config["MAIL_DIR"], SECRET_KEY="test-secret", EMBEDDING_MODEL=MODEL_DIR,
               INDEX_DIR=app.config["INDEX_DIR"], JOBS_EMBEDDED_WORKER="0", PYTHONUNBUFFERED="1")
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "jobs", "worker", "--workers", "2"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        user = make_user("university")
        notifications.notify(session, user.id, "roadshow_invited", {"title": "新能源路演", "date": "2026-12-14",
                                                                    "roadshow_id": 1})
        session.commit()  # this process only queues the mail job (no consumer here)
        job = session.scalar(select(Job).where(Job.kind == "mail.send"))
        done = wait_for(lambda: (j := job_row(job.id)).status == "done" and j, timeout=120,
                        what="the worker process to send the mail")
        assert done.result == {"sent": 1}
        mails = list(Path(app.config["MAIL_DIR"]).glob("*.eml"))
        assert len(mails) == 1 and user.email in mails[0].read_text(encoding="utf-8")
    finally:
        worker.send_signal(signal.SIGINT)
        out, _ = worker.communicate(timeout=60)
    assert "consumer: 2 thread workers on sqlite" in out
    assert worker.returncode == 0, out[-2000:]
