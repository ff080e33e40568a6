"""The listing record the engine works on (a demand or an achievement, without contact details)."""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field

KINDS = ("demand", "achievement")


@dataclass(frozen=True)
class Listing:
    """A demand or an achievement as the engine sees it; amounts in 万元."""

    id: int
    kind: str  # "demand" | "achievement"
    title: str
    body: str  # demand: description + indicators; achievement: abstract
    keywords: tuple[str, ...] = ()
    field: str | None = None  # sub-field code like "new_energy.battery"
    region: str | None = None
    trl: int | None = None  # achievement: its TRL; demand: minimum TRL wanted
    budget_min: float | None = None
    budget_max: float | None = None
    price: float | None = None
    negotiable: bool = False
    modes: frozenset[str] = dc_field(default_factory=frozenset)
    # the region's place in the administrative hierarchy, top down, ending at `region` itself:
    # (("province", "shaanxi"), ("city", "xian"), ("district", "yanta"), ("park", "xian_gaoxin")); empty when
    # unknown. Plain data, so the engine needs no database to tell a shared park from a shared province.
    region_path: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def header(self) -> str:
        """Title and keywords, one line each (the part of embed_text before the body)."""
        lines = [self.title.strip()]
        if self.keywords:
            lines.append("、".join(k.strip() for k in self.keywords if k.strip()))
        return "\n".join(line for line in lines if line)

    def embed_text(self) -> str:
        """What gets embedded and lexically indexed: title, keywords, body (never contact details)."""
        return "\n".join(part for part in (self.header(), self.body.strip()) if part)

    def has_structure(self) -> bool:
        """Whether any structured field is set (compatibility is only blended in when it is)."""
        return any(
            v not in (None, False, frozenset())
            for v in (self.field, self.region, self.trl, self.budget_min, self.budget_max,
                      self.price, self.modes)
        )

    @property
    def counterpart_kind(self) -> str:
        """The kind this listing is matched against."""
        return "achievement" if self.kind == "demand" else "demand"
