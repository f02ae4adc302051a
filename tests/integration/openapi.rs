//! The API description: `GET /openapi.json` is pinned by a golden file (an API change is
//! a visible diff), names every route and error code, and `GET /docs/` serves Swagger UI
//! from the binary, with no request leaving the machine.

use crate::common::{Server, repo_path};

const GOLDEN: &str = "tests/golden/openapi.json";

/// A server with the admin route on, whose document lists every route.
fn admin_server() -> Server {
    Server::start_with_env(
        &repo_path("models/default"),
        &[("OTTO_ADMIN_TOKEN", "t0ken")],
    )
}

#[test]
fn openapi_json_equals_the_golden_file() {
    let server = admin_server();
    let (status, head, body) = server.exchange("GET", "/openapi.json", &[], b"");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    let golden = repo_path(GOLDEN);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &body).unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        body == want,
        "GET /openapi.json differs from {GOLDEN}; if the API change is intended, rerun with \
         UPDATE_GOLDEN=1 and commit the diff"
    );
}

#[test]
fn without_an_admin_token_the_document_leaves_the_admin_route_out() {
    let server = Server::start(&repo_path("models/default"));
    let (status, body) = server.request("GET", "/openapi.json", b"");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["paths"]["/predict"]["post"].is_object());
    assert!(
        doc["paths"].get("/admin/reload").is_none(),
        "{}",
        doc["paths"]
    );
    assert!(doc["components"]["securitySchemes"].get("bearer").is_none());
    assert_eq!(server.request("POST", "/admin/reload", b"").0, 404);
}

#[test]
fn the_document_describes_every_route_and_error_code() {
    let server = admin_server();
    let (status, body) = server.request("GET", "/openapi.json", b"");
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/predict", "post"),
        ("/health", "get"),
        ("/livez", "get"),
        ("/readyz", "get"),
        ("/metrics", "get"),
        ("/admin/reload", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not described"
        );
    }
    let predict = &doc["paths"]["/predict"]["post"]["responses"];
    for status in ["200", "400", "405", "413", "422", "503"] {
        assert!(predict[status].is_object(), "/predict lacks {status}");
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "PredictRequest",
        "PredictResponse",
        "ErrorBody",
        "ModelInfo",
    ] {
        assert!(schemas[schema].is_object(), "no schema {schema}");
    }
    // Every code /predict can answer is named in its responses.
    let text = predict.to_string();
    for code in [
        "malformed_json",
        "method_not_allowed",
        "payload_too_large",
        "length_mismatch",
        "empty_session",
        "too_many_events",
        "invalid_aid",
        "invalid_timestamp",
        "invalid_event_type",
        "invalid_type",
        "invalid_k",
        "overloaded",
    ] {
        assert!(text.contains(code), "/predict does not name {code}");
    }
}

#[test]
fn docs_serve_swagger_ui_from_the_binary() {
    let server = Server::start(&repo_path("models/default"));
    // `/docs`, as FastAPI users type it, redirects to the page.
    let (status, head, _) = server.exchange("GET", "/docs", &[], b"");
    assert_eq!(status, 308);
    assert!(head.contains("location: /docs/"), "{head}");
    let (status, _, page) = server.exchange("GET", "/docs/", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("https://"),
        "the page loads something remote: {page}"
    );
    let (status, _, init) = server.exchange("GET", "/docs/swagger-initializer.js", &[], b"");
    assert_eq!(status, 200);
    assert!(init.contains("/openapi.json"), "{init}");
    let (status, head, bundle) = server.exchange("GET", "/docs/swagger-ui-bundle.js", &[], b"");
    assert_eq!(status, 200);
    assert!(head.contains("javascript"), "{head}");
    assert!(bundle.len() > 100_000, "a {} byte bundle", bundle.len());
}
