"""Judged demand -> achievement pairs (graded 0-2 by a broker): the live engine's scores against them, and
the calibration fitted on them (`flask matches evaluate-judged`, `flask matches calibrate`)."""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from matchmaking import bands
from matchmaking import calibration as _calibration
from models import Achievement, Demand, Status

MAX_FILE_BYTES = 50 * 1024 * 1024


class JudgedFileError(ValueError):
    """A judged file that cannot be read; the message (both languages) says what to fix."""


@dataclass(frozen=True)
class Judged:
    """One line of a judged file."""

    line: int
    demand_id: Optional[int]
    achievement_id: Optional[int]
    grade: int
    demand_title: str = ""
    achievement_title: str = ""


def read(path: str | Path) -> list[Judged]:
    """The judged pairs of a JSON-lines file (demand_id, achievement_id, grade 0-2; titles optional)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise JudgedFileError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB / 文件超过大小上限")
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as Excel and Notepad write it, is not data
    except FileNotFoundError:
        raise JudgedFileError(f"{path}: no such file / 找不到文件") from None
    except IsADirectoryError:
        raise JudgedFileError(f"{path}: is a folder, not a JSON-lines file / 这是文件夹, 不是 JSON Lines 文件") from None
    except UnicodeDecodeError:
        raise JudgedFileError(f"{path}: not UTF-8 text / 不是 UTF-8 文本文件") from None
    except OSError as exc:
        raise JudgedFileError(f"{path}: cannot be read ({exc.strerror}) / 无法读取") from None
    rows = [_row(n, line, path) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        raise JudgedFileError(f"{path}: no judged pairs (one JSON object per line) / 文件中没有评判数据")
    return rows


def _row(n: int, line: str, path: Path) -> Judged:
    where = f"{path}, line {n} / 第 {n} 行"
    try:
        obj = json.loads(line)
    except ValueError:
        raise JudgedFileError(f"{where}: not a JSON object / 不是 JSON 对象") from None
    if not isinstance(obj, dict):
        raise JudgedFileError(f"{where}: not a JSON object / 不是 JSON 对象")
    grade = obj.get("grade")
    if isinstance(grade, bool) or not isinstance(grade, int) or grade not in (0, 1, 2):
        raise JudgedFileError(f"{where}: grade must be 0, 1 or 2, got {grade!r} / grade 必须是 0、1 或 2")
    ids = []
    for key in ("demand_id", "achievement_id"):
        v = obj.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**31):  # int4 ids
            raise JudgedFileError(f"{where}: {key} must be a positive integer or null, got {v!r} / {key} 必须是正整数")
        ids.append(v)
    titles = [obj.get(k) or "" for k in ("demand_title", "achievement_title")]
    if not all(isinstance(t, str) for t in titles):
        raise JudgedFileError(f"{where}: titles must be text / 标题必须是文本")
    if (ids[0] is None and not titles[0]) or (ids[1] is None and not titles[1]):
        raise JudgedFileError(f"{where}: each side needs an id or a title / 每一方都需要 id 或标题")
    return Judged(n, ids[0], ids[1], grade, titles[0].strip(), titles[1].strip())


def _resolve(session: Session, model: Any, listing_id: Optional[int], title: str) -> Optional[Any]:
    """The published listing with this id (and this title, when given), else the one published by title."""
    row = session.get(model, listing_id) if listing_id is not None else None
    if row is not None and (not title or row.title.strip() == title) and row.status == Status.PUBLISHED.value:
        return row
    if not title:
        return None
    found = session.scalars(select(model).where(model.title == title, model.status == Status.PUBLISHED.value)
                            .limit(2)).all()
    return found[0] if len(found) == 1 else None


def resolve(session: Session, rows: list[Judged]) -> tuple[list[tuple[Demand, Achievement, int]], int]:
    """(demand, achievement, grade) of every pair whose two listings are published here; unresolved count."""
    pairs, why = resolve_lines(session, rows)
    return pairs, len(why)


def resolve_lines(session: Session, rows: list[Judged]) -> tuple[list[tuple[Demand, Achievement, int]],
                                                                  dict[int, str]]:
    """The resolved pairs, and line number -> why for each line that does not resolve."""
    pairs, why = [], {}
    seen: set[tuple[int, int]] = set()
    for r in rows:
        d = _resolve(session, Demand, r.demand_id, r.demand_title)
        a = _resolve(session, Achievement, r.achievement_id, r.achievement_title)
        if d is None or a is None:
            why[r.line] = ("demand" if d is None else "") + (" and " if d is None and a is None else "") + (
                "achievement" if a is None else "") + " not published here (id and title)"
        elif (d.id, a.id) in seen:
            why[r.line] = "the same pair again"
        else:
            seen.add((d.id, a.id))
            pairs.append((d, a, r.grade))
    return pairs, why


def _by_demand(pairs: list[tuple[Demand, Achievement, int]]) -> dict[int, tuple[Demand, dict[int, int]]]:
    out: dict[int, tuple[Demand, dict[int, int]]] = {}
    for d, a, g in pairs:
        out.setdefault(d.id, (d, {}))[1][a.id] = g
    return out


def evaluate(runtime: Any, session: Session, rows: list[Judged], k: int = 10) -> dict:
    """The live engine's scores on judged pairs: separation, bands, ranking, calibration, empty states."""
    pairs, why = resolve_lines(session, rows)
    unresolved = len(why)
    if not pairs:
        raise JudgedFileError(f"none of the {len(rows)} judged pairs resolves against this database (ids and titles "
                              f"of published listings; is the demo loaded and indexed?) / 评判数据中的配对在当前数据库中"
                              f"均找不到对应的已发布信息")
    scores, grades, p1, ndcg = [], [], [], []
    empty, flagged = [], []
    for demand, judged in _by_demand(pairs).values():
        views = runtime.score_pairs(session, demand, list(judged))
        live = {v.listing.id: v.match.score for v in views}
        ids = [i for i in judged if i in live]
        scores += [live[i] for i in ids]
        grades += [judged[i] for i in ids]
        g = np.asarray([judged[i] for i in ids])
        if not len(g) or g.max() < 1:
            empty.append(demand.id)
            shown = runtime.find_matches(session, demand, k=k)
            if not any(v.match.band == bands.STRONG for v in shown):  # the page's "no strong match yet"
                flagged.append(demand.id)
            continue
        order = sorted(range(len(ids)), key=lambda j: (-live[ids[j]], ids[j]))  # condensed list
        ranked = g[order]
        p1.append(float(ranked[0] >= 1))
        ndcg.append(_ndcg(ranked, k))
    s, g = np.asarray(scores, dtype=np.float64), np.asarray(grades)
    rel = g >= 1
    probs = s / 100.0
    return {
        "pairs": int(len(s)), "unresolved": unresolved + (len(pairs) - int(len(s))),
        "unresolved_lines": {str(n): w for n, w in sorted(why.items())[:50]},
        "demands": len(_by_demand(pairs)),
        "auc": _round(_auc(s[rel], s[~rel])),
        "grade0_strong_share": _share(s[g == 0] >= bands.STRONG_MIN),
        "grade0_possible_share": _share(s[g == 0] >= bands.POSSIBLE_MIN),
        "relevant_possible_share": _share(s[rel] >= bands.POSSIBLE_MIN),
        "grade2_strong_share": _share(s[g == 2] >= bands.STRONG_MIN),
        "p@1": _round(float(np.mean(p1)) if p1 else None), f"ndcg@{k}": _round(float(np.mean(ndcg)) if ndcg else None),
        "empty_demands": len(empty), "empty_demands_flagged": len(flagged),
        "empty_demand_ids": empty, "ece": _round(_calibration.ece(probs, rel)),
        "bands": {"strong": bands.STRONG_MIN, "possible": bands.POSSIBLE_MIN},
        "reliability": _calibration.reliability(probs, rel),
    }


def fit(runtime: Any, session: Session, rows: list[Judged]) -> _calibration.Calibration:
    """The current calibration with its titled strata refit on these judged pairs: each judgement gives a
    demand -> achievement pair and the achievement -> demand pair of the same two listings."""
    pairs, _ = resolve(session, rows)
    if not pairs:
        raise JudgedFileError(f"none of the {len(rows)} judged pairs resolves against this database / "
                              f"评判数据中的配对在当前数据库中均找不到对应的已发布信息")
    current = runtime.calibration
    strata = dict(current.strata)
    for kind, features in (("demand", _calibration.STRATA["demand"]), ("achievement", _calibration.STRATA["achievement"])):
        groups: dict[int, tuple[Any, dict[int, int]]] = defaultdict(lambda: (None, {}))
        for d, a, g in pairs:
            q, c = (d, a) if kind == "demand" else (a, d)
            groups[q.id] = (q, {**groups[q.id][1], c.id: g})
        cols: dict[str, list[float]] = {f: [] for f in features}
        labels: list[bool] = []
        for query, judged in groups.values():
            ids, feats, _structured = runtime.pair_features(session, query, list(judged))
            for f in features:
                cols[f] += [float(x) for x in feats.get(f, [])]
            labels += [judged[i] >= 1 for i in ids]
        strata[kind] = _calibration.fit_stratum(cols, labels, features,
                                                fitted_on=f"{len(labels)} judged pairs ({kind} as the query)")
    return _calibration.Calibration(strata, current.structured_logit, notes=dict(current.notes),
                                    model=_calibration.model_name(runtime.encoder.model_key))


def _ndcg(ranked: np.ndarray, k: int) -> float:
    gains = (2.0 ** ranked[:k] - 1) / np.log2(np.arange(2, min(k, len(ranked)) + 2))
    ideal = np.sort(ranked)[::-1][:k]
    best = ((2.0 ** ideal - 1) / np.log2(np.arange(2, len(ideal) + 2))).sum()
    return float(gains.sum() / best) if best > 0 else 0.0


def _auc(pos: np.ndarray, neg: np.ndarray) -> Optional[float]:
    """P(a relevant pair scores above an unrelated one), ties counted half."""
    if not len(pos) or not len(neg):
        return None
    from scipy.stats import rankdata  # Mann-Whitney from ranks: no P x N matrix for a large file

    ranks = rankdata(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _share(mask: np.ndarray) -> Optional[float]:
    return _round(float(mask.mean())) if len(mask) else None


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None or math.isnan(x) else round(x, 4)
