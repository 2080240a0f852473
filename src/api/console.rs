//! `/console`: the developer console, a page of plain HTML, CSS and JavaScript modules from
//! `console/`, embedded in the binary (no build step, nothing fetched from elsewhere). The page
//! signs in with an API key and uses only the public `/v1` API, so it shows exactly what that
//! key may see; this module only serves its files, under a strict Content-Security-Policy.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::problem::ApiError;

/// Only this origin's own scripts, styles and API; no inline script, no framing, no referrer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console: its path under `/console/`, its type and its bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("", HTML, include_bytes!("../../console/index.html")),
    ("console.css", CSS, include_bytes!("../../console/console.css")),
    ("js/main.js", JS, include_bytes!("../../console/js/main.js")),
    ("js/api.js", JS, include_bytes!("../../console/js/api.js")),
    ("js/dom.js", JS, include_bytes!("../../console/js/dom.js")),
    ("js/pages/shared.js", JS, include_bytes!("../../console/js/pages/shared.js")),
    ("js/pages/overview.js", JS, include_bytes!("../../console/js/pages/overview.js")),
    ("js/pages/jobs.js", JS, include_bytes!("../../console/js/pages/jobs.js")),
    ("js/pages/applications.js", JS, include_bytes!("../../console/js/pages/applications.js")),
    ("js/pages/endpoints.js", JS, include_bytes!("../../console/js/pages/endpoints.js")),
    ("js/pages/deliveries.js", JS, include_bytes!("../../console/js/pages/deliveries.js")),
    ("js/pages/catalog.js", JS, include_bytes!("../../console/js/pages/catalog.js")),
    ("js/pages/keys.js", JS, include_bytes!("../../console/js/pages/keys.js")),
];

/// The console's routes; they need no state and no key (the page asks for one).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/", get(|| async { asset("") }))
        .route("/console/{*file}", get(|Path(file): Path<String>| async move { asset(&file) }))
}

fn asset(path: &str) -> Response {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return ApiError::from_status(StatusCode::NOT_FOUND).into_response();
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    // Revalidate every time: a new server version must not run an old page against its API.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to `console/` and not to [`ASSETS`] would be a 404 in the page.
    #[test]
    fn every_file_of_the_console_is_served() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("console/ is readable") {
                let path = entry.expect("an entry").path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let relative =
                        path.strip_prefix(root).expect("under console/").to_string_lossy().replace('\\', "/");
                    out.push(if relative == "index.html" { String::new() } else { relative });
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        files.sort();
        let mut served: Vec<String> = ASSETS.iter().map(|(p, _, _)| (*p).to_owned()).collect();
        served.sort();
        assert_eq!(files, served);
    }
}
