"""The interactive API docs page (Swagger UI) without inline script, so the site's CSP (script-src 'self') lets
it run: flask-smorest's own page starts Swagger UI from an inline <script>, which the CSP blocks (a blank page).
Here the start-up lives in static/js/api-docs.js and reads its settings from data- attributes."""
from __future__ import annotations

import json

from flask import Flask, current_app, render_template_string, url_for

ENDPOINT = "api-docs.openapi_swagger_ui"
# validatorUrl None: Swagger UI would otherwise ask validator.swagger.io (off-site, and blocked by the CSP)
DEFAULT_UI_CONFIG = {"validatorUrl": None, "deepLinking": True}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ title }}</title>
  <link href="{{ assets }}swagger-ui.css" rel="stylesheet" type="text/css">
  <link href="{{ assets }}favicon-32x32.png" rel="icon" type="image/png">
</head>
<body>
  <div id="swagger-ui-container" data-spec-url="{{ spec_url }}" data-config="{{ config }}"></div>
  <script src="{{ assets }}swagger-ui-standalone-preset.js"></script>
  <script src="{{ assets }}swagger-ui-bundle.js"></script>
  <script src="{{ init }}"></script>
</body>
</html>
"""


def swagger_ui() -> str:
    """Swagger UI for the OpenAPI document, started by a same-origin script."""
    cfg = current_app.config
    ui_config = {**DEFAULT_UI_CONFIG, **cfg.get("OPENAPI_SWAGGER_UI_CONFIG", {})}
    return render_template_string(PAGE, title=cfg["API_TITLE"], assets=cfg["OPENAPI_SWAGGER_UI_URL"],
                                  spec_url=url_for("api-docs.openapi_json"), config=json.dumps(ui_config),
                                  init=url_for("static", filename="js/api-docs.js"))


def init_app(app: Flask) -> None:
    """Serve the docs page from swagger_ui() instead of flask-smorest's inline-script page."""
    if ENDPOINT in app.view_functions:
        app.view_functions[ENDPOINT] = swagger_ui
