"""Fit the calibration's "text" stratum (queries without a title) on the BEIR dev sets, and print its
reliability table per set.

    .venv/bin/python -m tools.calibrate_text ../shared/data/bench/dev/{kw,field,gap} [--out FILE] [--json]

Each query's top-100 hybrid candidates are the pairs (what a page could ever show). A pair is relevant when
its grade reaches the set's threshold: `field` grade 2 (the paper itself; its grade-1 discipline-mates are
"the same broad field", which a broker grades 0), the other sets grade 1. Writes the stratum into the
calibration file (the shipped one by default), keeping its other strata."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from matchmaking import calibration
from matchmaking.tools.evaluate import DEFAULT_CACHE, DEFAULT_MODEL, BeirFormatError, build_set, load_beir

RELEVANT_GRADE = {"field": 2}  # the other sets: grade >= 1
DEPTH = 100


def collect(set_dir: Path, model: str, cache_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """(fused text score, relevant?) of every query's top-DEPTH candidates."""
    data = load_beir(set_dir)
    grade = RELEVANT_GRADE.get(set_dir.name, 1)
    sm = build_set(data, "hybrid", model, cache_dir)
    fused, labels = [], []
    for j, q in enumerate(sm.qids):
        for r in sm.rank(j, DEPTH):
            fused.append(r.fused)
            labels.append(data.qrels[q].get(sm.dids[r.id], 0) >= grade)
    return np.asarray(fused), np.asarray(labels)


def _model_name(path: str) -> str:
    from matchmaking.encoders import build_encoder

    return calibration.model_name(build_encoder(path).model_key)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sets", nargs="+", type=Path, help="BEIR set folders (corpus.jsonl, queries.jsonl, qrels/)")
    p.add_argument("--out", type=Path, default=calibration.SHIPPED, help="calibration file to update")
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    per_set = {}
    for d in args.sets:
        try:
            per_set[d.name] = collect(d, args.model, args.cache_dir)
        except (BeirFormatError, OSError) as exc:
            print(f"{d}: {exc}", file=sys.stderr)
            return 2
    fused = np.concatenate([f for f, _ in per_set.values()])
    labels = np.concatenate([y for _, y in per_set.values()])
    stratum = calibration.fit_stratum({"fused": fused}, labels, ("fused",), fitted_on="BEIR dev: " + ", ".join(
        f"{name} (grade >= {RELEVANT_GRADE.get(name, 1)})" for name in per_set))
    try:
        current = calibration.load(args.out)
        strata, structured, notes, model = (dict(current.strata), current.structured_logit, dict(current.notes),
                                            current.model)
    except calibration.CalibrationError:
        strata, structured, notes, model = {}, 0.5, {}, ""
    strata["text"] = stratum
    calibration.Calibration(strata, structured, notes=notes, model=model or _model_name(args.model)).save(args.out)
    report = {"out": str(args.out), "stratum": stratum.to_json(), "sets": {}}
    for name, (f, y) in per_set.items():
        prob = calibration.Calibration({"text": stratum}).probability(stratum.logit({"fused": f}))
        report["sets"][name] = {"pairs": int(len(y)), "relevant": int(y.sum()),
                                "ece": round(calibration.ece(prob, y), 4),
                                "reliability": calibration.reliability(prob, y)}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
