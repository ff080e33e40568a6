"""Admins edit the region hierarchy down to the park: the tree, a node's form (never moved into a cycle)."""
from __future__ import annotations

from typing import Any, Optional

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from services import regions
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .contract_forms import LEVEL_LABELS, RegionForm
from .contract_messages import message
from .db import abandon, db
from .i18n import locale_code

# the form field a refusal belongs to (the others are flashed)
FIELD_OF = {"region.bad_code": "code", "region.code_taken": "code", "region.bad_name": "name_zh",
            "region.bad_level": "level", "region.bad_gb_code": "gb_code", "region.gb_code_taken": "gb_code",
            "region.unknown_parent": "parent_id", "region.cycle": "parent_id", "region.level_needs_parent": "parent_id",
            "region.level_order": "level"}
bp = Blueprint("regions", __name__, url_prefix="/admin/regions")
policy.allow("regions.index", "GET", {policy.ADMIN}, relation="staff", note="the region hierarchy")
policy.allow("regions.new", ("GET", "POST"), {policy.ADMIN}, relation="staff", note="add a node")
policy.allow("regions.edit", ("GET", "POST"), {policy.ADMIN}, relation="staff",
             note="change a node; a move under itself or a descendant is refused")


@bp.route("/")
@roles_required("admin")
def index():
    return render_template("regions/index.html", nodes=regions.tree(db()), levels=LEVEL_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def new():
    return _form_page(None)


@bp.route("/<int:region_id>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit(region_id: int):
    return _form_page(_node(region_id))


def _form_page(node: Optional[Any]):
    """The node's form (None: a new node), saved through the service."""
    data: dict[str, Any] = {}
    if node is not None and request.method == "GET":
        data = {"code": node.code, "name_zh": node.name_zh, "name_en": node.name_en, "level": node.level,
                "gb_code": node.gb_code or "", "parent_id": node.parent_id, "position": node.position}
    elif request.method == "GET" and request.args.get("parent", "").isdigit():
        data = {"parent_id": int(request.args["parent"])}
    form = RegionForm(data=data or None)
    lc = locale_code()
    form.parent_id.choices = [("", _("None (a province)"))] + [
        (str(n.region.id), "\u3000" * n.depth + n.region.name(lc)) for n in regions.tree(db())]
    if form.validate_on_submit():
        values = {k: f.data for k, f in form._fields.items() if k != "csrf_token"}
        try:
            saved = regions.update_region(db(), current_user, node, values) if node is not None \
                else regions.create_region(db(), current_user, values)
        except ServiceError as err:
            text = message(err)
            abandon()
            field = getattr(form, FIELD_OF.get(err.code, ""), None)
            if field is not None:
                field.errors = list(field.errors) + [text]
            else:
                flash(text, "danger")
            return render_template("regions/form.html", form=form, node=node), 422
        flash(_("Region %(name)s saved.", name=saved.name(lc)), "success")
        return redirect(url_for("regions.index"))
    return render_template("regions/form.html", form=form, node=node), 422 if form.errors else 200


def _node(region_id: int):
    try:
        return regions.get(db(), region_id)
    except NotFound:
        abort(404)
