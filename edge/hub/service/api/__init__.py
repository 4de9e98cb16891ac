"""The hub's HTTP API: one FastAPI router per resource, dependencies for the session and the role."""
