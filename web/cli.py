"""CLI groups: `flask db`, `flask seed`, `flask users`, `flask index`. Each opens its own session."""
from __future__ import annotations

import sys
import time
from typing import Any

import click
from flask import Flask, current_app

from services import accounts, search_index, seed
from services.errors import ServiceError
from services.exports import unstorable_char
from services.matching import IndexCorruptError, IndexMismatchError, ModelNotReady

from .cli_group import CliGroup
from .db import sessionmaker_for
from .errors import message_for

db_cli = CliGroup("db", help="Database schema (Alembic migrations).", schema_hint=False)
seed_cli = CliGroup("seed", help="Load data.")
users_cli = CliGroup("users", help="Manage accounts.")
index_cli = CliGroup("index", help="The vector and full-text indexes: check, sync, rebuild.")


def init_app(app: Flask) -> None:
    """Register the CLI groups."""
    for group in (db_cli, seed_cli, users_cli, index_cli):
        app.cli.add_command(group)


def text_option(limit: int):
    """A click callback for a text option: at most limit characters, none that no text may contain (control
    characters; lone surrogates, which is what bytes that are not UTF-8 in argv become), as the web forms."""

    def check(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is None:
            return value
        bad = unstorable_char(value)
        if bad is not None:
            raise click.BadParameter(f"contains the control character U+{ord(bad):04X}, which no text may contain "
                                     f"(is the terminal's encoding UTF-8?) / 含有不允许的控制字符 U+{ord(bad):04X}")
        if len(value) > limit:
            raise click.BadParameter(f"at most {limit} characters / 最多 {limit} 个字符")
        return value

    return check


def _session():
    return sessionmaker_for(current_app)()


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


@db_cli.command("upgrade", help="Apply migrations up to a revision (default: head).")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    from migrations import runner
    runner.upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"database at {revision}")


@db_cli.command("current", help="Show the database's migration revision.")
def db_current() -> None:
    from migrations import runner
    click.echo(runner.current(current_app.config["DATABASE_URL"]) or "(empty database)")


@seed_cli.command("demo", help="Load the demo data set (only into an empty database unless --force).")
@click.option("--force", is_flag=True, help="Load even if listings exist (adds to them).")
@click.option("--password", default=seed.DEMO_PASSWORD, show_default=True, help="Password of the demo accounts.",
              callback=text_option(200))
def seed_demo(force: bool, password: str) -> None:
    with _session() as s:
        if seed.has_listings(s) and not force:
            click.echo("database already has listings; demo data not loaded (use --force) / 数据库已有数据，未加载演示数据")
            _print_logins(password)
            return
        try:
            result = seed.load_demo(s, password=password)
        except ServiceError as err:
            s.rollback()
            _fail(f"{err.code}: {message_for_cli(err)}")
        s.commit()
    click.echo(f"loaded {result.demands} demands, {result.achievements} achievements, {result.users} users")
    _print_logins(password)
    current_app.extensions["matching"].worker.join()


def message_for_cli(err: ServiceError) -> str:
    """Both languages for CLI errors (no request locale here)."""
    from flask_babel import force_locale
    with current_app.test_request_context():
        with force_locale("zh_Hans_CN"):
            zh = message_for(err)
        with force_locale("en"):
            en = message_for(err)
    return f"{en} / {zh}"


def _print_logins(password: str) -> None:
    click.echo("demo logins / 演示账号 (password 密码: %s)" % password)
    for role, email in seed.DEMO_LOGINS.items():
        click.echo(f"  {role:<10} {email}")


@users_cli.command("create", help="Create an account (brokers and admins are created this way).")
@click.option("--email", required=True, callback=text_option(254))
@click.option("--name", "display_name", required=True, callback=text_option(100))
@click.option("--role", type=click.Choice(["company", "university", "broker", "admin"]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, callback=text_option(200))
def users_create(email: str, display_name: str, role: str, password: str) -> None:
    with _session() as s:
        try:
            accounts.create_user(s, email=email, password=password, display_name=display_name, role=role)
            s.commit()
        except ServiceError as err:
            _fail(message_for_cli(err))
    click.echo(f"created {role} {email}")


class _EncodeProgress:
    """Prints how far encoding has come ("encoding achievements / 编码成果: 128/204, 9 s"), at most every few seconds,
    the first chunk of each kind always."""

    NAMES = {"demand": "demands / 编码需求", "achievement": "achievements / 编码成果"}

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.kind, self.start, self.last = "", 0.0, 0.0

    def __call__(self, kind: str, done: int, total: int) -> None:
        now = time.monotonic()
        if kind != self.kind:  # seconds count from the start of each kind (its 0/total call)
            self.kind, self.start, self.last = kind, now, 0.0
        if done == total or now - self.last >= self.every_s:
            self.last = now
            click.echo(f"encoding {self.NAMES.get(kind, kind)}: {done}/{total}, {now - self.start:.0f} s", err=True)


def _run_index(action: str) -> None:
    runtime = current_app.extensions["matching"]
    try:
        with _session() as s:
            if action == "check":
                report = runtime.check(s)
                words = search_index.check(s)
            else:
                # the full-text index first: it needs no model, and search answers from it meanwhile
                segmented = (search_index.rebuild if action == "rebuild" else search_index.fill)(s)
                s.commit()
                click.echo(("full-text index rebuilt (tables and triggers recreated); listings whose words changed"
                            " / 全文索引已重建，词语有变化的条目: " if action == "rebuild" else
                            "full-text index: listings segmented now / 全文索引，本次新切分的条目: ")
                           + " ".join(f"{k}={n}" for k, n in segmented.items()), err=True)
                click.echo(f"loading the embedding model / 加载嵌入模型: {runtime.encoder!r}", err=True)
                report = getattr(runtime, action)(s, progress=_EncodeProgress())
            s.commit()
    except ModelNotReady as err:
        _fail(str(err))
    except (IndexMismatchError, IndexCorruptError) as err:
        _fail(f"{err}\n索引与当前模型不一致或已损坏，请运行 `flask index rebuild`。")
    for kind in ("demand", "achievement"):
        parts = [f"{name}={getattr(report, name).get(kind, 0)}" for name in
                 ("encoded", "added", "removed", "missing", "extra", "stale") if getattr(report, name)]
        click.echo(f"{kind:<12} " + " ".join(parts))
    if action == "check":
        click.echo("consistent / 一致" if report.consistent else "NOT consistent: run `flask index sync` / 不一致")
        _words_report(words)
        if not (report.consistent and words.consistent):
            sys.exit(1)


def _words_report(words: "search_index.TextIndexReport") -> None:
    """The full-text index's part of `flask index check`."""
    for kind in ("demand", "achievement"):
        click.echo(f"{kind:<12} full-text: unsegmented={words.unsegmented.get(kind, 0)} "
                   f"drifted={words.drifted.get(kind, 0)} (of the {search_index.CHECK_SAMPLE} changed last)")
    for problem in words.problems:
        click.echo(f"full-text index / 全文索引: {problem}")
    if words.consistent:
        click.echo("full-text index consistent / 全文索引一致")
    elif any(words.unsegmented.values()) and not (words.problems or any(words.drifted.values())):
        click.echo("full-text index NOT consistent: run `flask index sync` / 全文索引不一致")
    else:
        click.echo("full-text index NOT consistent: run `flask index rebuild` / 全文索引不一致")


@index_cli.command("check", help="Compare both indexes with the database (exit 1 if they differ).")
def index_check() -> None:
    _run_index("check")


@index_cli.command("sync", help="Encode new or edited listings, segment unsegmented ones: both indexes up to date.")
def index_sync() -> None:
    _run_index("sync")


@index_cli.command("rebuild", help="Rebuild the vector index from stored vectors (after a model change) and re-segment every listing "
                                      "into the full-text index.")
def index_rebuild() -> None:
    _run_index("rebuild")
