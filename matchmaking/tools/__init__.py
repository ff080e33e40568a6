"""Command-line tools over the engine: benchmarks (bench, encode_bench, lexical_bench), the evaluation on BEIR
sets (evaluate), and the model set-up steps `make model` runs (convert, onnx_export). The running platform never
imports this package; the engine's library modules never import it either.

The documented commands keep their names: `python -m matchmaking.bench`, `.encode_bench`, `.lexical_bench`,
`.evaluate`, `.convert` and `.onnx_export` are entry points in matchmaking/ that only call `main()` here.
"""
