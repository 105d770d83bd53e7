//! A small W3C WebDriver client for the console's browser tests: Debian's
//! `chromedriver` driving headless `chromium` over plain JSON-over-HTTP on
//! loopback. (The WebDriver crates pull a second TLS stack — aws-lc — into
//! the build for a protocol that is six requests here.)

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A chromedriver process and one browser session in it.
pub struct Browser {
    driver: Child,
    addr: String,
    session: String,
}

/// The key W3C WebDriver names element references by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn call(addr: &str, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open: read the head, then the
    // body by its length (or its chunks).
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = out.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the driver closed the connection".into());
        }
        out.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&out[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let done = |body: &[u8]| match length {
        Some(n) => body.len() >= n,
        None => body.ends_with(b"0\r\n\r\n"),
    };
    while !done(&out[head_end..]) {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&out[head_end..]).into_owned();
    let json = match length {
        Some(_) => rest.as_str(),
        None => {
            let start = rest.find('{').ok_or("no JSON")?;
            let end = rest.rfind('}').ok_or("no JSON")?;
            &rest[start..=end]
        }
    };
    let v: Value = serde_json::from_str(json).map_err(|e| format!("{e}: {json}"))?;
    if let Some(err) = v["value"]["error"].as_str() {
        return Err(format!("{err}: {}", v["value"]["message"]));
    }
    Ok(v["value"].clone())
}

impl Browser {
    /// Starts `chromedriver` (the path in `WANGGE_TEST_CHROMEDRIVER`) and a
    /// headless Chromium session.
    pub fn start() -> Browser {
        let driver_bin = std::env::var("WANGGE_TEST_CHROMEDRIVER").expect("chromedriver path");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while call(&addr, "GET", "/status", None).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": std::env::var("WANGGE_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--lang=zh-CN"]
            }
        }}});
        let v = call(&addr, "POST", "/session", Some(&caps)).expect("a browser session");
        let session = v["sessionId"].as_str().expect("session id").to_string();
        Browser {
            driver,
            addr,
            session,
        }
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub fn open(&self, url: &str) {
        call(
            &self.addr,
            "POST",
            &self.at("/url"),
            Some(&json!({"url": url})),
        )
        .unwrap();
    }

    /// The element `css` selects (waiting up to 20 s for it).
    pub fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = call(
                &self.addr,
                "POST",
                &self.at("/element"),
                Some(&json!({"using": "css selector", "value": css})),
            );
            match found {
                Ok(v) => return v[ELEMENT].as_str().unwrap_or_default().to_string(),
                Err(e) if started.elapsed() > Duration::from_secs(20) => panic!("no `{css}`: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        call(
            &self.addr,
            "POST",
            &self.at(&format!("/element/{e}/value")),
            Some(&json!({"text": text})),
        )
        .unwrap();
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        call(
            &self.addr,
            "POST",
            &self.at(&format!("/element/{e}/click")),
            Some(&json!({})),
        )
        .unwrap();
    }

    /// Sets the window's size (a phone: 390 × 844).
    pub fn resize(&self, width: u32, height: u32) {
        call(
            &self.addr,
            "POST",
            &self.at("/window/rect"),
            Some(&json!({"width": width, "height": height})),
        )
        .unwrap();
    }

    /// The page's text as the user reads it.
    pub fn text(&self) -> String {
        self.text_of("body")
    }

    /// The page's text once it holds every one of `needles`: a click's
    /// navigation may still be under way when the click returns, and a
    /// loaded CI machine is slow, so this polls for up to 20 s before it
    /// fails naming what is missing and what the page said.
    pub fn wait_for(&self, needles: &[&str]) -> String {
        self.wait_for_in("body", needles)
    }

    /// The text of the element `css` selects once it holds every one of
    /// `needles` (as [`Browser::wait_for`], for one part of the page).
    pub fn wait_for_in(&self, css: &str, needles: &[&str]) -> String {
        let started = Instant::now();
        loop {
            let text = self.text_of(css);
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
            if started.elapsed() > Duration::from_secs(20) {
                panic!("the page never showed {needles:?}; it said: {text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the element `css` selects, as the user reads it (empty
    /// when the element went away between finding and reading it).
    pub fn text_of(&self, css: &str) -> String {
        let e = self.find(css);
        call(
            &self.addr,
            "GET",
            &self.at(&format!("/element/{e}/text")),
            None,
        )
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
    }

    /// The errors the page logged to the browser's console since the last
    /// call (failed loads, script errors, refused content).
    pub fn console_errors(&self) -> Vec<String> {
        call(
            &self.addr,
            "POST",
            &self.at("/se/log"),
            Some(&json!({"type": "browser"})),
        )
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect()
    }

    /// Saves a PNG of the page under `target/console-screenshots/NAME.png`.
    pub fn screenshot(&self, name: &str) {
        self.screenshot_in("target/console-screenshots", name);
    }

    /// Saves a PNG of the page under `DIR/NAME.png` (DIR relative to the
    /// repository).
    pub fn screenshot_in(&self, dir: &str, name: &str) {
        use base64::Engine as _;
        let v = call(&self.addr, "GET", &self.at("/screenshot"), None).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap();
        let dir = crate::util::root().join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = call(
            &self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
