//! Fixtures and checks shared by the report tests.

use camino::{Utf8Path, Utf8PathBuf};

/// A fixture directory of this crate (`tests/fixtures/<name>`), copied into a fresh temp dir so
/// the reports written into it never touch the sources.
pub fn fixture_copy(name: &str) -> (tempfile::TempDir, Utf8PathBuf) {
    let (tmp, root) = harnessgym_test_support::fs::canonical_tempdir();
    let src = Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    copy_dir(&src, &root.join(name));
    (tmp, root.join(name))
}

fn copy_dir(src: &Utf8Path, dst: &Utf8Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in src.read_dir_utf8().unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
}

/// The page references nothing outside itself: no URL but the SVG namespace, no script, no
/// stylesheet link, no image or frame source.
pub fn assert_self_contained(html: &str) {
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    for needle in ["http://", "https://", "<script", "<link", "src=", "@import", "url("] {
        assert!(!without_ns.contains(needle), "the HTML holds {needle:?}");
    }
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..40.min(html.len())]);
}

/// The `<svg>` elements of a page, in order.
pub fn svgs(html: &str) -> Vec<&str> {
    html.split("<svg").skip(1).map(|rest| rest.split("</svg>").next().unwrap_or("")).collect()
}
