//! Reversible text form of path bytes, used by manifests, journals, the stat cache and every
//! file list this crate writes.
//!
//! Valid UTF-8 is kept as it is, except `\` (written `\\`) and control characters (`\t`, `\n`,
//! `\r`, other ones as `\xHH`); bytes that are not UTF-8 are written `\xHH`. So a plain name
//! such as `src/main.py` or `my notes.txt` reads the same, a line never holds a tab or a newline
//! of a name, and [`unescape_bytes`] gives back the exact bytes.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The escaped text of `bytes`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        // Plain printable ASCII: nothing to escape.
        return String::from_utf8_lossy(bytes).into_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The escaped text of an OS string (a name or a relative path with `/` separators).
pub fn escape_os(s: &OsStr) -> String {
    escape_bytes(s.as_bytes())
}

/// The bytes an [`escape_bytes`] text stands for; `None` when the text is not a valid escape.
pub fn unescape_bytes(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1)? {
            b'\\' => out.push(b'\\'),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let hex = text.get(i + 2..i + 4)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => return None,
        }
        i += 2;
    }
    Some(out)
}

/// [`unescape_bytes`] as an OS string.
pub fn unescape_os(text: &str) -> Option<OsString> {
    unescape_bytes(text).map(OsString::from_vec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_names_are_unchanged() {
        for s in ["src/main.py", "my notes.txt", "café/ünï.txt", "a-b_c.d"] {
            assert_eq!(escape_bytes(s.as_bytes()), s);
        }
    }

    #[test]
    fn special_bytes_are_escaped() {
        assert_eq!(escape_bytes(b"caf\xe9.txt"), "caf\\xe9.txt");
        assert_eq!(escape_bytes(b"a\tb\nc\\d\x01\x7f"), "a\\tb\\nc\\\\d\\x01\\x7f");
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        for bad in ["\\", "\\q", "\\x", "\\x4", "\\xzz"] {
            assert_eq!(unescape_bytes(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = escape_bytes(&bytes);
            prop_assert!(!text.contains('\t') && !text.contains('\n') && !text.contains('\r'));
            prop_assert_eq!(unescape_bytes(&text), Some(bytes));
        }
    }
}
