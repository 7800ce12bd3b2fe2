//! The web UI (`ui.enabled`): one page at `/` and its assets under `/ui/`, compiled into the
//! binary so that it works offline. It is a client of the public `/v1` API only; with API keys
//! configured it asks for one and sends it as `X-API-Key`, like any other client.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::error::Code;

/// One file of the UI.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset { name: $name, content_type: $type, body: include_bytes!(concat!("assets/", $name)) }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("recognise.js", JS),
    asset!("verify.js", JS),
    asset!("gallery.js", JS),
    asset!("jobs.js", JS),
    asset!("review.js", JS),
    asset!("quality.js", JS),
    asset!("system.js", JS),
];

/// The page may load only its own scripts, styles and the API's answers (crops are shown from
/// `blob:` URLs, photos being recognised from `blob:` too).
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Strong validators, one per asset (its content hash): browsers revalidate every load
/// (`no-cache`) and get 304 until the binary serves different bytes.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..32])).collect())
}

/// Registers `/` and `/ui/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index)).route("/ui/{file}", web::get().to(file));
}

async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, 0)
}

async fn file(req: HttpRequest, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    match ASSETS.iter().position(|a| a.name == name.as_str()) {
        Some(i) => Ok(serve(&req, i)),
        None => Err(ApiError::new(Code::RouteNotFound, "no such UI file")),
    }
}

fn serve(req: &HttpRequest, i: usize) -> HttpResponse {
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if asset.name == "index.html" {
        response.insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    }
    if fresh {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        let served: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js") || a.name.ends_with(".html")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for part in text.split("/ui/").skip(1).chain(text.split("from './").skip(1)) {
                let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
                assert!(served.contains(&name.as_str()), "{} refers to {name}, which is not served", asset.name);
            }
        }
    }
}
