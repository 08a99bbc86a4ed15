//! A real headless Chromium, driven through WebDriver (Debian's `chromium` and
//! `chromium-driver`), pointed at a test app. A scenario that fails saves a screenshot under
//! `target/browser-screenshots/`.

use std::panic::AssertUnwindSafe;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::TestApp;

/// How long the page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// What a step waits for the page to show.
enum Condition<'a> {
    Shown(&'a str),
    Holds(&'a str, &'a str),
    Gone(&'a str),
    Link(&'a str),
}

/// Runs in the page: answers (through the driver's callback, the last argument) once the
/// condition holds, looking again on each change a `MutationObserver` reports.
const WAIT_IN_PAGE: &str = r#"
const [mode, css, text, done] = arguments;
const test = () => {
  if (mode === "link") {
    // Only a link the page renders, as the driver's link-text locator sees it.
    const link = [...document.querySelectorAll("a")]
      .find((a) => a.getClientRects().length > 0 && a.innerText.trim() === text);
    return link ? link.innerText : undefined;
  }
  const element = document.querySelector(css);
  if (mode === "gone") return element ? undefined : "";
  if (!element) return undefined;
  if (mode === "shown") return element.innerText;
  return element.innerText.includes(text) ? element.innerText : undefined;
};
const now = test();
if (now !== undefined) {
  done(now);
} else {
  const observer = new MutationObserver(() => {
    const shown = test();
    if (shown !== undefined) {
      observer.disconnect();
      done(shown);
    }
  });
  observer.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
}
"#;

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
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (Debian: apt-get install chromium chromium-driver)");
        let mut driver = driver;
        // The driver says when it listens.
        let mut said = BufReader::new(driver.stdout.take().expect("piped")).lines();
        let started = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = said.next_line().await.expect("the driver's output") {
                if line.contains("started successfully") {
                    return;
                }
            }
            panic!("chromedriver ended before it listened");
        });
        started.await.expect("chromedriver listening");
        // Its later output is read and dropped, so a full pipe never blocks it.
        tokio::spawn(async move { while let Ok(Some(_)) = said.next_line().await {} });
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
        let client = builder
            .connect(&webdriver)
            .await
            .unwrap_or_else(|error| panic!("no WebDriver session: {error}"));
        // What the page is waited for is a script waiting in the page: it may take this long.
        let timeouts = TimeoutConfiguration::new(Some(PATIENCE), None, None);
        client
            .update_timeouts(timeouts)
            .await
            .expect("timeouts set");
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

    /// Waits, in the page, until `condition` holds: a script observes the page's changes
    /// and answers as soon as one makes it true, so nothing polls. Answers the text shown.
    async fn until(&self, condition: Condition<'_>) -> String {
        let (mode, css, text) = match condition {
            Condition::Shown(css) => ("shown", css, ""),
            Condition::Holds(css, text) => ("holds", css, text),
            Condition::Gone(css) => ("gone", css, ""),
            Condition::Link(text) => ("link", "a", text),
        };
        let answer = self
            .client
            .execute_async(WAIT_IN_PAGE, vec![json!(mode), json!(css), json!(text)])
            .await;
        match answer {
            Ok(shown) => shown.as_str().unwrap_or_default().to_owned(),
            Err(error) => {
                let shown = match self.client.find(Locator::Css(css)).await {
                    Ok(element) => element.text().await.unwrap_or_default(),
                    Err(_) => "nothing".into(),
                };
                panic!("{mode} `{css}` {text:?} within {PATIENCE:?} ({error}); it shows {shown:?}")
            }
        }
    }

    /// The element `css` selects, once the page shows it.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.until(Condition::Shown(css)).await;
        self.client.find(Locator::Css(css)).await.expect("shown")
    }

    /// Waits until the element `css` selects holds `text`; answers all its text.
    pub async fn text_of(&self, css: &str, text: &str) -> String {
        self.until(Condition::Holds(css, text)).await
    }

    /// Waits until nothing matches `css` any more.
    pub async fn gone(&self, css: &str) {
        self.until(Condition::Gone(css)).await;
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
        self.until(Condition::Link(text)).await;
        let link = self.client.find(Locator::LinkText(text)).await;
        link.expect("shown").click().await.expect("click");
    }

    pub async fn sign_in(&self, key: &str) {
        self.fill("input[name=apiKey]", key).await;
        self.click("#sign-in button[type=submit]").await;
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
