"""Matrix builders for the industry-chain map (issue 20 step 4); merged into FEATURE_BUILDERS by
tests/web/policy_builders.py. The chains are loaded from the seed file on first use."""
from __future__ import annotations

from typing import Any


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


CHAIN_BUILDERS = {
    ("chains.index", "GET"): lambda w, r: ("/chains/", {}),
    ("chains.show", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}?region=shaanxi", {}),
    ("chains.svg", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/map.svg", {}),
    ("chains.export", "GET"): lambda w, r: (f"/chains/{_chain_id(w)}/export.xlsx", {}),
    ("chains.place", "POST"): lambda w, r: (f"/chains/{_chain_id(w)}/place", {}),
}
