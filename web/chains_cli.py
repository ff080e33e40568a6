"""`flask chains load` (the 13 key chains of the Shaanxi/Xi'an plans, or a JSON file) and `flask chains place`
(place every published listing on the chains' nodes; brokers' corrections are kept)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from services import chains
from services.matching import MatchingUnavailable
from services.seed import DATA

from .db import sessionmaker_for

chains_cli = AppGroup("chains", help="Industry chains: load them, place the listings on their nodes.")


def init_app(app: Flask) -> None:
    app.cli.add_command(chains_cli)


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
