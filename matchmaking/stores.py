"""Factories of the vector stores and their shelves by name ('faiss', 'pgvector'): each backend in its own
module (matchmaking/vectorstore.py, matchmaking/pgvector_store.py), psycopg imported only when pgvector is
chosen. Callers name a backend here and then talk to the VectorStore / VectorShelf protocols only."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from matchmaking.vectorstore import FaissShelf, FaissStore, VectorShelf, VectorStore


def _pgvector_store(**kw: Any) -> Any:
    from matchmaking.pgvector_store import PgVectorStore  # psycopg is imported only when chosen

    return PgVectorStore(**kw)


def _pgvector_shelf(directory: Callable[[str], Path], model: Callable[[], tuple[str, int]],
                    database_url: str) -> VectorShelf:
    from matchmaking.pgvector_store import PgVectorShelf  # psycopg is imported only when chosen

    return PgVectorShelf(database_url, model)


def build_shelf(kind: str, *, directory: Callable[[str], Path], model: Callable[[], tuple[str, int]],
                database_url: str) -> VectorShelf:
    """The shelf of a store backend: 'faiss' (files under directory(kind)) or 'pgvector' (tables in the
    database at database_url, a SQLAlchemy or libpq URL). Each checks what it needs now, not at first use."""
    shelves: dict[str, Callable[..., VectorShelf]] = {
        "faiss": lambda d, m, _url: FaissShelf(d, m), "pgvector": _pgvector_shelf}
    if kind not in shelves:
        raise ValueError(f"unknown vector store kind {kind!r}; known: {', '.join(shelves)}")
    return shelves[kind](directory, model, database_url)


def build_vector_store(kind: str = "faiss", **kw: Any) -> VectorStore:
    """Factory for vector stores by kind: 'faiss' (files) or 'pgvector' (needs conninfo= or connection=)."""
    factories = {"faiss": FaissStore, "pgvector": _pgvector_store}
    if kind not in factories:
        raise ValueError(f"unknown vector store kind {kind!r}; known: {', '.join(factories)}")
    return factories[kind](**kw)
