"""Industry chains (产业链): load the chains, place published listings on their nodes by the engine's encoder
(brokers' corrections win and survive recomputation), count each node and name the gaps of a region."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from sqlalchemy import delete, func, or_, select, union
from sqlalchemy.orm import Session

from models import (CHAIN_STAGES, Achievement, ChainEdge, ChainNode, ChainPlacement, Demand, IndustryChain,
                    Region, Status, TechContract, User, utcnow)

from . import indexing, jobs, regions
from .errors import NotFound, ServiceError
from .index_sync import SYNC_JOB

PLACE_JOB = "chains.place"
KINDS = ("demand", "achievement")
# cosine similarity (unit vectors) a listing needs to a chain's best node to be placed on that chain; the
# multilingual-e5-small encoder gives unrelated Chinese texts 0.85-0.89 and a listing its own node 0.92-0.95
# (demo texts, docs/contracts.md), so the bar sits between. A chain is also left out when its best node is more
# than CHAIN_MARGIN below the listing's best node on any chain; a second node of a chain needs to be within
# MARGIN of that chain's best; at most MAX_NODES nodes per chain.
THRESHOLD = 0.91
CHAIN_MARGIN = 0.03
MARGIN = 0.01
MAX_NODES = 2
TOP_MATCHES = 3  # matches shown under each listing of a node
REMOVED = "removed"  # a broker's "not on this node" (kept, like a broker's placement, through recomputation)


# -- chains -------------------------------------------------------------------------------------------------
def load_chains(session: Session, rows: list[dict[str, Any]]) -> int:
    """Create the chains of `rows` whose code is new (nodes; edges given or every node of a stage to every
    node of the next); existing chains are left as they are. Returns the number created."""
    have = set(session.scalars(select(IndustryChain.code)))
    created = 0
    for pos, row in enumerate(rows, 1):
        if row["code"] in have:
            continue
        chain = IndustryChain(code=row["code"], name_zh=row["name_zh"], name_en=row.get("name_en", ""),
                              description=row.get("description", ""), key_chain=bool(row.get("key_chain")),
                              leaders="\n".join(row.get("leaders", [])), position=pos, version=1)
        session.add(chain)
        nodes = {}
        for npos, n in enumerate(row["nodes"], 1):
            if n["stage"] not in CHAIN_STAGES:
                raise ValueError(f"{row['code']}.{n['code']}: stage {n['stage']!r}")
            nodes[n["code"]] = ChainNode(code=n["code"], name_zh=n["name_zh"], name_en=n.get("name_en", ""),
                                         stage=n["stage"], description=n["description"], position=npos)
            chain.nodes.append(nodes[n["code"]])
        session.flush()
        for a, b, weight in row.get("edges") or _default_edges(row["nodes"]):
            session.add(ChainEdge(chain_id=chain.id, from_id=nodes[a].id, to_id=nodes[b].id, weight=weight))
        created += 1
    session.flush()
    return created


def _default_edges(nodes: list[dict[str, Any]]) -> list[tuple[str, str, Optional[float]]]:
    by_stage = {s: [n["code"] for n in nodes if n["stage"] == s] for s in CHAIN_STAGES}
    return [(a, b, None) for s, t in zip(CHAIN_STAGES, CHAIN_STAGES[1:]) for a in by_stage[s] for b in by_stage[t]]


def all_chains(session: Session) -> list[IndustryChain]:
    """Every chain, key chains first."""
    return list(session.scalars(select(IndustryChain).order_by(IndustryChain.key_chain.desc(),
                                                                IndustryChain.position, IndustryChain.id)))


def get_chain(session: Session, chain_id: int) -> IndustryChain:
    """A chain by id; NotFound('chain.unknown')."""
    chain = session.get(IndustryChain, chain_id)
    if chain is None:
        raise NotFound("chain.unknown")
    return chain


def get_node(session: Session, chain: IndustryChain, node_id: int) -> ChainNode:
    """A node of this chain; a node of another chain is refused as one (chain.node_elsewhere)."""
    node = session.get(ChainNode, node_id)
    if node is None:
        raise NotFound("chain.unknown_node")
    if node.chain_id != chain.id:
        raise ServiceError("chain.node_elsewhere")
    return node


def edges(session: Session, chain: IndustryChain) -> list[ChainEdge]:
    return list(session.scalars(select(ChainEdge).where(ChainEdge.chain_id == chain.id).order_by(ChainEdge.id)))


# -- the editor (admins): every change bumps the chain's version --------------------------------------------
CODE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _clean(fields: dict[str, Any], required: Sequence[str], limits: dict[str, int]) -> dict[str, Any]:
    out = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    for k in required:
        if not out.get(k):
            raise ServiceError("chain.required", field=k)
    for k, n in limits.items():
        if isinstance(out.get(k), str) and len(out[k]) > n:
            raise ServiceError("chain.too_long", field=k, limit=n)
    if "code" in out and (not set(out["code"]) <= CODE_CHARS):
        raise ServiceError("chain.bad_code")
    return out


def _bump(chain: IndustryChain) -> None:
    chain.version = (chain.version or 0) + 1
    chain.updated_at = utcnow()


def save_chain(session: Session, chain: Optional[IndustryChain], *, code: str, name_zh: str, name_en: str = "",
               description: str = "", leaders: str = "", key_chain: bool = False) -> IndustryChain:
    """Create a chain (chain None) or change one; chain.duplicate_code when another chain has the code."""
    f = _clean({"code": code.lower() if code else code, "name_zh": name_zh, "name_en": name_en or "",
                "description": description or "", "leaders": leaders or ""}, ("code", "name_zh"),
               {"code": 32, "name_zh": 64, "name_en": 128, "description": 4000, "leaders": 2000})
    other = session.scalar(select(IndustryChain.id).where(IndustryChain.code == f["code"]))
    if other is not None and (chain is None or other != chain.id):
        raise ServiceError("chain.duplicate_code")
    f["leaders"] = "\n".join(x.strip() for x in f["leaders"].splitlines() if x.strip())
    if chain is None:
        chain = IndustryChain(position=(session.scalar(select(func.max(IndustryChain.position))) or 0) + 1, version=0)
        session.add(chain)
    for k, v in f.items():
        setattr(chain, k, v)
    chain.key_chain = bool(key_chain)
    _bump(chain)
    session.flush()
    return chain


def save_node(session: Session, chain: IndustryChain, node: Optional[ChainNode], *, code: str, name_zh: str,
              stage: str, description: str, name_en: str = "") -> ChainNode:
    """Add a node to the chain (node None) or change one; chain.duplicate_node_code, chain.bad_stage."""
    f = _clean({"code": code.lower() if code else code, "name_zh": name_zh, "name_en": name_en or "",
                "description": description or ""}, ("code", "name_zh", "description"),
               {"code": 32, "name_zh": 64, "name_en": 128, "description": 2000})
    if stage not in CHAIN_STAGES:
        raise ServiceError("chain.bad_stage")
    if node is not None and node.chain_id != chain.id:
        raise ServiceError("chain.node_elsewhere")
    other = session.scalar(select(ChainNode.id).where(ChainNode.chain_id == chain.id, ChainNode.code == f["code"]))
    if other is not None and (node is None or other != node.id):
        raise ServiceError("chain.duplicate_node_code")
    if node is None:
        node = ChainNode(position=max([n.position for n in chain.nodes] + [0]) + 1)
        chain.nodes.append(node)
    for k, v in f.items():
        setattr(node, k, v)
    node.stage = stage
    _bump(chain)
    session.flush()
    return node


def delete_node(session: Session, chain: IndustryChain, node: ChainNode) -> None:
    """Remove a node with its edges and placements (the listings stay; brokers' decisions on it go)."""
    if node.chain_id != chain.id:
        raise ServiceError("chain.node_elsewhere")
    session.execute(delete(ChainEdge).where(or_(ChainEdge.from_id == node.id, ChainEdge.to_id == node.id)))
    session.execute(delete(ChainPlacement).where(ChainPlacement.node_id == node.id))
    chain.nodes.remove(node)
    _bump(chain)
    session.flush()


def _reaches(session: Session, chain: IndustryChain, start: int, goal: int, skip: Optional[int]) -> bool:
    """Whether the chain's edges (leaving out edge `skip`) lead from node start to node goal."""
    nxt: dict[int, list[int]] = {}
    for e in edges(session, chain):
        if e.id != skip:
            nxt.setdefault(e.from_id, []).append(e.to_id)
    seen, todo = {start}, [start]
    while todo:
        for b in nxt.get(todo.pop(), []):
            if b == goal:
                return True
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return start == goal


def save_edge(session: Session, chain: IndustryChain, edge: Optional[ChainEdge], *, from_id: int, to_id: int,
              weight: Optional[float] = None, quantity: str = "") -> ChainEdge:
    """Add an edge (edge None) or change one: supply flows one way, so no edge to itself (chain.self_edge), no
    second edge between the same nodes (chain.duplicate_edge) and no cycle (chain.cycle)."""
    a, b = get_node(session, chain, from_id), get_node(session, chain, to_id)
    if a.id == b.id:
        raise ServiceError("chain.self_edge")
    if weight is not None and not (0 <= weight <= 1):
        raise ServiceError("chain.bad_weight")
    quantity = (quantity or "").strip()
    if len(quantity) > 64:
        raise ServiceError("chain.too_long", field="quantity", limit=64)
    if edge is not None and edge.chain_id != chain.id:
        raise NotFound("chain.unknown_edge")
    skip = edge.id if edge is not None else None
    twin = session.scalar(select(ChainEdge.id).where(ChainEdge.from_id == a.id, ChainEdge.to_id == b.id))
    if twin is not None and twin != skip:
        raise ServiceError("chain.duplicate_edge")
    if _reaches(session, chain, b.id, a.id, skip):
        raise ServiceError("chain.cycle")
    if edge is None:
        edge = ChainEdge(chain_id=chain.id)
        session.add(edge)
    edge.from_id, edge.to_id, edge.weight, edge.quantity = a.id, b.id, weight, quantity
    _bump(chain)
    session.flush()
    return edge


def get_edge(session: Session, chain: IndustryChain, edge_id: int) -> ChainEdge:
    edge = session.get(ChainEdge, edge_id)
    if edge is None or edge.chain_id != chain.id:
        raise NotFound("chain.unknown_edge")
    return edge


def delete_edge(session: Session, chain: IndustryChain, edge: ChainEdge) -> None:
    session.delete(edge)
    _bump(chain)
    session.flush()


# -- placement ----------------------------------------------------------------------------------------------
_node_cache: dict[tuple[str, str], np.ndarray] = {}
_node_lock = threading.Lock()


def node_text(node: ChainNode) -> str:
    return f"{node.name_zh}：{node.description}"


def node_vectors(encoder: Any, nodes: Sequence[ChainNode]) -> np.ndarray:
    """Unit vectors of the nodes' descriptions, encoded once per process, model and text."""
    keys = [(encoder.model_key, hashlib.sha256(node_text(n).encode("utf-8")).hexdigest()) for n in nodes]
    with _node_lock:
        todo = [i for i, k in enumerate(keys) if k not in _node_cache]
    if todo:
        vecs = encoder.encode_passages([node_text(nodes[i]) for i in todo])
        with _node_lock:
            for i, v in zip(todo, vecs):
                _node_cache[keys[i]] = _unit(np.asarray(v, dtype=np.float32))
    with _node_lock:
        return np.stack([_node_cache[k] for k in keys]) if keys else np.zeros((0, 1), dtype=np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


@dataclass
class PlaceReport:
    placed: dict[str, int] = field(default_factory=dict)  # kind -> listings placed on at least one node
    kept: int = 0  # (listing, chain) pairs a broker decided, left as they are


def place_all(session: Session, encoder: Any, *, threshold: float = THRESHOLD, margin: float = MARGIN,
              max_nodes: int = MAX_NODES) -> PlaceReport:
    """Recompute the engine's placements of every published listing; a broker's placements on a chain keep
    that listing off the engine's placement on that chain."""
    nodes = list(session.scalars(select(ChainNode).order_by(ChainNode.chain_id, ChainNode.position, ChainNode.id)))
    report = PlaceReport()
    session.execute(delete(ChainPlacement).where(ChainPlacement.source == "engine"))
    if not nodes:
        return report
    matrix = node_vectors(encoder, nodes)
    chain_of = np.array([n.chain_id for n in nodes])
    for kind in KINDS:
        docs = indexing.published_docs(session, kind)
        have = indexing.stored_vectors(session, kind, encoder.model_key)
        vectors, _ = indexing.refresh_vectors(session, encoder, kind, docs, have)
        locked = _broker_locked(session, kind)
        report.kept += len(locked)
        report.placed[kind] = 0
        for listing_id in sorted(docs):
            scores = matrix @ _unit(np.asarray(vectors[listing_id], dtype=np.float32))
            chosen = _choose(scores, chain_of, locked, listing_id, threshold, margin, max_nodes)
            for i in chosen:
                session.add(ChainPlacement(entity_type=kind, entity_id=listing_id, node_id=nodes[i].id,
                                           chain_id=nodes[i].chain_id, score=round(float(scores[i]), 4),
                                           source="engine"))
            report.placed[kind] += bool(chosen)
    session.flush()
    return report


def _choose(scores: np.ndarray, chain_of: np.ndarray, locked: set[tuple[int, int]], listing_id: int,
            threshold: float, margin: float, max_nodes: int) -> list[int]:
    """Per chain: the best node if it reaches the threshold, and up to max_nodes-1 more within margin of it."""
    out: list[int] = []
    overall = float(scores.max())
    for chain_id in np.unique(chain_of):
        if (listing_id, int(chain_id)) in locked:
            continue
        idx = np.flatnonzero(chain_of == chain_id)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        best = float(scores[order[0]])
        if best < threshold or best < overall - CHAIN_MARGIN:
            continue
        out.extend(int(i) for i in order[:max_nodes] if float(scores[i]) >= best - margin)
    return out


def _broker_locked(session: Session, kind: str) -> set[tuple[int, int]]:
    rows = session.execute(select(ChainPlacement.entity_id, ChainPlacement.chain_id).where(
        ChainPlacement.entity_type == kind, ChainPlacement.source.in_(("broker", REMOVED))))
    return {(a, b) for a, b in rows}


def _listing(session: Session, kind: str, listing_id: int) -> Demand | Achievement:
    if kind not in KINDS:
        raise ServiceError("chain.bad_kind")
    item = session.get(indexing.MODELS[kind], listing_id)
    if item is None or item.status != Status.PUBLISHED.value:
        raise NotFound("chain.unknown_listing")
    return item


def move_listing(session: Session, actor: User, chain: IndustryChain, kind: str, listing_id: int,
                 node_id: int) -> ChainPlacement:
    """A broker puts a published listing on a node of this chain (instead of wherever it was on the chain);
    the engine leaves that listing's place on this chain alone from now on."""
    item = _listing(session, kind, listing_id)
    node = get_node(session, chain, node_id)
    session.execute(delete(ChainPlacement).where(ChainPlacement.entity_type == kind,
                                                 ChainPlacement.entity_id == item.id,
                                                 ChainPlacement.chain_id == chain.id))
    row = ChainPlacement(entity_type=kind, entity_id=item.id, node_id=node.id, chain_id=chain.id, score=None,
                         source="broker", by_id=actor.id, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def _lock_chain(session: Session, actor: User, chain: IndustryChain, kind: str, listing_id: int) -> list[ChainPlacement]:
    """A broker decides this listing's nodes on the chain: its engine placements there become the broker's."""
    rows = list(session.scalars(select(ChainPlacement).where(
        ChainPlacement.entity_type == kind, ChainPlacement.entity_id == listing_id,
        ChainPlacement.chain_id == chain.id)))
    for r in rows:
        if r.source == "engine":
            r.source, r.by_id = "broker", actor.id
    return rows


def add_listing(session: Session, actor: User, chain: IndustryChain, kind: str, listing_id: int,
                node_id: int) -> ChainPlacement:
    """A broker adds a published listing to a node (its other nodes on the chain stay, now kept as the
    broker's); chain.already_on_node when it is there."""
    item = _listing(session, kind, listing_id)
    node = get_node(session, chain, node_id)
    rows = _lock_chain(session, actor, chain, kind, item.id)
    here = next((r for r in rows if r.node_id == node.id), None)
    if here is not None and here.source != REMOVED:
        raise ServiceError("chain.already_on_node")
    if here is None:
        here = ChainPlacement(entity_type=kind, entity_id=item.id, node_id=node.id, chain_id=chain.id)
        session.add(here)
    here.source, here.score, here.by_id, here.created_at = "broker", None, actor.id, utcnow()
    session.flush()
    return here


def remove_listing(session: Session, actor: User, chain: IndustryChain, kind: str, listing_id: int,
                   node_id: int) -> ChainPlacement:
    """A broker takes a listing off a node: kept off it through recomputation and `flask index rebuild`
    (its other nodes on the chain stay, now kept as the broker's); chain.not_on_node when it is not there."""
    if kind not in KINDS:
        raise ServiceError("chain.bad_kind")
    node = get_node(session, chain, node_id)
    rows = _lock_chain(session, actor, chain, kind, listing_id)
    here = next((r for r in rows if r.node_id == node.id and r.source != REMOVED), None)
    if here is None:
        raise ServiceError("chain.not_on_node")
    here.source, here.score, here.by_id, here.created_at = REMOVED, None, actor.id, utcnow()
    session.flush()
    return here


# -- the map ------------------------------------------------------------------------------------------------
@dataclass
class NodeStat:
    node: ChainNode
    demands: int = 0
    achievements: int = 0
    local_demands: int = 0
    local_achievements: int = 0
    contracts: int = 0
    matches: int = 0  # pairs of a published demand and a published achievement both on the node

    @property
    def needs_results(self) -> bool:
        """Local demands, no local achievement: a target for bringing results in."""
        return self.local_demands > 0 and self.local_achievements == 0

    @property
    def needs_firms(self) -> bool:
        """Achievements, no local firm asking for them: a target for 科技招商."""
        return self.achievements > 0 and self.local_demands == 0


def node_stats(session: Session, chain: IndustryChain, region: Optional[Region]) -> list[NodeStat]:
    """Per node of the chain: published demands, achievements (all, and inside the region node with
    everything under it) and technology contracts linked to a listing on the node; one GROUP BY each."""
    stats = {n.id: NodeStat(n) for n in chain.nodes}
    local = regions.subtree_ids(region) if region is not None else None
    for kind, model in (("demand", Demand), ("achievement", Achievement)):
        base = (select(ChainPlacement.node_id, func.count(), func.count().filter(
                    model.region_id.in_(local)) if local is not None else func.count())
                .join(model, model.id == ChainPlacement.entity_id)
                .where(ChainPlacement.chain_id == chain.id, ChainPlacement.entity_type == kind,
                       ChainPlacement.source != REMOVED, model.status == Status.PUBLISHED.value)
                .group_by(ChainPlacement.node_id))
        for node_id, total, inside in session.execute(base):
            setattr(stats[node_id], kind + "s", total)
            setattr(stats[node_id], "local_" + kind + "s", inside)
    # one indexed join per side (tech_contracts.demand_id / achievement_id, migration 0019), UNIONed so that a
    # contract linked on both sides counts once: a join ON (a OR b) scanned the contracts per placement (H2: 46 s
    # for one chain at 100k placements and 10k contracts on SQLite; this form 0.3 s under the same load)
    sides = [select(ChainPlacement.node_id.label("node_id"), TechContract.id.label("contract_id"))
             .join(TechContract, getattr(TechContract, f"{kind}_id") == ChainPlacement.entity_id)
             .where(ChainPlacement.chain_id == chain.id, ChainPlacement.entity_type == kind,
                    ChainPlacement.source != REMOVED, TechContract.status == "registered")
             for kind in ("demand", "achievement")]
    linked = union(*sides).subquery()
    contracts = select(linked.c.node_id, func.count(linked.c.contract_id)).group_by(linked.c.node_id)
    for node_id, n in session.execute(contracts):
        stats[node_id].contracts = n
    for s in stats.values():
        s.matches = _match_count(s)
    return [stats[n.id] for n in chain.nodes]


def _match_count(stat: NodeStat) -> int:
    """Matches of a node: a published demand and a published achievement both placed on the node (by the engine
    or a broker) are a match of that node: the same link of the chain asks and offers. A listing is on a node
    at most once (chain_placements is unique on entity_type, entity_id, node_id), so the pairs are the node's
    published demands times its published achievements: no self-join of the placements (H2/H8: that join built
    demands x achievements rows per node, 7 s for one chain at 100k listings on SQLite)."""
    return stat.demands * stat.achievements


@dataclass
class PlacedListing:
    kind: str
    item: Any
    placement: ChainPlacement
    matches: list["PlacedListing"] = field(default_factory=list)  # the other kind on the node, best first


def _on_node(node: ChainNode, kind: str, *, ordered: bool = True):
    """The published listings of a kind placed on a node (not taken off it), best first when `ordered`."""
    model = Demand if kind == "demand" else Achievement
    stmt = (select(model, ChainPlacement).join(ChainPlacement, ChainPlacement.entity_id == model.id)
            .where(ChainPlacement.node_id == node.id, ChainPlacement.entity_type == kind,
                   ChainPlacement.source != REMOVED, model.status == Status.PUBLISHED.value))
    return stmt.order_by(ChainPlacement.source.desc(), ChainPlacement.score.desc(), model.id) if ordered else stmt


def node_listing_counts(session: Session, node: ChainNode) -> dict[str, int]:
    """How many published demands and achievements sit on a node (what node_listings lists over its pages)."""
    return {kind: session.scalar(select(func.count()).select_from(_on_node(node, kind, ordered=False).subquery()))
            for kind in KINDS}


def node_listings(session: Session, chain: IndustryChain, node: ChainNode, *, top: int = TOP_MATCHES,
                  offset: int = 0, limit: Optional[int] = None,
                  counts: Optional[dict[str, int]] = None) -> list[PlacedListing]:
    """The published demands and achievements on a node, demands first, each kind best score first (brokers'
    placements first), each with its matches on the node: up to `top` listings of the other kind on the same
    node (their count over the demands is the node's `matches`). Only published listings, never contact fields.
    `offset` / `limit` page the list in SQL (a busy node holds thousands); `counts` (node_listing_counts) saves
    counting again when the caller has them."""
    if limit is not None and counts is None:
        counts = node_listing_counts(session, node)
    out: list[PlacedListing] = []
    before = 0  # listings of the kinds listed before this one
    for kind in KINDS:
        stmt = _on_node(node, kind)
        if limit is not None:
            skip = max(offset - before, 0)
            take = min(limit - len(out), max(counts[kind] - skip, 0))
            before += counts[kind]
            if take <= 0:
                continue
            stmt = stmt.offset(skip).limit(take)
        out.extend(PlacedListing(kind, item, p) for item, p in session.execute(stmt))
    best = {kind: [PlacedListing(kind, item, p) for item, p in session.execute(_on_node(node, kind).limit(top))]
            for kind in KINDS}  # once per kind, not per listing
    for p in out:
        p.matches = list(best["achievement" if p.kind == "demand" else "demand"])
    return out


def removed_listings(session: Session, node: ChainNode) -> list[ChainPlacement]:
    """The listings a broker took off this node (kept off it through recomputation)."""
    return list(session.scalars(select(ChainPlacement).where(ChainPlacement.node_id == node.id,
                                                              ChainPlacement.source == REMOVED)
                                .order_by(ChainPlacement.entity_type, ChainPlacement.entity_id)))


def default_region(session: Session, code: str) -> Optional[Region]:
    """The region a map counts as local unless the page names one (the platform's province)."""
    return regions.by_code(session, code)


# -- jobs ---------------------------------------------------------------------------------------------------
@jobs.handler(PLACE_JOB)
def _place_job(session: Session, job: Any, progress: jobs.Progress, ctx: jobs.JobContext) -> dict:
    """Place every published listing on the chains' nodes (the engine's encoder; brokers' corrections kept)."""
    progress(0, 1)
    report = place_all(session, ctx.need("matching").encoder)
    return {"placed": report.placed, "kept": report.kept}


@jobs.after(SYNC_JOB)
def _after_index_sync(ctx: jobs.JobContext) -> None:
    """After each index sync job, place the listings again in the same consumer."""
    if ctx.matching is None:
        return
    with ctx.factory() as session:
        if session.scalar(select(func.count()).select_from(ChainNode)) == 0:
            return
        job = jobs.submit_job(session, PLACE_JOB, None, {}, key="chains.place")
        session.commit()
        job_id, queued = job.id, job.status == "queued"
    if queued:
        jobs.run_job(ctx, job_id)
