"""Application factory: reads config, wires extensions, registers blueprints and CLI groups."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from flask import Flask
from flask_wtf import CSRFProtect
from werkzeug.routing import IntegerConverter

from config import ROOT, Config
from web import admin, auth, cli, db, errors, i18n, jobs, listings, matches, policy, public, review
from web import feedback, pipeline, reports, statistics, workbench_cli
from web import account, exports_web, imports as imports_web, notifications as notifications_web
from web.api import core as api_core, jobs as api_jobs, listings as api_listings
from web.api import feedback as api_feedback, reports as api_reports, roadshows as api_roadshows
from web import challenges, input_guard, roadshows
from web import backup_cli, introductions, matches_cli, model_cli, security
from web import contract_stats, contracts, regions_admin
from web.api import contracts as api_contracts
from web.api import chains as api_chains
from web import notification_mail, notify_cli
from web import challenge_board, programme
from web.api import programme as api_programme
from web import chain_admin, chains_cli  # chain_admin adds the editor's routes to web.chains' blueprint
from web import organisations as organisations_web
from web.api import organisations as api_organisations
from web import panels as panels_web
from web.api import panels as api_panels
from web import directory as directory_web
from web.api import directory as api_directory
from web import brokerage as brokerage_web, broker_stats
from web.api import brokerage as api_brokerage

csrf = CSRFProtect()


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: an id beyond a database integer is a plain 404, never an overflow (500)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2_147_483_647)
        super().__init__(map, *args, **kwargs)


def create_app(overrides: Optional[Mapping[str, Any]] = None) -> Flask:
    """Build a configured app; overrides replace settings (tests)."""
    app = db.App(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(Config().as_dict())
    app.config.from_mapping(overrides or {})
    db.init_app(app)
    api_core.init_hooks(app)  # first of all hooks: under /api/ the bearer token decides who the caller is
    jobs.init_context(app)  # the job context: the parts wired below provide its slots (services/jobs.py)
    csrf.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    policy.init_app(app)
    errors.init_app(app)
    input_guard.init_app(app)
    matches.init_app(app)
    jobs.init_app(app)
    reports.init_app(app)
    pipeline.init_app(app)
    contracts.init_app(app)
    for blueprint in (public.bp, auth.bp, listings.demands_bp, listings.achievements_bp, review.bp,
                      matches.bp, admin.bp, jobs.bp, reports.bp, feedback.bp, pipeline.bp, statistics.bp,
                      imports_web.bp, exports_web.bp, account.bp, notifications_web.bp,
                      roadshows.bp, challenges.bp, introductions.bp, contracts.bp, contract_stats.bp,
                      regions_admin.bp, programme.bp, challenge_board.bp, chain_admin.bp, organisations_web.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(panels_web.bp)  # the advisory panel (科技顾问团)
    panels_web.init_app(app)
    app.register_blueprint(directory_web.bp)  # the service directory (科技大市场)
    directory_web.init_app(app)
    app.register_blueprint(brokerage_web.bp)  # broker operations: caseload, routing, profiles
    app.register_blueprint(broker_stats.bp)
    brokerage_web.init_app(app)
    app.extensions["csrf"] = csrf
    api_core.init_app(app, [api_jobs.bp, api_listings.demands_api, api_listings.achievements_api,
                            api_feedback.bp, api_reports.bp, api_roadshows.bp, api_contracts.regions_bp,
                            api_contracts.contracts_bp, api_programme.bp,
                            api_chains.chains_bp, api_chains.targets_bp, api_chains.stats_bp, api_organisations.bp, api_panels.bp,
                            api_directory.bp, api_brokerage.bp])
    notification_mail.init_app(app)
    notifications_web.init_app(app)
    cli.init_app(app)
    workbench_cli.init_app(app)
    backup_cli.init_app(app)
    matches_cli.init_app(app)
    model_cli.init_app(app)
    notify_cli.init_app(app)
    chains_cli.init_app(app)
    return app
