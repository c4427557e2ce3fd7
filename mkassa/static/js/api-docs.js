// The partner API's reference page (/api/docs): Swagger UI over /api/v1/openapi.json.
// A file, not an inline script, for the Content-Security-Policy.
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("api-docs");
  window.SwaggerUIBundle({
    url: root.dataset.spec,
    domNode: root,
    deepLinking: true,
    // "Try it out" sends real requests with the key typed in "Authorize"; the page keeps nothing.
    persistAuthorization: false,
  });
});
