"""gunicorn settings: `gunicorn -c gunicorn.conf.py 'app:create_app()'` (or `make serve WORKERS=4`).

Every worker builds its own app (no preload: database pools, the index worker thread and the encoder
must not be shared across fork). Processes share state only through the configured stores: the
database, the signed session cookie (one SECRET_KEY), RATELIMIT_STORAGE_URI and CACHE_URL (Redis), and
INDEX_DIR (faiss manifests, reloaded when they change) or pgvector. Settings come from config.py."""
from config import server_settings

_s = server_settings()
bind = _s["bind"]
workers = _s["workers"]
threads = _s["threads"]
timeout = _s["timeout"]
accesslog = _s["accesslog"]
# the worker pid is in each access-log line, so a test (or an operator) sees which process answered
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s'
preload_app = False
graceful_timeout = 30
# a worker restarts after this many requests (bounded memory growth), jittered so they do not all restart together
max_requests = 5000
max_requests_jitter = 500
wsgi_app = "app:create_app()"
# gunicorn 27's control socket sits at one fixed path per user; several instances (tests, a load test next
# to a running site) would fight over it, and nothing here uses it
control_socket_disable = True


def post_worker_init(worker) -> None:
    """One line per worker once its app is built: a test (or an operator) can wait until every worker serves."""
    worker.log.info("worker ready pid=%s", worker.pid)
