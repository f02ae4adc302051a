//! The API described as OpenAPI 3.1, generated from the handlers and wire types
//! (`utoipa`): `GET /openapi.json`, and `GET /docs/` showing it with Swagger UI served from
//! the binary (no CDN: the page works offline).

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(title = "otto-rec", description = "Session-based recommendations (OTTO): candidates, features, LightGBM rankers."),
    paths(super::predict, super::health, super::livez, super::readyz, super::metrics, super::admin_reload),
    tags(
        (name = "recommendations", description = "A session in, the items to show next out."),
        (name = "operations", description = "Health, probes, metrics and model reloads."),
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as pretty JSON, built on first use (the same bytes on every call).
pub fn json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc.to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

/// `GET /openapi.json`.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json())
}

/// `GET /docs`, as users of FastAPI-style services type it: a permanent redirect to
/// `/docs/`, where the page's relative links resolve.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((actix_web::http::header::LOCATION, "/docs/"))
        .finish()
}

/// `GET /docs/`: Swagger UI reading `/openapi.json`.
pub fn docs() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json"))
}
