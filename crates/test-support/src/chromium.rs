//! Headless Chromium (Debian's `chromium`, installed by `.ci/run`) loading a local page: its
//! rendered DOM, its console messages, what it tried to fetch, and a screenshot's size.

use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};

/// A Chromium binary found on `PATH`.
pub struct Chromium {
    bin: Utf8PathBuf,
}

/// What loading a page showed.
#[derive(Debug)]
pub struct Page {
    /// The DOM after load (`--dump-dom`).
    pub dom: String,
    /// Console messages of the page (a page without scripts should have none) and page errors.
    pub console_errors: Vec<String>,
    /// URLs the page asked the network for (from Chromium's net log; Chromium's own service
    /// hosts left out).
    pub requests_outside: Vec<String>,
    /// The screenshot's PNG size in bytes.
    pub screenshot_bytes: u64,
    /// The PNG size of a screenshot of an empty page of the same window (what blank costs).
    pub blank_screenshot_bytes: u64,
}

fn on_path(name: &str) -> Option<Utf8PathBuf> {
    let path = std::env::var("PATH").ok()?;
    path.split(':').map(|dir| Utf8Path::new(dir).join(name)).find(|p| p.is_file())
}

/// Whether `url` is one of the Google services Chromium itself calls in the background.
fn chromium_service(url: &str) -> bool {
    let host = url.split("://").nth(1).and_then(|r| r.split(['/', ':', '?']).next()).unwrap_or("");
    ["google.com", "googleapis.com", "gvt1.com", "gstatic.com", "googleusercontent.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

impl Chromium {
    /// The `chromium` on `PATH`; when there is none, panics under `CI=true` and otherwise prints
    /// `NOT RUN: <test>: …` and returns `None`.
    pub fn find_or_skip(test: &str) -> Option<Self> {
        match ["chromium", "chromium-browser"].into_iter().find_map(on_path) {
            Some(bin) => Some(Self { bin }),
            None if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: no chromium on PATH under CI=true (.ci/run installs Debian's chromium)")
            }
            None => {
                eprintln!("NOT RUN: {test}: no chromium on PATH");
                None
            }
        }
    }

    /// Runs Chromium headless on `args` + the page's `file://` URL, bounded to 120 s; returns
    /// (stdout, stderr).
    fn run(&self, profile: &Utf8Path, args: &[&str], page: &Utf8Path) -> (String, String) {
        let out = Command::new("timeout")
            .arg("120")
            .arg(self.bin.as_str())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--enable-logging=stderr",
                "--v=0",
                "--window-size=1200,2400",
            ])
            .arg(format!("--user-data-dir={profile}"))
            .args(args)
            .arg(format!("file://{page}"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "chromium failed ({}): {stderr}", out.status);
        (stdout, stderr)
    }

    /// Loads `page` (an absolute path): the DOM, the console, failed or network loads, and a
    /// screenshot compared with one of an empty page.
    pub fn load(&self, page: &Utf8Path) -> Result<Page, String> {
        let (_tmp, dir) = crate::fs::canonical_tempdir();
        let net_log = dir.join("net-log.json");
        let (dom, stderr) =
            self.run(&dir.join("profile-dom"), &["--dump-dom", &format!("--log-net-log={net_log}")], page);
        let console_errors: Vec<String> =
            stderr.lines().filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught")).map(str::to_owned).collect();
        let log = std::fs::read_to_string(&net_log).unwrap_or_default();
        let mut requests_outside: Vec<String> = log
            .split("\"url\":\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .filter(|url| !url.starts_with("file:") && !url.starts_with("data:") && !chromium_service(url))
            .map(str::to_owned)
            .collect();
        requests_outside.sort();
        requests_outside.dedup();
        let shot = |page: &Utf8Path, name: &str| -> u64 {
            let png = dir.join(name);
            self.run(
                &dir.join(format!("profile-{name}")),
                &[&format!("--screenshot={png}"), "--hide-scrollbars"],
                page,
            );
            std::fs::metadata(&png).map(|m| m.len()).map_err(|e| format!("no screenshot {png}: {e}")).unwrap()
        };
        let blank = dir.join("blank.html");
        std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
        Ok(Page {
            dom,
            console_errors,
            requests_outside,
            screenshot_bytes: shot(page, "page.png"),
            blank_screenshot_bytes: shot(&blank, "blank.png"),
        })
    }
}
