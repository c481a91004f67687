//! The HTML reports in headless Chromium: they load, render their charts, and take a
//! non-blank screenshot.

use camino::Utf8Path;
use harnessgym_test_support::chromium::Chromium;

use super::support::fixture_copy;

fn check_page(chromium: &Chromium, html: &Utf8Path, charts: usize, circles: &[usize]) {
    let page = chromium.load(html).unwrap();
    assert!(page.console_errors.is_empty(), "console errors: {:?}", page.console_errors);
    assert_eq!(page.requests_outside, Vec::<String>::new(), "the page fetched something");
    let dom_svgs: Vec<&str> = page.dom.split("<svg").skip(1).collect();
    assert_eq!(dom_svgs.len(), charts, "charts in the rendered DOM");
    let dom_circles: Vec<usize> =
        dom_svgs.iter().map(|s| s.split("</svg>").next().unwrap_or("").matches("<circle").count()).collect();
    assert_eq!(dom_circles, circles);
    assert!(
        page.screenshot_bytes > 4 * page.blank_screenshot_bytes,
        "a blank screenshot: {} bytes, an empty page's {}",
        page.screenshot_bytes,
        page.blank_screenshot_bytes
    );
}

#[test]
fn compare_reports_render_in_headless_chromium() {
    let Some(chromium) = Chromium::find_or_skip("compare_reports_render_in_headless_chromium") else { return };
    let (_tmp, dir) = fixture_copy("compare");
    let written = harnessgym_report::write_compare_report(&dir).unwrap();
    check_page(&chromium, &written.html, 4, &[10, 6, 10, 10]);
    let (_tmp, dir) = fixture_copy("reference_compare");
    let written = harnessgym_report::write_compare_report(&dir).unwrap();
    check_page(&chromium, &written.html, 3, &[10, 10, 10]);
}

#[test]
fn a_page_that_fetches_or_fails_is_caught() {
    // The checks above can fail: a page with a script error and a remote image trips them.
    let Some(chromium) = Chromium::find_or_skip("a_page_that_fetches_or_fails_is_caught") else { return };
    let (_tmp, dir) = harnessgym_test_support::fs::canonical_tempdir();
    let page = dir.join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><img src=\"http://127.0.0.1:9/x.png\"><script>undefinedFn()</script></body></html>",
    )
    .unwrap();
    let page = chromium.load(&page).unwrap();
    assert!(!page.console_errors.is_empty(), "the script error went unnoticed");
    assert!(!page.requests_outside.is_empty(), "the fetch went unnoticed");
}

#[test]
fn run_reports_render_in_headless_chromium() {
    let Some(chromium) = Chromium::find_or_skip("run_reports_render_in_headless_chromium") else { return };
    let (_tmp, dir) = fixture_copy("run/fixture-run");
    let written = harnessgym_report::write_run_report(&dir).unwrap();
    check_page(&chromium, &written.html, 3, &[4, 4, 4]);
}
