// Starts Swagger UI on /api/v1/docs (web/api/docs.py): a file of its own, not inline script, so the
// Content-Security-Policy (script-src 'self') allows it. Settings come from the container's data- attributes.
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("swagger-ui-container");
    if (!el || typeof window.SwaggerUIBundle !== "function") { return; }
    var config = JSON.parse(el.getAttribute("data-config") || "{}");
    config.url = el.getAttribute("data-spec-url");
    config.dom_id = "#swagger-ui-container";
    window.ui = window.SwaggerUIBundle(config);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
