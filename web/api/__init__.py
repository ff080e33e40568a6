"""REST API /api/v1 (flask-smorest): token auth, the same route policy and visibility rules as the pages."""
