"""`python -m matchmaking.bench`, as documented in README.md, docs/benchmarks.md and the Makefile.

An entry point only: the code lives in matchmaking/tools/bench.py (see matchmaking/tools/__init__.py)."""
import sys

from matchmaking.tools.bench import main

if __name__ == "__main__":
    sys.exit(main())
