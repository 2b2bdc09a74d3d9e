"""The HTTP API, compatible with Sensu 1.x's (docs/api.md), on aiohttp.

One module per resource (clients, checks, events, results, aggregates, stashes, silenced,
system for info/health/settings), `http.py` for what handlers share, `middleware.py` for auth,
CORS, request ids, path hygiene and the body cap, `openapi.py` for `/openapi.json`, `app.py`
for the routes and the listener. docs/api.md describes every endpoint with examples.
"""

from pipeline.api.app import ROUTES, ApiRunner, build_app, start_api
from pipeline.config.api import ApiConfig, api_config, api_config_errors

__all__ = ["ROUTES", "ApiConfig", "ApiRunner", "api_config", "api_config_errors", "build_app", "start_api"]
