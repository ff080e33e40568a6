"""`flask matches evaluate-judged FILE` and `flask matches calibrate FILE`: the match score against pairs a
broker graded (docs/evaluation.md)."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from flask import Flask, current_app

from services import judged
from services.matching import MatchingUnavailable, calibration_path

from .cli_group import CliGroup
from .db import sessionmaker_for

matches_cli = CliGroup("matches", help="The match score: evaluate it on judged pairs, refit its calibration.")


def init_app(app: Flask) -> None:
    app.cli.add_command(matches_cli)


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


def _read(path: str) -> list[judged.Judged]:
    try:
        return judged.read(path)
    except judged.JudgedFileError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


@matches_cli.command("evaluate-judged", help="Score every judged pair (JSON lines: demand_id, achievement_id, "
                     "grade 0-2, titles when ids do not resolve) with the live engine, as the match page would.")
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 100), help="page length (nDCG@k)")
def evaluate_judged(file: str, as_json: bool, k: int) -> None:
    rows = _read(file)
    runtime = current_app.extensions["matching"]
    with sessionmaker_for(current_app)() as session:
        try:
            result = judged.evaluate(runtime, session, rows, k=k)
        except judged.JudgedFileError as exc:
            _fail(str(exc))
        except MatchingUnavailable as exc:
            _fail(f"matching is unavailable: {exc} / 匹配暂不可用: 请先运行 `flask index rebuild`")
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    for key, value in result.items():
        if key not in ("reliability", "unresolved_lines"):
            click.echo(f"{key:24} {value}")
    click.echo("reliability (predicted band -> observed share relevant):")
    for row in result["reliability"]:
        click.echo(f"  {row['from']:.2f}-{row['to']:.2f}  pairs={row['pairs']:4}  predicted={row['predicted']:.3f}"
                   f"  observed={row['observed']:.3f}")


@matches_cli.command("calibrate", help="Refit the score calibration on judged pairs against the current database "
                     "and write it (default: INSTANCE_DIR/calibration.json, which the platform then uses).")
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="where to write the calibration")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def calibrate(file: str, out: str | None, as_json: bool) -> None:
    rows = _read(file)
    runtime = current_app.extensions["matching"]
    target = Path(out) if out else (Path(current_app.config["CALIBRATION_FILE"]) if current_app.config.get(
        "CALIBRATION_FILE") else Path(current_app.config["INSTANCE_DIR"]) / "calibration.json")
    if not target.parent.is_dir() or not os.access(target.parent, os.W_OK):  # say so before a fit of a minute
        _fail(f"cannot write {target}: the folder {target.parent} does not exist or is not writable / "
              f"无法写入 {target}: 文件夹不存在或不可写")
    with sessionmaker_for(current_app)() as session:
        try:
            fitted = judged.fit(runtime, session, rows)
        except MatchingUnavailable as exc:
            _fail(f"matching is unavailable: {exc} / 匹配暂不可用: 请先运行 `flask index rebuild`")
        except ValueError as exc:  # CalibrationError: too few pairs
            _fail(str(exc))
    try:
        fitted.save(target)
    except OSError as exc:
        _fail(f"cannot write {target}: {exc.strerror} / 无法写入 {target}")
    report = {"out": str(target), "strata": {k: s.to_json() for k, s in fitted.strata.items()},
              "in_use": str(calibration_path(current_app.config)) == str(target)}
    click.echo(json.dumps(report, ensure_ascii=False, indent=None if as_json else 1))
