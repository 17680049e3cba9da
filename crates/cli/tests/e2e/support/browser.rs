//! A real browser for the dashboard's tests: headless Chromium driven over WebDriver by
//! chromedriver (Debian packages `chromium` and `chromium-driver`), started on a free
//! loopback port and stopped on drop.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub struct Browser {
    driver: Child,
    pub client: Client,
    /// Chromium's profile: it names every process of this browser, so they can all be
    /// ended (Chromium puts itself in its own process group, away from chromedriver's).
    profile: tempfile::TempDir,
    /// Where the pages' downloads land.
    downloads: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a 1400x1000 window.
    pub async fn start() -> Browser {
        let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver is not installed: the dashboard is tested in a real browser \
                     (apt-get install -y chromium chromium-driver)"
                )
            });
        let port = free_port();
        let driver = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": [
                "--headless=new",
                // Root in CI: Chromium's sandbox needs an unprivileged user.
                "--no-sandbox",
                "--disable-dev-shm-usage",
                "--disable-gpu",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ],
            "prefs": {
                "download.default_directory": downloads.path().display().to_string(),
                "download.prompt_for_download": false,
            }}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!("chromedriver could not start Chromium (apt-get install chromium): {e}")
            });
        Browser {
            driver,
            client,
            profile,
            downloads,
        }
    }

    /// A browser on `serve`'s dashboard, signed in by the link `cutover serve` prints
    /// (the token in the address's fragment).
    pub async fn signed_in(serve: &super::Serve) -> Browser {
        let browser = Browser::start().await;
        browser
            .client
            .goto(&format!("http://{}/#token={}", serve.addr, serve.token))
            .await
            .unwrap();
        browser
    }

    /// The text of the element with this id, "" while it is absent.
    pub async fn text(&self, id: &str) -> String {
        self.css_text(&format!("#{id}")).await
    }

    /// The text of the first element matching this CSS selector, "" while there is none.
    pub async fn css_text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until `check` holds for the text of the element `id`; returns that text.
    pub async fn wait_text(&self, id: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_css(&format!("#{id}"), what, check).await
    }

    /// Waits until `check` holds for the text of the first element matching `css`.
    pub async fn wait_css(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = self.css_text(css).await;
            if check(&text) {
                return text;
            }
            if Instant::now() > deadline {
                let page = self.client.source().await.unwrap_or_default();
                panic!("{css} never showed {what}; it shows {text:?}. The page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The attribute `name` of the element `id`, when both exist.
    pub async fn attribute(&self, id: &str, name: &str) -> Option<String> {
        let e = self.client.find(Locator::Id(id)).await.ok()?;
        e.attr(name).await.ok().flatten()
    }

    pub async fn click(&self, id: &str) {
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click #{id}: {e}"));
    }

    pub async fn visible(&self, id: &str) -> bool {
        match self.client.find(Locator::Id(id)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Waits for the page's download of `name` to be complete; returns its bytes.
    pub async fn downloaded(&self, name: &str) -> Vec<u8> {
        let path = self.downloads.path().join(name);
        let partial = self.downloads.path().join(format!("{name}.crdownload"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if path.exists() && !partial.exists() {
                return std::fs::read(&path).unwrap();
            }
            if Instant::now() > deadline {
                let seen: Vec<_> = std::fs::read_dir(self.downloads.path())
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect();
                panic!("{name} was never downloaded; the directory holds {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Ends the session; dropping the browser then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Whatever of Chromium is left (a test that failed never closed its session).
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", "--"])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .status();
    }
}
