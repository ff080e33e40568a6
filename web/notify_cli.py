"""`flask notify ...`: announce new matches, remind of challenge deadlines, mail the weekly digest and pending mail."""
from __future__ import annotations

from typing import Any, Optional

import click
from flask import Flask, current_app

from services import bands, challenges, listings, notifications
from services.matching import MatchingUnavailable

from .cli_group import CliGroup
from .db import sessionmaker_for
from .notification_mail import deliver, send_digest

notify_cli = CliGroup("notify", help="Notifications: new matches, weekly digest, pending mail.")


def init_app(app: Flask) -> None:
    """Add the `flask notify` commands."""
    app.cli.add_command(notify_cli)


@notify_cli.command("matches", help="Announce new matches of published listings, each pair once: pairs in the band "
                                    "NOTIFY_MATCH_MIN_BAND (possible / strong) or better.")
@click.option("--min-band", type=click.Choice([bands.POSSIBLE, bands.STRONG]), default=None,
              help="Weakest band announced (default: NOTIFY_MATCH_MIN_BAND).")
@click.option("--min-score", type=float, default=None, hidden=True)  # before the bands: accepted, ignored, warned
def notify_matches(min_band: Optional[str], min_score: Optional[float]) -> None:
    app = current_app._get_current_object()
    if min_score is not None:  # an old cron line keeps working; the operator is told what it now does
        click.echo("--min-score 已不再使用，请改用 --min-band possible|strong。\n"
                   "--min-score is no longer used (ignored); use --min-band possible|strong.", err=True)
    band = min_band or app.config["NOTIFY_MATCH_MIN_BAND"]
    runtime = app.extensions["matching"]
    with sessionmaker_for(app)() as session:
        def find(item: Any) -> list[tuple[Any, float]]:
            return [(v.listing, v.match.score) for v in runtime.find_matches(session, item, k=10)]

        items = listings.published(session, "demand") + listings.published(session, "achievement")
        try:
            n = notifications.announce_matches(session, items, find, band)
        except MatchingUnavailable as err:
            raise click.ClickException(f"matching unavailable ({type(err).__name__}): run `flask index rebuild`")
        session.commit()
    click.echo(f"{n} new matches announced (band {band} or better)")


@notify_cli.command("deadlines", help="Remind universities of 揭榜挂帅 challenges in their field that close soon.")
@click.option("--days", type=int, default=7, show_default=True,
              help="Remind of challenges closing within this many days / 截止前天数 (0-365).")
def notify_deadlines(days: int) -> None:
    if not 0 <= days <= 365:
        raise click.BadParameter("0-365 / 天数须在 0 到 365 之间", param_hint="--days")
    app = current_app._get_current_object()
    with sessionmaker_for(app)() as session:
        n = challenges.remind_deadlines(session, days)
        session.commit()
    click.echo(f"{n} deadline reminders created (challenges closing within {days} days)")


@notify_cli.command("panels", help="Remind advisors of advisory-panel reviews due soon (科技顾问团).")
@click.option("--days", type=int, default=2, show_default=True,
              help="Remind of reviews due within this many days / 截止前天数 (0-60).")
def notify_panels(days: int) -> None:
    from services import panels

    if not 0 <= days <= 60:
        raise click.BadParameter("0-60 / 天数须在 0 到 60 之间", param_hint="--days")
    app = current_app._get_current_object()
    with sessionmaker_for(app)() as session:
        n = panels.remind_due(session, days)
        session.commit()
    click.echo(f"{n} panel review reminders created (reviews due within {days} days)")


@notify_cli.command("digest", help="Mail the weekly digest to everyone who wants it.")
def notify_digest() -> None:
    click.echo(f"{send_digest(current_app._get_current_object())} digests sent")


@notify_cli.command("send", help="Send e-mails still pending (after a crash or a mail server outage).")
def notify_send() -> None:
    app = current_app._get_current_object()
    with sessionmaker_for(app)() as session:
        ids = notifications.pending_email_ids(session)
    click.echo(f"{deliver(app, ids)} of {len(ids)} pending e-mails sent")
