"""The platform's CLI group: a command that meets a database it cannot use says what to do, not a traceback."""
from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError

from .db import is_missing_schema, is_unavailable


class CliGroup(AppGroup):
    """An AppGroup whose commands answer a database without this version's tables (never migrated, or behind)
    and an unreachable database with one line each, exit status 1. schema_hint=False: the group that migrates
    (`flask db`), where a missing table is the migration's own error, not a call to migrate."""

    def __init__(self, *args: Any, schema_hint: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema_hint = schema_hint

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DBAPIError as err:
            if self.schema_hint and is_missing_schema(err):
                raise click.ClickException(
                    "the database does not have this version's tables (never set up, or behind its migrations): "
                    "run `flask db upgrade` first / 数据库尚未建表或未升级到当前版本：请先运行 `flask db upgrade`") from err
            if is_unavailable(err):
                raise click.ClickException(
                    "cannot reach the database (DATABASE_URL): is it running? / 无法连接数据库（DATABASE_URL）："
                    "请确认数据库已启动") from err
            raise
