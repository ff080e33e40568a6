"""Matrix builders for the industry-chain map (issue 20 step 4); merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. The chains are loaded from the seed file on first use."""
from __future__ import annotations

import itertools
from typing import Any

_count = itertools.count(1)


def _chain_id(w: Any) -> int:
    import json

    from sqlalchemy import select

    from models import IndustryChain
    from services import chains
    from services.seed import DATA

    with w.factory() as s:
        found = s.scalar(select(IndustryChain.id).order_by(IndustryChain.id).limit(1))
        if found is None:
            chains.load_chains(s, json.loads((DATA / "industry_chains.json").read_text(encoding="utf-8")))
            s.commit()
            found = s.scalar(select(IndustryChain.id).order_by(IndustryChain.id).limit(1))
        return found


def _node_id(w: Any) -> int:
    from sqlalchemy import select

    from models import ChainNode

    chain_id = _chain_id(w)
    with w.factory() as s:
        return s.scalar(select(ChainNode.id).where(ChainNode.chain_id == chain_id).order_by(ChainNode.id).limit(1))


def _edge_id(w: Any) -> int:
    from sqlalchemy import select

    from models import ChainEdge

    chain_id = _chain_id(w)
    with w.factory() as s:
        return s.scalar(select(ChainEdge.id).where(ChainEdge.chain_id == chain_id).order_by(ChainEdge.id).limit(1))


def _spare_node(w: Any) -> int:
    """A fresh node (removing it leaves the seeded chain whole for the other cells)."""
    from services import chains

    n = next(_count)
    chain_id = _chain_id(w)
    with w.factory() as s:
        node = chains.save_node(s, chains.get_chain(s, chain_id), None, code=f"matrix{n}", name_zh="矩阵节点",
                                stage="upstream", description="矩阵测试节点")
        s.commit()
        return node.id


def _spare_edge(w: Any) -> int:
    from services import chains

    a, b = _spare_node(w), _spare_node(w)
    chain_id = _chain_id(w)
    with w.factory() as s:
        chain = chains.get_chain(s, chain_id)
        edge = chains.save_edge(s, chain, None, from_id=a, to_id=b)
        s.commit()
        return edge.id


def _target(w: Any) -> str:
    """A target of Shaanxi for 2026 (set by the matrix's admin), so that its GET answers 200."""
    from models import User
    from services import contract_stats, regions

    with w.factory() as s:
        contract_stats.set_target(s, s.get(User, w.users["admin"].id), regions.by_code(s, "shaanxi"), 2026, "100")
        s.commit()
    return "/api/v1/targets/shaanxi/2026"


CHAIN_BUILDERS = {
    ("chains.index", "GET"): lambda w, r: ("/chains/", {}),
    ("chains.show", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}?region=shaanxi", {}),
    ("chains.svg", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/map.svg", {}),
    ("chains.export", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/export.xlsx", {}),
    ("chains.place", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/place", {}),
    ("chains.add_listing", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/{_node_id(w)}/add", {}),
    ("chains.remove_listing", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/{_node_id(w)}/remove", {}),
    ("chains.new", "GET"): lambda w, r: ("/chains/new", {}),
    ("chains.new", "POST"): lambda w, r: ("/chains/new", {}),
    ("chains.edit", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/edit", {}),
    ("chains.edit", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/edit", {}),
    ("chains.node_new", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/new", {}),
    ("chains.node_new", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/new", {}),
    ("chains.node_edit", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/{_node_id(w)}/edit", {}),
    ("chains.node_edit", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/{_node_id(w)}/edit", {}),
    ("chains.node_delete", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/nodes/{_spare_node(w)}/delete", {}),
    ("chains.edge_new", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/edges/new", {}),
    ("chains.edge_new", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/edges/new", {}),
    ("chains.edge_edit", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/edges/{_edge_id(w)}/edit", {}),
    ("chains.edge_edit", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/edges/{_edge_id(w)}/edit", {}),
    ("chains.edge_delete", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/edges/{_spare_edge(w)}/delete", {}),
    # the API (issue 20 step 5)
    ("api_chains.index", "GET"): lambda w, r: ("/api/v1/chains/", {}),
    ("api_chains.detail", "GET"): lambda w, r: (f"/api/v1/chains/{_chain_id(w)}?region=shaanxi", {}),
    ("api_chains.node_listings", "GET"): lambda w, r: (f"/api/v1/chains/{_chain_id(w)}/nodes/{_node_id(w)}/listings", {}),
    ("api_targets.index", "GET"): lambda w, r: ("/api/v1/targets/?year=2026", {}),
    ("api_targets.Target", "GET"): lambda w, r: (_target(w), {}),
    ("api_targets.Target", "PUT"): lambda w, r: ("/api/v1/targets/shaanxi/2026", {"amount": "100", "count": 3}),
    ("api_contract_stats.index", "GET"): lambda w, r: ("/api/v1/contract-statistics/?region=shaanxi&year=2026", {}),
}
