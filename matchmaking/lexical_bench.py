"""`python -m matchmaking.lexical_bench`, as documented in docs/capacity.md.

An entry point only: the code lives in matchmaking/tools/lexical_bench.py (see matchmaking/tools/__init__.py)."""
import sys

from matchmaking.tools.lexical_bench import main

if __name__ == "__main__":
    sys.exit(main())
