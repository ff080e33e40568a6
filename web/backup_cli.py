"""`flask backup create PATH` and `flask backup restore PATH`: online backups (SQLite backup API, or pg_dump on
PostgreSQL) and a checked restore."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from models import User
from services import audit, backup
from services.errors import ServiceError

from .cli import message_for_cli
from .cli_group import CliGroup
from .db import sessionmaker_for, write_session

log = logging.getLogger(__name__)
backup_cli = CliGroup("backup", help="Back up and restore the database (SQLite online backup API; pg_dump/pg_restore).")


def init_app(app: Flask) -> None:
    """Register the group."""
    app.cli.add_command(backup_cli)


def _head() -> str:
    from alembic.script import ScriptDirectory

    from migrations import runner
    return ScriptDirectory.from_config(runner.alembic_config(current_app.config["DATABASE_URL"])).get_current_head()


def _user_ids() -> set[int]:
    """The users of the database as it is now (none if it cannot be read: a damaged one is restored all the same)."""
    try:
        with sessionmaker_for(current_app)() as s:
            return set(s.scalars(select(User.id)))
    except SQLAlchemyError as err:
        log.warning("could not read the users before the restore: %s", type(err).__name__)
        return set()


def _forget_cached(user_ids: set[int]) -> None:
    """The shared cache describes the replaced content: move on the page version and the generations of every
    user of either content (signed-in user snapshots, unread counts), so nothing cached before is served."""
    pages, users = current_app.extensions["matching"].pages, current_app.extensions["signed_in_users"]
    if not pages.shared:
        click.echo("note: CACHE_URL here is not a shared store; if the web processes use Redis, flush its cache "
                   "database now (redis-cli -n N FLUSHDB) / 注意：此处 CACHE_URL 不是共享缓存；若网站进程使用 Redis，"
                   "请立即清空其缓存库", err=True)
        return
    done = pages.bump()
    done = users.bump(user_ids) and done
    current_app.extensions["unread_counts"].bump(user_ids)
    if not done:
        click.echo("warning: the cache store did not answer; flush its database (redis-cli -n N FLUSHDB) before "
                   "the web processes serve cached pages again / 警告：缓存服务无响应，请清空其缓存库", err=True)


def _fail(err: ServiceError | backup.ToolError) -> None:
    click.echo(message_for_cli(err) if isinstance(err, ServiceError) else str(err), err=True)
    sys.exit(2)


def _pg() -> bool:
    return backup.is_postgresql(current_app.config["DATABASE_URL"])


@backup_cli.command("create", help="Write a consistent copy of the live database to PATH (a new file).")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup_create(path: Path) -> None:
    url, bin_dir = current_app.config["DATABASE_URL"], current_app.config.get("PG_BIN_DIR", "")
    try:
        info = backup.pg_create(url, path, bin_dir) if _pg() else backup.create(backup.sqlite_path(url), path)
    except (ServiceError, backup.ToolError) as err:
        _fail(err)
    with write_session(current_app) as s:
        audit.record(s, "backup.created", target=f"file:{path.name}", detail={"bytes": info.bytes})
        s.commit()
    click.echo(f"backup written: {info.path} ({info.bytes} bytes, schema {info.revision}, {info.users} users)")


@backup_cli.command("restore", help="Replace the database with the backup at PATH (checked first).")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def backup_restore(path: Path, yes: bool) -> None:
    url, bin_dir = current_app.config["DATABASE_URL"], current_app.config.get("PG_BIN_DIR", "")
    try:
        if _pg():
            info = backup.pg_inspect(path, _head(), bin_dir)
            target = url.split("?")[0].rsplit("/", 1)[-1]
        else:
            target = backup.sqlite_path(url)
            info = backup.inspect(path, _head())
        if not yes:
            click.confirm(f"Replace {target} with {path} ({info.users} users)? / 用备份覆盖当前数据库？", abort=True)
        users_before = _user_ids()
        if _pg():
            for key in ("db_engine", "db_write_engine"):
                current_app.extensions[key].dispose()  # no pooled connection holds locks on the old tables
        safety = backup.pg_restore(url, path, _head(), Path(current_app.config["INSTANCE_DIR"]), bin_dir) if _pg() \
            else backup.restore(target, path, _head())
    except (ServiceError, backup.ToolError) as err:
        _fail(err)
    for key in ("db_engine", "db_write_engine"):
        current_app.extensions[key].dispose()  # no pooled connection keeps pages of the old content
    _forget_cached(users_before | _user_ids())
    with write_session(current_app) as s:
        audit.record(s, "backup.restored", target=f"file:{path.name}", detail={"users": info.users})
        s.commit()
    click.echo(f"restored from {path}; the previous database was kept as {safety}")
