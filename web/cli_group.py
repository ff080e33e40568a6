"""The platform's CLI group: a command that meets a database it cannot use says what to do, not a traceback."""
from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError

from .db import is_missing_schema, is_unavailable


class CliGroup(AppGroup):
    """An AppGroup whose commands answer a database without this version's tables (never migrated, or behind)
    and an unreachable database with one line each, exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DBAPIError as err:
            if is_missing_schema(err):
                raise click.ClickException(
                    "the database does not have this version's tables (never set up, or behind its migrations): "
                    "run `flask db upgrade` first / 数据库尚未建表或未升级到当前版本：请先运行 `flask db upgrade`") from err
            if is_unavailable(err):
                raise click.ClickException(
                    "cannot reach the database (DATABASE_URL): is it running? / 无法连接数据库（DATABASE_URL）："
                    "请确认数据库已启动") from err
            raise
