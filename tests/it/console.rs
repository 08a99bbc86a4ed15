//! The console's files as the server serves them: embedded, under a strict
//! Content-Security-Policy, with no inline code for that policy to block. (What the console
//! does is a browser's to test.)

use reqwest::StatusCode;

use crate::support::{TestApp, TestDatabase, assert_error};

#[tokio::test]
async fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let db = TestDatabase::create().await;
    let app = TestApp::spawn(&db.url).await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<input name="apiKey""#));
    for link in [
        "Overview",
        "Identities",
        "Webhooks",
        "Event types",
        "API keys",
    ] {
        assert!(html.contains(&format!(">{link}</a>")), "the {link} link");
    }
    // Every script is a file the policy allows: none is inline, none is elsewhere.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty());
    for script in scripts {
        let (tag, rest) = script.split_once('>').unwrap();
        assert!(tag.contains(r#"src="/console/"#), "<script{tag}>");
        assert!(rest.starts_with("</script>"), "inline code: {rest}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no other origin"
    );

    // Every file of the console's folder is served: a module left out of the binary would
    // fail only in a browser.
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    let mut assets: Vec<(String, &str)> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "index.html")
        .map(|name| {
            let content_type = match name.rsplit_once('.').map(|(_, extension)| extension) {
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                _ => panic!("{name}: a console file of an unknown type"),
            };
            (format!("/console/{name}"), content_type)
        })
        .collect();
    assets.sort();
    assert!(assets.len() >= 5, "{assets:?}");
    for (file, content_type) in assets {
        let asset = app.client.get(app.url(&file)).send().await.unwrap();
        assert_eq!(asset.status(), StatusCode::OK, "{file}");
        assert_eq!(asset.headers()["content-type"], content_type);
        assert_eq!(asset.headers()["x-content-type-options"], "nosniff");
        // SVG's namespace is a name, never fetched.
        let text = asset
            .text()
            .await
            .unwrap()
            .replace("\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !text.contains("innerHTML"),
            "{file}: nothing the API says is parsed as HTML"
        );
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{file}: no other origin"
        );
    }
    let missing = app
        .client
        .get(app.url("/console/nope.js"))
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    app.stop().await;
    db.drop().await;
}
