"""Index updates and notification mail as queue jobs: an index.sync job keyed by (listings, text hashes,
model) makes a repeat a no-op; a mail.send job is retried while the SMTP server refuses, then delivered."""
from __future__ import annotations

import socket
import socketserver
import threading
from email import message_from_bytes, policy

import pytest
from sqlalchemy import func, select

from models import Job, Notification
from services import notifications
from tests.jobs.conftest import wait_for

pytestmark = pytest.mark.model  # loads the real embedding model (not in `make test-fast`)


def _sync_jobs(session) -> list[Job]:
    session.expire_all()
    return list(session.scalars(select(Job).where(Job.kind == "index.sync").order_by(Job.id)))


class TestIndexSyncJobs:
    @pytest.fixture
    def app_overrides(self):
        return {"INDEX_SYNC": "background"}  # with JOBS_MODE=queue: index.sync jobs instead of a thread

    def test_listing_changes_become_keyed_sync_jobs_and_a_repeat_is_a_no_op(self, app, session, make_user,
                                                                           make_listing, job_row):
        broker, company = make_user("broker"), make_user("company")
        demand = make_listing("demand", company, status="published", reviewer=broker)
        queued = _sync_jobs(session)
        assert len(queued) == 1 and queued[0].status == "queued" and queued[0].key.startswith("index.sync:")
        queue = app.extensions["jobs"]
        queue.start_embedded(1)
        wait_for(lambda: all(j.status == "done" for j in _sync_jobs(session)), what="sync jobs done")
        runtime = app.extensions["matching"]
        assert demand.id in set(runtime.store("demand").ids().tolist())

        demand.contact_phone = "13800000999"  # not embedded: same text hash, same model
        session.commit()
        assert len(_sync_jobs(session)) == 1  # the done job with this key is returned: nothing to do

        original = demand.title
        demand.title = "高镍正极循环寿命提升（修订）"
        session.commit()
        wait_for(lambda: len(_sync_jobs(session)) == 2 and _sync_jobs(session)[-1].status == "done",
                 what="the edit's sync job done")
        demand.title = original  # back to a state synced before: the index changed since, so it runs again
        session.commit()
        wait_for(lambda: len(_sync_jobs(session)) == 3 and _sync_jobs(session)[-1].status == "done",
                 what="the revert's sync job done")
        with app.extensions["db_sessionmaker"]() as s:
            assert runtime.check(s).consistent

    def test_an_unpublished_listing_leaves_the_index_through_a_job(self, app, session, make_user, make_listing):
        broker, company = make_user("broker"), make_user("company")
        demand = make_listing("demand", company, status="published", reviewer=broker)
        app.extensions["jobs"].start_embedded(1)
        runtime = app.extensions["matching"]
        wait_for(lambda: demand.id in set(runtime.store("demand").ids().tolist()), what="indexed")
        from services import listings
        listings.transition(session, demand, company, "close")
        session.commit()
        wait_for(lambda: demand.id not in set(runtime.store("demand").ids().tolist()), what="removed from index")


# ---------------------------------------------------------------- mail

class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        self.wfile.write(b"220 test ESMTP\r\n")
        lines: list[bytes] = []
        in_data = False
        while line := self.rfile.readline():
            if in_data:
                if line.rstrip(b"\r\n") == b".":
                    in_data = False
                    self.server.messages.append(b"".join(lines))
                    lines = []
                    self.wfile.write(b"250 2.0.0 queued\r\n")
                else:
                    lines.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb == b"DATA":
                in_data = True
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SMTP_PORT = _free_port()


class TestMailJobs:
    @pytest.fixture
    def app_overrides(self):
        return {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": SMTP_PORT, "SMTP_TLS": "none",
                "JOBS_RETRIES": 5, "JOBS_RETRY_DELAY": 1.0}

    def test_mail_is_retried_while_the_smtp_server_refuses_then_delivered(self, app, session, make_user,
                                                                        consumer, job_row):
        user = make_user("company")
        notifications.notify(session, user.id, "listing_approved",
                             {"title": "测试需求", "listing_kind": "demand", "listing_id": 1})
        session.commit()  # after commit: a mail.send job, no SMTP in the saving request
        job = wait_for(lambda: session.scalar(select(Job).where(Job.kind == "mail.send")), what="mail job")
        # nothing listens on the port yet: connection refused, a transient failure
        wait_for(lambda: (j := job_row(job.id)).attempts >= 1 and j.status == "queued", what="a retry pending")
        server = socketserver.ThreadingTCPServer(("127.0.0.1", SMTP_PORT), _SMTPHandler)
        server.messages = []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            done = wait_for(lambda: (j := job_row(job.id)).status == "done" and j, what="mail job done")
        finally:
            server.shutdown()
            server.server_close()
        assert done.attempts >= 2 and done.result == {"sent": 1}
        assert len(server.messages) == 1
        mail = message_from_bytes(server.messages[0], policy=policy.default)
        assert mail["To"] == user.email and mail["Subject"].startswith("【技转通】")  # recipient's language
        session.expire_all()
        note = session.scalar(select(Notification).where(Notification.user_id == user.id))
        assert note.email_status == "sent"

    def test_the_same_notifications_are_mailed_by_one_job(self, app, session, make_user):
        user = make_user("company")
        note = notifications.notify(session, user.id, "listing_approved",
                                    {"title": "t", "listing_kind": "demand", "listing_id": 1})
        session.commit()
        from web.notification_mail import queue_mail
        queue_mail(app, [note.id])  # a second hand-over of the same set (e.g. a retry of the save's hook)
        assert session.scalar(select(func.count()).select_from(Job).where(Job.kind == "mail.send")) == 1
