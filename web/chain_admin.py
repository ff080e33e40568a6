"""The admins' chain editor (routes on the chains blueprint): create and edit a chain (names, description,
链主 enterprises), add, edit and remove its nodes and edges. Each change bumps the chain's version; every
refusal (empty names, a duplicate code, an edge to itself, a duplicate edge, a cycle) comes back on the form in
the current language with status 422 and nothing of the request kept."""
from __future__ import annotations

from typing import Any, Optional

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _

from services import chains
from services.errors import NotFound, ServiceError

from . import policy
from .access import roles_required
from .chain_forms import STAGE_CHOICES, ChainForm, DeleteForm, EdgeForm, NodeForm
from .chains import STAGE_LABELS, _error, bp, message
from .db import db
from .errors import refusal
from .i18n import locale_code

ADMIN = ("admin",)
_NOTE = "the chain editor: admins only (chains, nodes and edges are the platform's reference data)"
_BOTH = ("GET", "POST")
for _endpoint, _methods in (("chains.new", _BOTH), ("chains.edit", _BOTH), ("chains.node_new", _BOTH),
                            ("chains.node_edit", _BOTH), ("chains.node_delete", "POST"), ("chains.edge_new", _BOTH),
                            ("chains.edge_edit", _BOTH), ("chains.edge_delete", "POST")):
    policy.allow(_endpoint, _methods, frozenset({policy.ADMIN}), note=_NOTE)
# the field a service refusal belongs on
_FIELD_OF = {"chain.duplicate_code": "code", "chain.duplicate_node_code": "code", "chain.bad_code": "code",
             "chain.bad_stage": "stage", "chain.self_edge": "to_id", "chain.duplicate_edge": "to_id",
             "chain.cycle": "to_id", "chain.bad_weight": "weight", "chain.node_elsewhere": "from_id"}


def _error_page(err: ServiceError, status: int):
    """A refusal answered with the error page; nothing of the request is kept."""
    refusal(err)
    return _error(err, status)


def _refused(form: Any, err: ServiceError, template: str, **ctx: Any):
    """The form again with the refusal on its field; nothing of the request is kept."""
    refusal(err)
    name = _FIELD_OF.get(err.code) or err.params.get("field")
    field = getattr(form, name, None) if isinstance(name, str) else None
    text = message(err)
    if field is not None:
        field.errors = list(field.errors) + [text]
    else:
        form.form_errors.append(text)
    return render_template(template, form=form, **ctx), 422


def _chain(chain_id: int):
    return chains.get_chain(db(), chain_id)


@bp.route("/new", methods=["GET", "POST"], endpoint="new")
@roles_required(*ADMIN)
def new():
    form = ChainForm()
    if form.validate_on_submit():
        try:
            chain = chains.save_chain(db(), None, **_chain_values(form))
        except ServiceError as err:
            return _refused(form, err, "chains/chain_form.html", chain=None)
        flash(_("Chain saved."), "success")
        return redirect(url_for("chains.edit", chain_id=chain.id))
    return render_template("chains/chain_form.html", form=form, chain=None), 422 if form.errors else 200


def _chain_values(form: ChainForm) -> dict[str, Any]:
    return {"code": form.code.data or "", "name_zh": form.name_zh.data or "", "name_en": form.name_en.data or "",
            "description": form.description.data or "", "leaders": form.leaders.data or "",
            "key_chain": bool(form.key_chain.data)}


@bp.route("/<int:chain_id>/edit", methods=["GET", "POST"], endpoint="edit")
@roles_required(*ADMIN)
def edit(chain_id: int):
    try:
        chain = _chain(chain_id)
    except NotFound as err:
        return _error_page(err, 404)
    form = ChainForm(obj=chain)
    ctx = {"chain": chain, "edges": chains.edges(db(), chain), "stage_labels": STAGE_LABELS,
           "lc": locale_code(), "delete_form": DeleteForm()}
    if form.validate_on_submit():
        try:
            chains.save_chain(db(), chain, **_chain_values(form))
        except ServiceError as err:
            return _refused(form, err, "chains/chain_form.html", **ctx)
        flash(_("Chain saved."), "success")
        return redirect(url_for("chains.edit", chain_id=chain.id))
    return render_template("chains/chain_form.html", form=form, **ctx), 422 if form.errors else 200


def _node_page(chain_id: int, node_id: Optional[int]):
    try:
        chain = _chain(chain_id)
        node = chains.get_node(db(), chain, node_id) if node_id is not None else None
    except NotFound as err:
        return _error_page(err, 404)
    except ServiceError as err:
        return _error_page(err, 404)
    form = NodeForm(obj=node)
    form.stage.choices = [(s, str(v)) for s, v in STAGE_CHOICES.items()]
    ctx = {"chain": chain, "node": node}
    if form.validate_on_submit():
        try:
            chains.save_node(db(), chain, node, code=form.code.data or "", name_zh=form.name_zh.data or "",
                             name_en=form.name_en.data or "", stage=form.stage.data,
                             description=form.description.data or "")
        except ServiceError as err:
            return _refused(form, err, "chains/node_form.html", **ctx)
        flash(_("Node saved."), "success")
        return redirect(url_for("chains.edit", chain_id=chain.id) + "#nodes")
    return render_template("chains/node_form.html", form=form, **ctx), 422 if form.errors else 200


@bp.route("/<int:chain_id>/nodes/new", methods=["GET", "POST"], endpoint="node_new")
@roles_required(*ADMIN)
def node_new(chain_id: int):
    return _node_page(chain_id, None)


@bp.route("/<int:chain_id>/nodes/<int:node_id>/edit", methods=["GET", "POST"], endpoint="node_edit")
@roles_required(*ADMIN)
def node_edit(chain_id: int, node_id: int):
    return _node_page(chain_id, node_id)


@bp.route("/<int:chain_id>/nodes/<int:node_id>/delete", methods=["POST"], endpoint="node_delete")
@roles_required(*ADMIN)
def node_delete(chain_id: int, node_id: int):
    try:
        chain = _chain(chain_id)
        node = chains.get_node(db(), chain, node_id)
    except ServiceError as err:
        return _error_page(err, 404)
    if not DeleteForm().validate_on_submit():
        flash(_("The form has expired: try again."), "danger")
        return redirect(url_for("chains.edit", chain_id=chain_id))
    chains.delete_node(db(), chain, node)
    flash(_("Node removed with its edges and placements."), "success")
    return redirect(url_for("chains.edit", chain_id=chain_id) + "#nodes")


def _edge_page(chain_id: int, edge_id: Optional[int]):
    try:
        chain = _chain(chain_id)
        edge = chains.get_edge(db(), chain, edge_id) if edge_id is not None else None
    except NotFound as err:
        return _error_page(err, 404)
    form = EdgeForm(obj=edge)
    lc = locale_code()
    choices = [(n.id, f"{STAGE_LABELS[n.stage]} · {n.name(lc)}") for n in chain.nodes]
    form.from_id.choices = form.to_id.choices = choices
    ctx = {"chain": chain, "edge": edge}
    if form.validate_on_submit():
        try:
            chains.save_edge(db(), chain, edge, from_id=form.from_id.data, to_id=form.to_id.data,
                             weight=float(form.weight.data) if form.weight.data is not None else None,
                             quantity=form.quantity.data or "")
        except ServiceError as err:
            return _refused(form, err, "chains/edge_form.html", **ctx)
        flash(_("Edge saved."), "success")
        return redirect(url_for("chains.edit", chain_id=chain.id) + "#edges")
    return render_template("chains/edge_form.html", form=form, **ctx), 422 if form.errors else 200


@bp.route("/<int:chain_id>/edges/new", methods=["GET", "POST"], endpoint="edge_new")
@roles_required(*ADMIN)
def edge_new(chain_id: int):
    return _edge_page(chain_id, None)


@bp.route("/<int:chain_id>/edges/<int:edge_id>/edit", methods=["GET", "POST"], endpoint="edge_edit")
@roles_required(*ADMIN)
def edge_edit(chain_id: int, edge_id: int):
    return _edge_page(chain_id, edge_id)


@bp.route("/<int:chain_id>/edges/<int:edge_id>/delete", methods=["POST"], endpoint="edge_delete")
@roles_required(*ADMIN)
def edge_delete(chain_id: int, edge_id: int):
    try:
        chain = _chain(chain_id)
        edge = chains.get_edge(db(), chain, edge_id)
    except NotFound as err:
        return _error_page(err, 404)
    if not DeleteForm().validate_on_submit():
        flash(_("The form has expired: try again."), "danger")
        return redirect(url_for("chains.edit", chain_id=chain_id))
    chains.delete_edge(db(), chain, edge)
    flash(_("Edge removed."), "success")
    return redirect(url_for("chains.edit", chain_id=chain_id) + "#edges")
