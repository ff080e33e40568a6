"""`python -m matchmaking.onnx_export`, as documented in docs/model.md and the Makefile (make model).

An entry point only: the code lives in matchmaking/tools/onnx_export.py (see matchmaking/tools/__init__.py)."""
import sys

from matchmaking.tools.onnx_export import main

if __name__ == "__main__":
    sys.exit(main())
