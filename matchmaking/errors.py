"""The one exception family callers catch when matching cannot answer right now."""
from __future__ import annotations


class MatchingUnavailable(RuntimeError):
    """Matching cannot answer: the model (or its export) is missing, or the index belongs to another model or is
    damaged. Pages and API answers say "matching is not available"; operators run `make model` or `flask index
    rebuild` (each subclass's message says which)."""
