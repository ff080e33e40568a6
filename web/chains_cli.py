"""`flask chains load` (the 13 key chains of the Shaanxi/Xi'an plans, or a JSON file) and `flask chains place`
(place every published listing on the chains' nodes; brokers' corrections are kept), and placement after a
listing changes where no index.sync job runs (JOBS_MODE=inline or INDEX_SYNC=inline): the index.sync follower
(services/chains._after_index_sync) only runs in queue mode, so here a commit that touched demands or
achievements submits a `chains.place` job after it, which the inline queue runs at once (like the mail of
web/notification_mail.queue_mail) and a Huey queue hands to its workers."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from models import Achievement, ChainNode, Demand
from services import jobs
from services.commits import CommitWatcher

from services import chains
from services.matching import MatchingUnavailable
from services.seed import DATA

from .cli_group import CliGroup
from .db import separate_unit, sessionmaker_for

log = logging.getLogger(__name__)
chains_cli = CliGroup("chains", help="Industry chains: load them, place the listings on their nodes.")
AUTOPLACE = "chains_autoplace"  # app.extensions key: what runs after such a commit (tests may swap it)


def init_app(app: Flask) -> None:
    app.cli.add_command(chains_cli)
    # web/jobs.init_app sends index updates as index.sync jobs only in queue mode with INDEX_SYNC != inline
    if app.extensions["jobs"].inline or app.config.get("INDEX_SYNC") == "inline":
        app.extensions[AUTOPLACE] = lambda: place_after_commit(app)
        CommitWatcher("chains_listings_changed", _listing_key, lambda changed: _autoplace(app),
                      "placing listings on the chains after commit failed; `flask chains place` catches up"
                      ).install(sessionmaker_for(app))


def _listing_key(obj: object) -> tuple[tuple[str, int], ...]:
    return ((obj.kind, obj.id),) if isinstance(obj, (Demand, Achievement)) and obj.id is not None else ()


def _autoplace(app: Flask) -> None:
    step = app.extensions.get(AUTOPLACE)
    if step is not None:
        step()


def place_after_commit(app: Flask) -> Optional[int]:
    """Submit a `chains.place` job (one at a time: keyed) and hand it to the app's queue: inline it runs now.
    Nothing when no chain has nodes. Returns the job id."""
    with separate_unit(app) as s:
        if s.scalar(select(func.count()).select_from(ChainNode)) == 0:
            return None
        job = jobs.submit_job(s, chains.PLACE_JOB, None, {}, key="chains.place")
        job_id, queued = job.id, job.status == "queued"
    if queued:
        app.extensions["jobs"].enqueue(job_id)
    return job_id


@chains_cli.command("load", help="Load chains from a JSON file (default: the 13 key chains); existing codes are kept.")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=False))
def load(path: Optional[str]) -> None:
    rows = json.loads(Path(path or DATA / "industry_chains.json").read_text(encoding="utf-8"))
    with sessionmaker_for(current_app)() as s:
        try:
            n = chains.load_chains(s, rows)
        except (KeyError, ValueError) as exc:
            click.echo(f"bad chain file / 产业链文件有误: {exc}", err=True)
            sys.exit(2)
        s.commit()
    click.echo(f"loaded {n} chains / 已加载 {n} 条产业链")


@chains_cli.command("place", help="Place every published listing on the chains' nodes (brokers' corrections kept).")
def place() -> None:
    runtime = current_app.extensions["matching"]
    with sessionmaker_for(current_app)() as s:
        try:
            report = chains.place_all(s, runtime.encoder)
        except MatchingUnavailable as exc:
            click.echo(f"matching is unavailable: {exc} / 匹配暂不可用", err=True)
            sys.exit(2)
        s.commit()
    click.echo(f"placed {report.placed} listings; {report.kept} broker placements kept")
