"""`python -m matchmaking.convert`, as documented in docs/model.md and the Makefile (make model).

An entry point only: the code lives in matchmaking/tools/convert_cli.py (see matchmaking/tools/__init__.py)."""
import sys

from matchmaking.tools.convert_cli import main

if __name__ == "__main__":
    sys.exit(main())
