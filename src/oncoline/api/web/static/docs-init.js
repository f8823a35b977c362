// Swagger UI over the service's own OpenAPI document (all assets served by oncoline; no CDN).
window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
