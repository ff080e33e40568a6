"""Structured compatibility between a demand and an achievement, each component in [0, 1]."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from matchmaking.documents import Listing

NEUTRAL = 0.5
NATIONAL = frozenset({"national", "全国", "cn", "china", "中国"})
COMPONENTS = ("field", "maturity", "budget", "region", "mode")
# How much each component counts in the structured score (docs/evaluation.md): the field is the
# strongest sign of relevance; money and maturity decide whether a deal can happen; region and
# cooperation mode are preferences.
WEIGHTS: dict[str, float] = {"field": 0.35, "maturity": 0.2, "budget": 0.2, "region": 0.1, "mode": 0.15}


@dataclass(frozen=True)
class Component:
    """One compatibility figure with a short reason code; known=False means neutral (no data)."""

    value: float
    reason: str
    known: bool = True


UNKNOWN = Component(NEUTRAL, "unknown", known=False)


def _top(code: str) -> str:
    return code.split(".", 1)[0]


def field_score(demand: Listing, ach: Listing) -> Component:
    """Same sub-field 1, same top-level field 0.6, else 0."""
    if not demand.field or not ach.field:
        return UNKNOWN
    if demand.field == ach.field:
        return Component(1.0, "same_subfield")
    if _top(demand.field) == _top(ach.field):
        return Component(0.6, "same_field")
    return Component(0.0, "other_field")


def maturity_score(demand: Listing, ach: Listing) -> Component:
    """1 when the achievement's TRL reaches the demand's minimum; minus 0.25 per missing level."""
    if demand.trl is None or ach.trl is None:
        return UNKNOWN
    short = demand.trl - ach.trl
    if short <= 0:
        return Component(1.0, "trl_ok")
    return Component(max(0.0, 1.0 - 0.25 * short), f"trl_short:{short}")


def budget_score(demand: Listing, ach: Listing) -> Component:
    """Within budget 1; negotiable 0.7; over budget by x% decays linearly to 0 at +100%."""
    budget = demand.budget_max if demand.budget_max is not None else demand.budget_min
    if budget is None or budget <= 0:
        return UNKNOWN
    if ach.price is None:
        return Component(0.7, "negotiable") if ach.negotiable else UNKNOWN
    if ach.price <= budget:
        return Component(1.0, "within_budget")
    over = (ach.price - budget) / budget
    decayed = max(0.0, 1.0 - over)
    if ach.negotiable and decayed < 0.7:
        return Component(0.7, "negotiable")
    return Component(decayed, f"over_budget:{round(over * 100)}%")


# Region fit by the deepest node two listings share: the closer they sit, the easier a visit, a pilot line or
# a local subsidy (same park > same district > same city > same province).
LEVEL_FIT: dict[str, tuple[float, str]] = {
    "province": (0.75, "same_province"), "city": (0.85, "same_city"), "district": (0.9, "same_district"),
    "park": (0.95, "same_park"), "township": (0.95, "same_township"), "street": (0.95, "same_street")}


def _shared_level(a: Listing, b: Listing) -> str | None:
    """Level of the deepest region node both listings' region paths pass through, or None."""
    level = None
    for (la, ca), (lb, cb) in zip(a.region_path, b.region_path):
        if (la, ca) != (lb, cb):
            break
        level = la
    return level


def region_score(demand: Listing, ach: Listing) -> Component:
    """Same region 1; national reach 0.8; else by the deepest shared node of the hierarchy (park/township/street
    0.95, district 0.9, city 0.85, province 0.75; codes 'province.x' without paths: same province); else 0.5."""
    a, b = (demand.region or "").strip().lower(), (ach.region or "").strip().lower()
    if not a or not b:
        return UNKNOWN
    if a == b:
        return Component(1.0, "same_region")
    if a in NATIONAL or b in NATIONAL:
        return Component(0.8, "national")
    level = _shared_level(demand, ach)
    if level in LEVEL_FIT:
        value, reason = LEVEL_FIT[level]
        return Component(value, reason)
    if "." in a + b and _top(a) == _top(b):
        return Component(0.75, "same_province")
    return Component(0.5, "other_region")


def mode_score(demand: Listing, ach: Listing) -> Component:
    """Cooperation modes: 0 with none in common, else 0.5 + 0.5 x Jaccard."""
    if not demand.modes or not ach.modes:
        return UNKNOWN
    common = demand.modes & ach.modes
    if not common:
        return Component(0.0, "no_common_mode")
    jaccard = len(common) / len(demand.modes | ach.modes)
    return Component(0.5 + 0.5 * jaccard, f"modes:{len(common)}/{len(demand.modes | ach.modes)}")


def compatibility(a: Listing, b: Listing) -> dict[str, Component]:
    """All components for a pair, whichever of the two is the demand."""
    demand, ach = (a, b) if a.kind == "demand" else (b, a)
    if demand.kind == ach.kind:  # same-kind pairs (near duplicates): only field and region apply
        return {"field": field_score(a, b), "maturity": UNKNOWN, "budget": UNKNOWN,
                "region": region_score(a, b), "mode": UNKNOWN}
    return {
        "field": field_score(demand, ach),
        "maturity": maturity_score(demand, ach),
        "budget": budget_score(demand, ach),
        "region": region_score(demand, ach),
        "mode": mode_score(demand, ach),
    }


def structured_score(
    components: Mapping[str, Component], weights: Mapping[str, float] | None = None
) -> float | None:
    """Weighted mean over the known components; None when nothing is known (stays neutral)."""
    w = weights or WEIGHTS
    known = [(w.get(k, 0.0), c.value) for k, c in components.items() if c.known and w.get(k, 0.0) > 0]
    total = sum(wt for wt, _ in known)
    return sum(wt * v for wt, v in known) / total if total > 0 else None
