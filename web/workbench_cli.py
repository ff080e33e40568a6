"""CLI of the broker workbench: `flask feedback evaluate`, `flask opportunities idle`."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app

from services import feedback
from services.errors import ServiceError

from .cli_group import CliGroup
from .db import sessionmaker_for
from .errors import message_for

feedback_cli = CliGroup("feedback", help="Broker feedback on suggested pairs.")


def init_app(app: Flask) -> None:
    """Register the workbench CLI groups."""
    app.cli.add_command(feedback_cli)
    app.cli.add_command(opportunities_cli)


def _session():
    return sessionmaker_for(current_app)()


@feedback_cli.command("evaluate", help="Fit a re-ranking on earlier feedback; nDCG@k before/after on later feedback.")
@click.option("--train-share", type=click.FloatRange(0.05, 0.95), default=0.7, show_default=True,
              help="Share of the feedback (oldest first) to fit on; the rest is held out.")
@click.option("--k", type=click.IntRange(1, 100), default=10, show_default=True, help="nDCG cut-off.")
def feedback_evaluate(train_share: float, k: int) -> None:
    with _session() as s:
        try:
            result = feedback.evaluate(s, train_share=train_share, k=k)
        except ServiceError as err:
            with current_app.test_request_context():
                click.echo(message_for(err), err=True)
            sys.exit(2)
    click.echo(f"feedback: {result.train} judged pairs to fit on, {result.test} held out "
               f"({result.groups} rankings with a relevant pair)")
    click.echo(f"nDCG@{result.k} engine order:   {result.before:.4f}")
    click.echo(f"nDCG@{result.k} learned order:  {result.after:.4f}  ({result.after - result.before:+.4f})")
    click.echo("weights (positive: makes a pair more likely relevant): "
               + ", ".join(f"{name} {w:+.3f}" for name, w in result.weights.items()))



@feedback_cli.command("fit", help="Fit the re-ranking on all feedback and save it for live rankings.")
def feedback_fit() -> None:
    from .reports import reranker_path

    with _session() as s:
        try:
            model = feedback.fit_all(s)
        except ServiceError as err:
            with current_app.test_request_context():
                click.echo(message_for(err), err=True)
            sys.exit(2)
    path = reranker_path(current_app)
    feedback.save_reranker(model, path)
    click.echo(f"saved weights fitted on {model.trained_on} judged pairs to {path}")
    click.echo("weights: " + ", ".join(f"{name} {w:+.3f}" for name, w in model.explain().items()))
    click.echo(f"live share FEEDBACK_RERANK_SHARE={current_app.config['FEEDBACK_RERANK_SHARE']:g}"
               " (0: not used; set it to e.g. 0.3 and restart to blend it in)")


opportunities_cli = CliGroup("opportunities", help="The deal pipeline.")


@opportunities_cli.command("idle", help="List open opportunities whose stage has not moved for more than N days.")
@click.option("--days", type=click.IntRange(0, 3650), default=None,
              help="Idle threshold in days (default: OPPORTUNITY_IDLE_DAYS).")
def opportunities_idle(days: int | None) -> None:
    from services import pipeline

    days = current_app.config["OPPORTUNITY_IDLE_DAYS"] if days is None else days
    with _session() as s:
        rows = pipeline.idle(s, days)
        for o in rows:
            click.echo(f"#{o.id}\t{o.stage}\tsince {o.stage_changed_at:%Y-%m-%d}\t{o.broker.email}\t"
                       f"{o.demand.title} <-> {o.achievement.title}")
        click.echo(f"{len(rows)} open opportunities idle for more than {days} days")
