//! The console's files, compiled into the binary: plain HTML, CSS and
//! JavaScript with no build step, so `cargo build` alone yields a console
//! and the sources in `assets/` are what the browser runs.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use s3s::Body;

/// Name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../assets/index.html"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/ui.js"),
    ),
    (
        "aws.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/aws.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/pages.js"),
    ),
    ("favicon.svg", "image/svg+xml", include_bytes!("../assets/favicon.svg")),
];

/// Answers `GET /console/<name>` (the app is one page: `""` is it).
pub fn serve(name: &str) -> Response<Body> {
    let name = if name.is_empty() { "index.html" } else { name };
    let Some((_, content_type, bytes)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        let mut r = Response::new(Body::from("not found\n".to_owned()));
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let mut r = Response::new(Body::from(Bytes::from_static(bytes)));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on each load: a new binary serves new files at once.
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_with_its_type() {
        for (name, ty, bytes) in FILES {
            let r = serve(name);
            assert_eq!(r.status(), StatusCode::OK, "{name}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], *ty);
            assert!(!bytes.is_empty());
        }
        assert_eq!(serve("").status(), StatusCode::OK);
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_page_loads_no_inline_script() {
        let html = std::str::from_utf8(FILES[0].2).unwrap();
        // The content security policy allows scripts from files only.
        for tag in html.split("<script").skip(1) {
            assert!(
                tag.trim_start().starts_with("type=\"module\" src=") || tag.contains(" src="),
                "{tag}"
            );
        }
        assert!(!html.contains("onclick") && !html.contains("style=\""));
    }
}
