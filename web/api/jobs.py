"""API endpoint for background jobs: poll status and progress, fetch the result when done."""
from __future__ import annotations

from typing import Any

from flask_login import current_user
from flask_smorest import Blueprint, abort

from services import jobs
from services.errors import NotFound, ServiceError

from .. import policy
from ..db import db
from ..errors import message_for
from . import schemas as s
from .core import api_blueprint

bp = api_blueprint(Blueprint("api_jobs", __name__, url_prefix="/api/v1/jobs",
                             description="Background jobs (the job pattern)."))
policy.allow("api_jobs.job", "GET", policy.SIGNED_IN, relation="self", note="owner of the job; admins all")


@bp.route("/<int(max=2147483647):job_id>")
@bp.response(200, s.JobOut)
@bp.doc(security=[{"bearerAuth": []}])
def job(job_id: int) -> dict[str, Any]:
    """Status, progress and (when done) the result of one of the caller's jobs."""
    try:
        row = jobs.get_job_for(db(), job_id, current_user)
    except NotFound:
        abort(404, code="not_found")
    error = ({"code": row.error, "message": message_for(ServiceError(row.error))} if row.error else None)
    return {"id": row.id, "kind": row.kind, "status": row.status, "progress": row.progress, "total": row.total,
            "percent": row.percent, "error": error, "result": row.result if row.status == "done" else None}

