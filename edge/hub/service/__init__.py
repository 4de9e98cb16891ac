"""`edge-hub serve`: the hub service (ingest with receipts, incidents, dispatch, commands, HTTP API).

Modules, each for one job: `config` (hub.toml), `db` + `migrations` (SQLite or PostgreSQL, one
schema), `ingest` (MQTT in, receipts out), `incidents`, `officers`, `commands`, `auth`, `events`
(the change feed behind SSE), `evidence`, `api/` (FastAPI routers) and `service` (the builder that
wires them and runs them until stopped).
"""
