"""Use cases: verbs that take a Session first, flush, return objects, and never commit."""
