// Starts Swagger UI on /docs (a file, not an inline script: the page's CSP allows no inline
// script). The schema's address comes from the page, so a root path is honoured.
"use strict";

const container = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({
  url: container.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // No badge fetched from the public validator: the page talks to this service only.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
