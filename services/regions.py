"""The administrative hierarchy down to the park: create, move and rename nodes (never into a cycle), a node's
subtree as one indexed prefix on the materialised path, and each region's path as plain data for the engine."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, aliased, object_session

from models import REGION_LEVELS, Achievement, Demand, Organisation, Region, User
from models.taxonomy import REGION_LEVEL_RANK

from . import audit
from .errors import NotFound, ServiceError

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
GB_RE = re.compile(r"^\d{6}$")
_PATHS_KEY = "region_paths"  # session.info cache: region code -> ((level, code), ...)


@dataclass(frozen=True)
class RegionNode:
    """A region with its depth, for indented choices and the admin tree."""

    region: Region
    depth: int


def get(session: Session, region_id: int) -> Region:
    """The region or NotFound."""
    region = session.get(Region, region_id)
    if region is None:
        raise NotFound()
    return region


def by_code(session: Session, code: str) -> Optional[Region]:
    """The region with this code, or None."""
    return session.scalar(select(Region).where(Region.code == code)) if code else None


def tree(session: Session) -> list[RegionNode]:
    """Every region depth first, siblings by position then id (one query)."""
    rows = list(session.scalars(select(Region).order_by(Region.position, Region.id)))
    children: dict[Optional[int], list[Region]] = {}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r)
    out: list[RegionNode] = []

    def walk(parent: Optional[int], depth: int) -> None:
        for r in children.get(parent, []):
            out.append(RegionNode(r, depth))
            walk(r.id, depth + 1)

    walk(None, 0)
    return out


def choices(session: Session, locale: str) -> list[tuple[str, str]]:
    """(code, indented name) for select boxes: every level, children under their parent."""
    return [(n.region.code, "\u3000" * n.depth + n.region.name(locale)) for n in tree(session)]


def subtree_ids(node: Region) -> Select:
    """SELECT of the ids of node and everything under it (a prefix LIKE on the indexed path)."""
    return select(Region.id).where(Region.path.startswith(node.path, autoescape=True))


def subtree_codes(node: Region) -> Select:
    """SELECT of the codes of node and everything under it."""
    return select(Region.code).where(Region.path.startswith(node.path, autoescape=True))


def children(session: Session, node: Region) -> list[Region]:
    """Direct children of a node, by position."""
    return list(session.scalars(select(Region).where(Region.parent_id == node.id)
                                .order_by(Region.position, Region.id)))


def ancestors(session: Session, node: Region) -> list[Region]:
    """The node's ancestors from the top down, the node itself last."""
    ids = [int(i) for i in node.path.strip("/").split("/") if i]
    rows = {r.id: r for r in session.scalars(select(Region).where(Region.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def paths(session: Session) -> dict[str, tuple[tuple[str, str], ...]]:
    """Region code -> its path of (level, code) from the top down, computed once per session."""
    cached = session.info.get(_PATHS_KEY)
    if cached is None:
        rows = session.execute(select(Region.id, Region.code, Region.level, Region.path)).all()
        by_id = {r.id: (r.level, r.code) for r in rows}
        cached = {r.code: tuple(by_id[int(i)] for i in r.path.strip("/").split("/") if i and int(i) in by_id)
                  for r in rows}
        session.info[_PATHS_KEY] = cached
    return cached


def path_of(item: Any) -> tuple[tuple[str, str], ...]:
    """The engine's region path for a listing (empty without a region or a session)."""
    session = object_session(item)
    code = getattr(item, "region", None)
    if not code or session is None:
        return ()
    return paths(session).get(code, ())


def _forget_paths(session: Session) -> None:
    session.info.pop(_PATHS_KEY, None)


def _clean(session: Session, data: dict[str, Any], region: Optional[Region]) -> dict[str, Any]:
    """Validated values of the admin form; a ServiceError names the first problem."""
    code = (data.get("code") or "").strip().lower()
    if not CODE_RE.match(code):
        raise ServiceError("region.bad_code")
    other = by_code(session, code)
    if other is not None and other is not region:
        raise ServiceError("region.code_taken")
    name_zh, name_en = (data.get("name_zh") or "").strip(), (data.get("name_en") or "").strip()
    if not name_zh or not name_en or len(name_zh) > 32 or len(name_en) > 64:
        raise ServiceError("region.bad_name")
    level = data.get("level") or ""
    if level not in REGION_LEVELS:
        raise ServiceError("region.bad_level")
    gb_code = (data.get("gb_code") or "").strip() or None
    if gb_code is not None:
        if not GB_RE.match(gb_code):
            raise ServiceError("region.bad_gb_code")
        holder = session.scalar(select(Region).where(Region.gb_code == gb_code))
        if holder is not None and holder is not region:
            raise ServiceError("region.gb_code_taken")
    parent = None
    if data.get("parent_id"):
        parent = session.get(Region, int(data["parent_id"]))
        if parent is None:
            raise ServiceError("region.unknown_parent")
    return {"code": code, "name_zh": name_zh, "name_en": name_en, "level": level, "gb_code": gb_code,
            "parent": parent, "position": int(data.get("position") or 0)}


def _check_level(level: str, parent: Optional[Region]) -> None:
    if parent is None and level != "province":
        raise ServiceError("region.level_needs_parent")
    if parent is not None and REGION_LEVEL_RANK[level] <= REGION_LEVEL_RANK.get(parent.level, 0):
        raise ServiceError("region.level_order")


def create_region(session: Session, actor: User, data: dict[str, Any]) -> Region:
    """Add a node under its parent (or a new province); flushes to know its id for the path."""
    v = _clean(session, data, None)
    _check_level(v["level"], v["parent"])
    region = Region(code=v["code"], name_zh=v["name_zh"], name_en=v["name_en"], level=v["level"],
                    gb_code=v["gb_code"], parent_id=v["parent"].id if v["parent"] else None,
                    position=v["position"], path="")
    session.add(region)
    session.flush()
    region.path = (v["parent"].path if v["parent"] else "/") + f"{region.id}/"
    _forget_paths(session)
    audit.record(session, "region.created", actor=actor, target=f"region:{region.id}", detail={"region": region.code})
    return region


def update_region(session: Session, actor: User, region: Region, data: dict[str, Any]) -> Region:
    """Rename, re-code or move a node with its subtree; never under itself or one of its descendants."""
    v = _clean(session, data, region)
    parent = v["parent"]
    if parent is not None and parent.path.startswith(region.path):
        raise ServiceError("region.cycle")
    _check_level(v["level"], parent)
    deepest_child = min((REGION_LEVEL_RANK[c.level] for c in children(session, region)), default=None)
    if deepest_child is not None and deepest_child <= REGION_LEVEL_RANK[v["level"]]:
        raise ServiceError("region.level_order")
    old_code = region.code
    region.code, region.name_zh, region.name_en = v["code"], v["name_zh"], v["name_en"]
    region.level, region.gb_code, region.position = v["level"], v["gb_code"], v["position"]
    new_parent_id = parent.id if parent else None
    if new_parent_id != region.parent_id:
        _move(session, region, parent)
    if old_code != region.code:
        _recode(session, old_code, region.code)
    _forget_paths(session)
    audit.record(session, "region.changed", actor=actor, target=f"region:{region.id}",
                 detail={"region": region.code, "parent_id": new_parent_id})
    return region


def _move(session: Session, region: Region, parent: Optional[Region]) -> None:
    """Re-root the node's subtree paths under the new parent."""
    old = region.path
    new = (parent.path if parent else "/") + f"{region.id}/"
    for node in session.scalars(select(Region).where(Region.path.startswith(old, autoescape=True))):
        node.path = new + node.path[len(old):]
    region.parent_id = parent.id if parent else None


def _recode(session: Session, old: str, new: str) -> None:
    """Listings and organisations keep their region code in text (forms, imports): follow a renamed code."""
    for model in (Demand, Achievement, Organisation):
        session.execute(update(model).where(model.region == old).values(region=new)
                        .execution_options(synchronize_session=False))


def subtree_codes_of(code: str) -> Select:
    """SELECT of the codes under the node with this code, the node included (nothing for an unknown code)."""
    top = aliased(Region)
    node_path = select(top.path).where(top.code == code).scalar_subquery()
    return select(Region.code).where(Region.path.startswith(node_path))


def load_tree(session: Session, rows: list[dict[str, Any]]) -> int:
    """Seed nodes given parent before child (idempotent: an existing code only gets its missing GB/T code and
    level); returns how many nodes were added. For `flask seed demo` and tests; no audit (no actor)."""
    added = 0
    for row in rows:
        parent = by_code(session, row["parent"]) if row.get("parent") else None
        node = by_code(session, row["code"])
        if node is None:
            node = Region(code=row["code"], name_zh=row["name_zh"], name_en=row["name_en"], level=row["level"],
                          gb_code=row.get("gb_code"), parent_id=parent.id if parent else None,
                          position=int(row.get("position") or added + 1), path="")
            session.add(node)
            session.flush()
            node.path = (parent.path if parent else "/") + f"{node.id}/"
            added += 1
        elif node.gb_code is None and row.get("gb_code"):
            node.gb_code = row["gb_code"]
    session.flush()
    _forget_paths(session)
    return added


def root_paths(session: Session) -> None:
    """Give top-level nodes added without a path (seeded provinces) their own: '/<id>/'."""
    for node in session.scalars(select(Region).where(Region.path == "", Region.parent_id.is_(None))):
        node.path = f"/{node.id}/"
    session.flush()
    _forget_paths(session)
