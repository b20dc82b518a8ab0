//! The live console: the files of `console/dist` (built by `npm run build` in `clients/js` from
//! `console/src`) and the client library's bundle (`clients/js/dist`), compiled into the binary. The admin listener serves
//! them for GET requests under `/console/`; the page loads `/api/routes` from the same listener.

const INDEX_HTML: &[u8] = include_bytes!("../console/dist/index.html");
const CONSOLE_JS: &[u8] = include_bytes!("../console/dist/console.js");
/// The client library bundle itself: one copy in the repository, served as the console's.
const CLIENT_JS: &[u8] = include_bytes!("../clients/js/dist/pubsub-client.js");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The console file for a request path (without its query string): `(content type, body)`, or
/// None when the path is not one of the console's files. `/console/` and `/console/index.html`
/// are the page, `/console/console.js` its script, `/console/pubsub-client.js` the client
/// library bundle. `/console` itself is not a file: answer it with a redirect to `/console/`, or
/// the page's relative imports resolve outside the console.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path.strip_prefix("/console/")? {
        "" | "index.html" => Some((HTML, INDEX_HTML)),
        "console.js" => Some((JS, CONSOLE_JS)),
        "pubsub-client.js" => Some((JS, CLIENT_JS)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_the_page_and_its_scripts() {
        for path in ["/console/", "/console/index.html"] {
            let (ct, body) = asset(path).expect(path);
            assert_eq!(ct, HTML);
            let html = std::str::from_utf8(body).unwrap();
            assert!(html.contains(r#"<script type="module" src="./console.js">"#));
        }
        let (ct, body) = asset("/console/console.js").unwrap();
        assert_eq!(ct, JS);
        assert!(std::str::from_utf8(body)
            .unwrap()
            .contains(r#"from "./pubsub-client.js""#));
        let (ct, body) = asset("/console/pubsub-client.js").unwrap();
        assert_eq!(ct, JS);
        assert!(std::str::from_utf8(body).unwrap().contains("export {"));
    }

    #[test]
    fn nothing_else() {
        for path in [
            "/console",
            "/console/../Cargo.toml",
            "/console/chart.js",
            "/console/src/console.js",
            "/console//index.html",
            "/consoleindex.html",
            "/index.html",
            "/api/routes",
            "",
        ] {
            assert!(asset(path).is_none(), "{path}");
        }
    }
}
