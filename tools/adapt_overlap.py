"""Did an adaptation learn the task or memorise its queries? Splits a BEIR set's queries into those whose text
is the query side of a training pair of the adaptation (a `field` query is a corpus title, and title -> body is
one of the recipe's pairs) and the rest, and scores each group with the stock and the adapted model.

    .venv/bin/python -m tools.adapt_overlap ../shared/data/bench/dev/field \\
        instance/models/adapted/<name>-adapted-<digest> [--json]

The pairs are drawn again with the adaptation's own options (its marker), so the split is the one it trained on."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matchmaking.adapt import MARKER, AdaptOptions, training_pairs
from matchmaking.tools.evaluate import DEFAULT_CACHE, DEFAULT_MODEL, build_set, load_beir, ndcg_at


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("set", type=Path)
    p.add_argument("adapted", type=Path, help="the adapted model folder (evaluate --adapt wrote it)")
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="the stock model")
    p.add_argument("--cache-dir", default=str(DEFAULT_CACHE))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        marker = json.loads((args.adapted / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        p.error(f"{args.adapted} is not an adapted model folder ({exc}) / 不是适配后的模型目录")
    opts = AdaptOptions(**{k: v for k, v in marker["options"].items() if k in AdaptOptions.__dataclass_fields__})
    data = load_beir(args.set)
    docs = [data.corpus[d] for d in sorted(data.corpus)]  # as evaluate --adapt hands them to adapt()
    trained = {query for query, _ in training_pairs(docs, opts.max_pairs, opts.seed)}
    report: dict = {"set": args.set.name, "adapted": str(args.adapted)}
    for name, model in (("stock", args.model), ("adapted", str(args.adapted))):
        sm = build_set(data, "hybrid", model, args.cache_dir)
        groups: dict[str, list[float]] = {"in training pairs": [], "not in training pairs": []}
        for j, q in enumerate(sm.qids):
            ranked = [sm.dids[r.id] for r in sm.rank(j, 10)]
            group = "in training pairs" if data.queries[q] in trained else "not in training pairs"
            groups[group].append(ndcg_at(ranked, data.qrels[q], 10))
        report[name] = {g: {"queries": len(v), "ndcg@10": round(sum(v) / len(v), 4) if v else None}
                        for g, v in groups.items()}
    print(json.dumps(report, ensure_ascii=False, indent=None if args.json else 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
