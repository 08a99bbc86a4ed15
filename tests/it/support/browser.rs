//! A real headless Chromium, driven through WebDriver (Debian's `chromium` and
//! `chromium-driver`), pointed at a test app. A scenario that fails saves a screenshot under
//! `target/browser-screenshots/`.

use std::panic::AssertUnwindSafe;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::process::{Child, Command};

use super::TestApp;

/// How long the page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Browser {
    pub client: Client,
    base: String,
    webdriver: String,
    _driver: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

impl Browser {
    pub async fn start(app: &TestApp) -> Self {
        let port = free_port();
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,900"],
            }),
        );
        // The page's console, read back after each scenario.
        capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        // The driver takes a moment to listen; nothing announces it but answering.
        let mut tries = 0;
        let client = loop {
            match builder.connect(&webdriver).await {
                Ok(client) => break client,
                Err(error) if tries < 100 => {
                    tries += 1;
                    tracing::debug!(%error, "waiting for chromedriver");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("no WebDriver session: {error}"),
            }
        };
        Self {
            client,
            base: app.base.to_string().trim_end_matches('/').to_owned(),
            webdriver,
            _driver: driver,
        }
    }

    /// Runs a scenario; if it fails, or the page's console shows an error, saves what the
    /// page looked like, then fails the test.
    pub async fn scenario(&self, name: &str, steps: impl AsyncFnOnce(&Browser)) {
        let outcome = AssertUnwindSafe(async {
            steps(self).await;
            let errors = self.console_errors().await;
            assert!(
                errors.is_empty(),
                "the browser's console shows errors: {errors:#?}"
            );
        })
        .catch_unwind()
        .await;
        if let Err(panic) = outcome {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
            let _ = std::fs::create_dir_all(&dir);
            let path = dir.join(format!("{name}.png"));
            match self.client.screenshot().await {
                Ok(png) => {
                    let _ = std::fs::write(&path, png);
                    eprintln!(
                        "browser scenario `{name}` failed; screenshot: {}",
                        path.display()
                    );
                }
                Err(error) => eprintln!("browser scenario `{name}` failed; no screenshot: {error}"),
            }
            std::panic::resume_unwind(panic);
        }
    }

    /// Errors the page's console showed since last asked (Chromium's own log, read
    /// through the driver's log endpoint).
    async fn console_errors(&self) -> Vec<String> {
        let session = self
            .client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a session");
        let log: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.webdriver))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("the driver's log")
            .json()
            .await
            .expect("a JSON log");
        log["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            // Chromium logs every 4xx a `fetch` meets; the API's refusals the page shows by
            // their message (a bad key's 401) are the page working, not failing.
            .filter(|message| {
                !(message.contains("/v1/") && message.contains("Failed to load resource"))
            })
            .collect()
    }

    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("navigation");
    }

    /// The element `css` selects, once the page shows it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("`{css}` within {PATIENCE:?}: {error}"))
    }

    /// Waits until the element `css` selects holds `text`; answers all its text. A page
    /// tells no one when it changes: WebDriver can only look again.
    pub async fn text_of(&self, css: &str, text: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let shown = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown.contains(text) {
                return shown;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{css}` shows {shown:?}, not {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until nothing matches `css` any more.
    pub async fn gone(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.client.find(Locator::Css(css)).await.is_ok() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{css}` still shown"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn click_link(&self, text: &str) {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::LinkText(text))
            .await
            .unwrap_or_else(|error| panic!("link `{text}`: {error}"))
            .click()
            .await
            .expect("click");
    }

    pub async fn sign_in(&self, key: &str) {
        self.fill("input[name=apiKey]", key).await;
        self.click("#sign-in button[type=submit]").await;
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
