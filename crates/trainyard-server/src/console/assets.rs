//! The console's static files, embedded in the binary (nothing is loaded from elsewhere):
//! `console.css`, `console.js` (ours) and `htmx-2.0.11.min.js` (vendored from the npm registry;
//! version and checksums in `assets/README.md`, checked by a test). Links carry a content hash
//! (`?v=`), so the files are cached for a year and a new build is fetched at once.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// (name, content type, bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/console.css"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/console.js"),
    ),
    (
        "htmx-2.0.11.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/htmx-2.0.11.min.js"),
    ),
];

fn find(name: &str) -> Option<&'static (&'static str, &'static str, &'static [u8])> {
    FILES.iter().find(|(n, _, _)| *n == name)
}

/// First 12 hex digits of the SHA-256 of every file, computed once.
fn hashes() -> &'static Vec<(&'static str, String)> {
    static H: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    H.get_or_init(|| {
        FILES
            .iter()
            .map(|(n, _, b)| (*n, hex::encode(Sha256::digest(b))[..12].to_owned()))
            .collect()
    })
}

/// The link to an asset: `/console/assets/{name}?v={content hash}`.
pub fn href(name: &str) -> String {
    let v = hashes()
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("0", |(_, h)| h.as_str());
    format!("/console/assets/{name}?v={v}")
}

/// `GET /console/assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match find(&file) {
        Some((_, ctype, bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(ctype)),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
            ],
            *bytes,
        )
            .into_response(),
        None => super::page::not_found().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored htmx is byte for byte the file of the npm package recorded in
    /// `assets/README.md` (htmx.org 2.0.11, `dist/htmx.min.js`).
    #[test]
    fn vendored_htmx_matches_its_recorded_checksum() {
        let (_, _, bytes) = find("htmx-2.0.11.min.js").unwrap();
        let sum = hex::encode(Sha256::digest(bytes));
        let readme = include_str!("assets/README.md");
        assert!(
            readme.contains(&sum),
            "assets/README.md must record the sha256 {sum} of htmx-2.0.11.min.js"
        );
        assert_eq!(
            sum,
            "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
        );
    }

    #[test]
    fn links_carry_the_content_hash() {
        let h = href("console.css");
        assert!(h.starts_with("/console/assets/console.css?v="));
        assert_eq!(h.len(), "/console/assets/console.css?v=".len() + 12);
    }

    /// No asset refers to another site (everything the page needs is in the binary).
    #[test]
    fn our_assets_load_nothing_from_elsewhere() {
        for name in ["console.css", "console.js"] {
            let (_, _, b) = find(name).unwrap();
            let text = std::str::from_utf8(b).unwrap();
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{name}"
            );
            assert!(!text.contains("@import"), "{name}");
        }
    }
}
