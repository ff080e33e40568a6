"""`flask model adapt|list|use|rollback`: the encoder adapted to the platform's own listings, as model versions
(services/model_versions.py; docs/model.md "Adapting the model to the platform's listings")."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app

from models import Job
from services import judged, model_versions
from services.matching import MatchingUnavailable

from .cli_group import CliGroup
from .db import sessionmaker_for

model_cli = CliGroup("model", help="Model versions: adapt the encoder to the published listings, list, switch, roll back.")


def init_app(app: Flask) -> None:
    app.cli.add_command(model_cli)


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


def _runtime():
    return current_app.extensions["matching"]


@model_cli.command("adapt", help="Fine-tune the configured model on the published listings (no labels), encode them "
                   "with it into its own index while the serving model keeps serving, then make it serve.")
@click.option("--epochs", type=click.IntRange(1, 20), default=1, show_default=True)
@click.option("--max-pairs", type=click.IntRange(2, 1_000_000), default=model_versions.AdaptOptions.max_pairs,
              show_default=True, help="training pairs drawn from the listings at most")
@click.option("--batch-size", type=click.IntRange(2, 1024), default=model_versions.AdaptOptions.batch_size,
              show_default=True)
@click.option("--max-seq-length", type=click.IntRange(16, 512), default=model_versions.AdaptOptions.max_seq_length,
              show_default=True, help="tokens of a listing the training reads")
@click.option("--time-budget", type=click.FloatRange(1, None), default=None,
              help="stop training after this many seconds (a nightly window), keeping what was learned")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="auto: a CUDA GPU when there is one")
@click.option("--low-memory/--no-low-memory", default=True, show_default=True,
              help="gradient checkpointing when every layer trains (--trained-layers 0): about half the peak "
              "memory for about a sixth more time")
@click.option("--trained-layers", type=click.IntRange(0, 48), default=model_versions.AdaptOptions.trained_layers,
              show_default=True, help="train only the top N transformer layers (0: all); about half the time per pair")
@click.option("--hard-negatives/--no-hard-negatives", default=model_versions.AdaptOptions.hard_negatives,
              show_default=True, help="one BM25-mined hard negative per pair (a listing sharing the query's words)")
@click.option("--calibrate", "judged_file", type=click.Path(dir_okay=True), default=None,
              help="judged pairs (as `flask matches calibrate`): refit the score calibration for the new model")
@click.option("--no-activate", is_flag=True, help="build and index the new version but keep the current one serving")
@click.option("--background", is_flag=True, help="queue it as a job (as MODEL_ADAPT_SCHEDULE does) and return; "
              "`flask jobs status` and /jobs/<id> follow it")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def adapt(epochs: int, max_pairs: int, batch_size: int, max_seq_length: int, time_budget: float | None,
          device: str, low_memory: bool, trained_layers: int, hard_negatives: bool, judged_file: str | None,
          no_activate: bool, background: bool, as_json: bool) -> None:
    options = model_versions.AdaptOptions(epochs=epochs, max_pairs=max_pairs, batch_size=batch_size,
                                          max_seq_length=max_seq_length, time_budget_s=time_budget, device=device,
                                          low_memory=low_memory, trained_layers=trained_layers,
                                          hard_negatives=hard_negatives)
    rows = _judged(judged_file) if judged_file else None
    if background:
        _queue_adapt(options, judged_file, not no_activate, as_json)
        return
    say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    with sessionmaker_for(current_app)() as session:
        try:
            done = model_versions.adapt_listings(current_app.config, session, _runtime(), options=options,
                                                 judged_rows=rows, activate=not no_activate, progress=say,
                                                 commit=session.commit)
        except (model_versions.AdaptError, model_versions.VersionError, MatchingUnavailable) as exc:
            _fail(f"adaptation failed, the serving model is unchanged / 适配失败，当前模型未改变:\n{exc}")
        except Exception as exc:  # noqa: BLE001 - too few judged pairs, a full disk: said, nothing switched
            _fail(f"adaptation failed, the serving model is unchanged / 适配失败，当前模型未改变:\n"
                  f"{type(exc).__name__}: {exc}")
    _runtime().follow_model(force=True)
    report = {"folder": str(done.folder), "model_key": done.model_key, "pairs": done.result.pairs,
              "steps": done.result.steps, "train_seconds": done.result.seconds, "seconds": done.seconds,
              "loss": [round(done.result.first_loss, 4), round(done.result.last_loss, 4)],
              "encoded": done.encoded, "calibrated": done.calibrated, "serving": done.active}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    click.echo(f"adapted model / 适配后的模型: {done.folder}")
    click.echo(f"  {done.result.pairs} pairs, {done.result.steps} steps, loss {done.result.first_loss:.3f} -> "
               f"{done.result.last_loss:.3f}, {done.seconds} s in all")
    click.echo("  serving now / 已启用" if done.active else
               f"  not serving: `flask model use {done.folder}` / 未启用")


def _queue_adapt(options: model_versions.AdaptOptions, judged_file: str | None, activate: bool,
                 as_json: bool) -> None:
    chosen = {"epochs": options.epochs, "max_pairs": options.max_pairs, "batch_size": options.batch_size,
              "max_seq_length": options.max_seq_length, "device": options.device, "low_memory": options.low_memory,
              "trained_layers": options.trained_layers, "hard_negatives": options.hard_negatives}
    params = {"options": chosen, "time_budget_s": options.time_budget_s, "activate": activate,
              "calibrate": str(Path(judged_file).resolve()) if judged_file else "",
              "keep": int(current_app.config.get("MODEL_ADAPT_KEEP") or 3)}
    queued: list[bool] = []

    def submit(session):
        job, new = model_versions.submit_adapt(session, None, params)
        queued.append(new)
        return job

    try:
        job_id = current_app.extensions["jobs"].submit_now(submit)
    except Exception as exc:  # noqa: BLE001 - the database or queue unreachable: said, nothing queued
        _fail(f"could not queue the adaptation / 无法排队适配任务: {type(exc).__name__}: {exc}")
    with sessionmaker_for(current_app)() as session:
        job = session.get(Job, job_id)
        status, error = (job.status, job.error) if job is not None else ("?", None)
    finished = queued[0] and status in ("done", "failed")  # JOBS_MODE=inline: it ran here, in the foreground
    if as_json:
        click.echo(json.dumps({"job": job_id, "queued": queued[0], "status": status, "error": error}))
    elif finished:
        click.echo(f"adaptation job {job_id} ran here (JOBS_MODE=inline) and is {status}"
                   f"{f': {error}' if error else ''} / 适配任务 {job_id} 已在本进程运行完毕: {status}")
        if status == "failed":
            sys.exit(2)
    elif queued[0]:
        click.echo(f"adaptation queued as job {job_id}: `flask jobs status`, /jobs/{job_id} / 适配任务已排队")
    else:  # its options are that job's, not these
        click.echo(f"an adaptation is already queued or running: job {job_id}; these options were not used / "
                   f"已有适配任务在排队或运行（任务 {job_id}），本次选项未使用")


def _judged(path: str) -> list:
    try:
        return judged.read(path)
    except judged.JudgedFileError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


@model_cli.command("list", help="The configured model and its adaptations; which one serves.")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def list_versions(as_json: bool) -> None:
    rows = model_versions.versions_table(_runtime())
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        extra = "" if row["kind"] == "configured" else (
            f"  pairs={row['pairs']} steps={row['steps']} {row['seconds']} s"
            f"{' calibrated' if row['calibrated'] else ''}")
        click.echo(f"{'*' if row['serving'] else ' '} {row['kind']:<10} {row['folder']}{extra}")


@model_cli.command("use", help="Serve this model folder (an adaptation, or the configured model); its index is "
                   "brought up to date first.")
@click.argument("folder", type=click.Path(file_okay=False))
def use(folder: str) -> None:
    with sessionmaker_for(current_app)() as session:
        try:
            target = model_versions.use_version(current_app.config, session, _runtime(), folder,
                                                commit=session.commit)
        except (model_versions.VersionError, MatchingUnavailable) as exc:
            _fail(str(exc))
    _runtime().follow_model(force=True)
    click.echo(f"serving / 当前模型: {target}")


@model_cli.command("rollback", help="Serve the version that served before the current one.")
def rollback() -> None:
    with sessionmaker_for(current_app)() as session:
        try:
            target = model_versions.rollback(current_app.config, session, _runtime(), commit=session.commit)
        except (model_versions.VersionError, MatchingUnavailable) as exc:
            _fail(str(exc))
    _runtime().follow_model(force=True)
    click.echo(f"serving / 当前模型: {target}")
