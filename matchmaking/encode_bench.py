"""`python -m matchmaking.encode_bench`, as documented in docs/benchmarks.md and docs/model.md.

An entry point only: the code lives in matchmaking/tools/encode_bench.py (see matchmaking/tools/__init__.py)."""
import sys

from matchmaking.tools.encode_bench import main

if __name__ == "__main__":
    sys.exit(main())
