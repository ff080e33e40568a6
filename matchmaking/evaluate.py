"""`python -m matchmaking.evaluate`, as documented in README.md, docs/evaluation.md and the Makefile.

An entry point only: the code lives in matchmaking/tools/evaluate.py (see matchmaking/tools/__init__.py)."""
import sys

from matchmaking.tools.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
