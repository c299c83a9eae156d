// Starts Swagger UI on /docs. A file, not an inline script, so the page's Content-Security-Policy can forbid those.
"use strict";
// swagger-ui-bundle 1.1.0 ships Swagger UI 4.15, which refuses to render OpenAPI 3.1 (what FastAPI
// writes) with "does not specify a valid version field". Our schema uses nothing 4.15 cannot show,
// so it is handed over labelled 3.0.3; /openapi.json itself stays 3.1.
fetch("/openapi.json")
  .then((res) => res.json())
  .then((spec) => {
    window.ui = SwaggerUIBundle({
      spec: { ...spec, openapi: "3.0.3" },
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      deepLinking: true,
      showExtensions: true,
      showCommonExtensions: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    });
  });
