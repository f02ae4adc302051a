//! The API described as OpenAPI 3.1, generated from the handlers and wire types
//! (`utoipa`): `GET /openapi.json`, and `GET /docs/` showing it with Swagger UI served from
//! the binary (no CDN: the page works offline).

use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

/// The API document.
#[derive(OpenApi)]
#[openapi(
    info(title = "otto-rec", description = "Session-based recommendations (OTTO): candidates, features, LightGBM rankers."),
    paths(super::predict, super::live::post_events, super::live::get_session, super::live::delete_session, super::health, super::livez, super::readyz, super::metrics, super::admin_reload),
    tags(
        (name = "recommendations", description = "A session in, the items to show next out."),
        (name = "live sessions", description = "Events kept by the server per session id; recommendations by session id."),
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

/// The document as pretty JSON, built on first use (the same bytes on every call). Without
/// `admin`, `POST /admin/reload` and its bearer scheme are left out: the route answers 404
/// then, so a client reading the document must not find it there.
pub fn json(admin: bool) -> &'static str {
    static WITH_ADMIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static WITHOUT_ADMIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let cell = if admin { &WITH_ADMIN } else { &WITHOUT_ADMIN };
    cell.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        if !admin {
            doc.paths.paths.remove(ADMIN_RELOAD);
            if let Some(components) = &mut doc.components {
                components.security_schemes.remove("bearer");
            }
        }
        doc.to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

/// The path of the admin route, as the document names it.
const ADMIN_RELOAD: &str = "/admin/reload";

/// `GET /openapi.json`: the document of this server (with the admin route only when it
/// is on).
pub async fn document(state: web::Data<super::AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(json(state.admin_token.is_some()))
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
