//! The two stdio framings and an incremental decoder for both.
//!
//! * [`Framing::Ndjson`] — what the MCP specification defines for stdio
//!   (2024-11-05 through 2025-11-25) and what the real Codex and Claude Code
//!   clients speak: one JSON message per line, `\n`-terminated, no embedded
//!   newlines (JSON string escaping guarantees that).
//! * [`Framing::ContentLength`] — the legacy LSP-style framing the reference
//!   implementation used everywhere: `Content-Length: N\r\n\r\n` + N bytes of
//!   JSON.
//!
//! [`encode`] writes compact JSON in either framing. [`Decoder`] accepts
//! bytes in arbitrary chunks and yields whole messages; it never panics on
//! any input and never buffers more than its `max_message_bytes` (plus one
//! read chunk). Every [`FramingError`] is per message: the decoder skips the
//! offending line / header block / body and stays usable.

use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Default upper bound for one message (64 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A Content-Length header block longer than this (without its terminating
/// blank line) is rejected and discarded: it is not a header block.
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How many bytes of a rejected message are quoted in a [`FramingError`].
const SNIPPET_BYTES: usize = 120;

/// How messages are delimited on a stdio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Newline-delimited JSON (the MCP stdio transport): `"ndjson"`.
    Ndjson,
    /// Legacy `Content-Length: N\r\n\r\n` headers: `"content-length"`.
    ContentLength,
}

impl Framing {
    /// The manifest / serde spelling: `ndjson` or `content-length`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::ContentLength => "content-length",
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Framing {
    type Err = UnknownFraming;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ndjson" => Ok(Self::Ndjson),
            "content-length" => Ok(Self::ContentLength),
            _ => Err(UnknownFraming(s.to_owned())),
        }
    }
}

/// A framing name other than `ndjson` / `content-length`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown MCP framing {0:?} (expected \"ndjson\" or \"content-length\")")]
pub struct UnknownFraming(pub String);

/// One message that could not be decoded. The decoder has already skipped
/// it: keep calling [`Decoder::next_message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A message (an ndjson line, or a Content-Length body) is larger than the
    /// limit; its bytes are discarded without being buffered.
    #[error("MCP message of {len}{} bytes exceeds the limit of {max} bytes", if *.at_least { "+" } else { "" })]
    TooLarge {
        /// Its size, or the size seen so far when `at_least` is set.
        len: u64,
        /// The size is a lower bound (the line had not ended yet).
        at_least: bool,
        /// The decoder's limit.
        max: usize,
    },
    /// The bytes are not JSON.
    #[error("invalid JSON on the MCP stream ({reason}): {snippet:?}")]
    InvalidJson {
        /// serde_json's explanation.
        reason: String,
        /// The start of the offending bytes, decoded lossily.
        snippet: String,
    },
    /// A Content-Length header block without a usable length (missing, zero,
    /// negative or not a number), or too long to be a header block.
    #[error("bad Content-Length header block ({reason}): {snippet:?}")]
    BadHeader {
        /// What is wrong with it.
        reason: String,
        /// The start of the header block, decoded lossily.
        snippet: String,
    },
}

/// `value` as compact JSON in `framing`: ndjson appends `\n`; Content-Length
/// prefixes `Content-Length: N\r\n\r\n`.
pub fn encode(framing: Framing, value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(framing, value, &mut out);
    out
}

/// [`encode`] into `out`, which is cleared first and whose capacity is reused
/// (a relay encodes every message into the same buffer). serde_json writes
/// straight into the bytes: `Value`'s `Display` goes through `fmt::Write`
/// and costs several µs a message.
pub fn encode_into(framing: Framing, value: &Value, out: &mut Vec<u8>) {
    out.clear();
    // Cannot fail: a `Vec` never refuses bytes and a `Value`'s keys are strings.
    let _ = serde_json::to_writer(&mut *out, value);
    match framing {
        Framing::Ndjson => out.push(b'\n'),
        Framing::ContentLength => {
            // The body is written first (its length is known only then), then
            // moved up behind the header: one buffer, no second copy of it.
            let mut header = [0u8; 48];
            let mut cursor = std::io::Cursor::new(&mut header[..]);
            let _ = write!(cursor, "Content-Length: {}\r\n\r\n", out.len());
            let header_len = usize::try_from(cursor.position()).unwrap_or(0);
            let body_len = out.len();
            out.resize(body_len + header_len, 0);
            out.copy_within(..body_len, header_len);
            out[..header_len].copy_from_slice(&header[..header_len]);
        }
    }
}

/// Guesses the framing a peer uses from the first bytes it sent.
///
/// Leading whitespace is skipped; then `{` or `[` means [`Framing::Ndjson`],
/// and `Content-Length` (case-insensitive, or a prefix of it when fewer
/// bytes have arrived) or any other `Header-Name:` line means
/// [`Framing::ContentLength`]. `None` when there are not enough bytes yet or
/// they look like neither (callers usually default to ndjson, the spec).
pub fn detect(prefix: &[u8]) -> Option<Framing> {
    let start = prefix.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &prefix[start..];
    match rest[0] {
        b'{' | b'[' => return Some(Framing::Ndjson),
        b if !b.is_ascii_alphabetic() => return None,
        _ => {}
    }
    const NAME: &[u8] = b"content-length";
    let n = rest.len().min(NAME.len());
    if rest[..n].eq_ignore_ascii_case(&NAME[..n]) {
        return Some(Framing::ContentLength);
    }
    let token_end = rest.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))?;
    (rest[token_end] == b':').then_some(Framing::ContentLength)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a header block (Content-Length) or a line (ndjson).
    Scan,
    /// ndjson: discarding the rest of an oversized line, up to its `\n`.
    SkipLine,
    /// Content-Length: reading a body of this many bytes.
    Body(usize),
    /// Content-Length: discarding this many bytes of an oversized body.
    SkipBody(u64),
}

/// Incremental decoder: [`Self::push`] bytes as they arrive, then call
/// [`Self::next_message`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Decoder {
    framing: Framing,
    max: usize,
    buf: Vec<u8>,
    /// Bytes of `buf` before this offset are consumed.
    pos: usize,
    /// ndjson: bytes of the current line already searched for `\n`.
    scanned: usize,
    state: State,
    /// Bytes discarded so far of the oversized line being skipped.
    skipped: u64,
}

impl Decoder {
    /// A decoder for `framing` that rejects messages larger than
    /// `max_message_bytes` (see [`DEFAULT_MAX_MESSAGE_BYTES`]).
    pub fn new(framing: Framing, max_message_bytes: usize) -> Self {
        Self {
            framing,
            max: max_message_bytes.max(1),
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            state: State::Scan,
            skipped: 0,
        }
    }

    /// The framing this decoder reads.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Bytes received but not yet returned or discarded.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message; `Ok(None)` when more bytes are needed. An
    /// `Err` describes one rejected message, which has been skipped.
    pub fn next_message(&mut self) -> Result<Option<Value>, FramingError> {
        match self.framing {
            Framing::Ndjson => self.next_line(),
            Framing::ContentLength => self.next_framed(),
        }
    }

    /// Bytes received but not yet returned or discarded.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn next_line(&mut self) -> Result<Option<Value>, FramingError> {
        loop {
            let pending = &self.buf[self.pos..];
            let newline = pending[self.scanned..].iter().position(|b| *b == b'\n').map(|i| i + self.scanned);
            if self.state == State::SkipLine {
                match newline {
                    Some(i) => {
                        self.pos += i + 1;
                        self.scanned = 0;
                        self.state = State::Scan;
                        continue;
                    }
                    None => {
                        self.skipped += pending.len() as u64;
                        self.pos = self.buf.len();
                        self.scanned = 0;
                        return Ok(None);
                    }
                }
            }
            let Some(end) = newline else {
                if pending.len() > self.max {
                    // Reject now rather than buffer an unbounded line.
                    let len = pending.len() as u64;
                    self.pos = self.buf.len();
                    self.scanned = 0;
                    self.state = State::SkipLine;
                    return Err(FramingError::TooLarge { len, at_least: true, max: self.max });
                }
                self.scanned = pending.len();
                return Ok(None);
            };
            let start = self.pos;
            self.pos += end + 1;
            self.scanned = 0;
            let line = self.buf[start..start + end].trim_ascii();
            if line.is_empty() {
                continue;
            }
            if line.len() > self.max {
                return Err(FramingError::TooLarge { len: line.len() as u64, at_least: false, max: self.max });
            }
            return parse_json(line).map(Some);
        }
    }

    fn next_framed(&mut self) -> Result<Option<Value>, FramingError> {
        loop {
            match self.state {
                State::SkipBody(remaining) => {
                    let available = self.pending().len() as u64;
                    let take = remaining.min(available);
                    // `take <= available`, which is a usize.
                    self.pos += usize::try_from(take).unwrap_or(usize::MAX);
                    if take < remaining {
                        self.state = State::SkipBody(remaining - take);
                        return Ok(None);
                    }
                    self.state = State::Scan;
                }
                State::Body(len) => {
                    if self.pending().len() < len {
                        return Ok(None);
                    }
                    let start = self.pos;
                    self.pos += len;
                    self.state = State::Scan;
                    return parse_json(&self.buf[start..start + len]).map(Some);
                }
                State::Scan | State::SkipLine => {
                    // Stray line breaks between messages are tolerated.
                    let blank = self.pending().iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    self.pos += blank;
                    let pending = self.pending();
                    let Some((block_len, total)) = header_end(pending) else {
                        if pending.len() > MAX_HEADER_BYTES {
                            let snippet = snippet(pending);
                            self.pos = self.buf.len();
                            return Err(FramingError::BadHeader {
                                reason: format!("no blank line within {MAX_HEADER_BYTES} bytes"),
                                snippet,
                            });
                        }
                        return Ok(None);
                    };
                    let block = &pending[..block_len];
                    let parsed = content_length(block);
                    let snippet = snippet(block);
                    self.pos += total;
                    match parsed {
                        Ok(len) if len <= self.max as u64 => {
                            // `len <= max`, which is a usize.
                            self.state = State::Body(usize::try_from(len).unwrap_or(self.max));
                        }
                        Ok(len) => {
                            self.state = State::SkipBody(len);
                            return Err(FramingError::TooLarge { len, at_least: false, max: self.max });
                        }
                        Err(reason) => return Err(FramingError::BadHeader { reason, snippet }),
                    }
                }
            }
        }
    }
}

/// Where the header block ends: (length of the block without its
/// terminator, length including it). The earliest of `\r\n\r\n` and `\n\n`.
pub(crate) fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let limit = bytes.len().min(MAX_HEADER_BYTES + 4);
    (0..limit).find_map(|i| {
        if bytes[i..].starts_with(b"\r\n\r\n") {
            Some((i, i + 4))
        } else if bytes[i..].starts_with(b"\n\n") {
            Some((i, i + 2))
        } else {
            None
        }
    })
}

/// The value of the (case-insensitive) `Content-Length` header; other
/// headers and lines without a colon are ignored.
pub(crate) fn content_length(block: &[u8]) -> Result<u64, String> {
    let text = String::from_utf8_lossy(block);
    let mut found = None;
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.trim().eq_ignore_ascii_case("content-length") {
            found = Some(value.trim().to_owned());
        }
    }
    let Some(value) = found else {
        return Err("no Content-Length header".to_owned());
    };
    match value.parse::<i128>() {
        Ok(n) if n <= 0 => Err(format!("Content-Length must be positive, got {n}")),
        Ok(n) => Ok(u64::try_from(n).unwrap_or(u64::MAX)),
        // Digits beyond i128: a length too large for any cap (skipped as such), not "not a number".
        Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => Ok(u64::MAX),
        Err(_) => Err(format!("Content-Length is not a number: {value:?}")),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, FramingError> {
    serde_json::from_slice(bytes)
        .map_err(|e| FramingError::InvalidJson { reason: e.to_string(), snippet: snippet(bytes) })
}

fn snippet(bytes: &[u8]) -> String {
    let cut = bytes.len().min(SNIPPET_BYTES);
    let mut text = String::from_utf8_lossy(&bytes[..cut]).into_owned();
    if cut < bytes.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn decode_all(d: &mut Decoder) -> Vec<Result<Value, FramingError>> {
        let mut out = Vec::new();
        loop {
            match d.next_message() {
                Ok(None) => return out,
                Ok(Some(v)) => out.push(Ok(v)),
                Err(e) => out.push(Err(e)),
            }
        }
    }

    #[test]
    fn encode_ndjson_is_compact_json_and_a_newline() {
        let bytes = encode(Framing::Ndjson, &json!({"a": [1, 2], "b": "x\ny"}));
        assert_eq!(bytes, b"{\"a\":[1,2],\"b\":\"x\\ny\"}\n");
    }

    #[test]
    fn encode_content_length_counts_body_bytes() {
        let bytes = encode(Framing::ContentLength, &json!({"t": "é"}));
        assert_eq!(bytes, "Content-Length: 10\r\n\r\n{\"t\":\"é\"}".as_bytes());
    }

    #[test]
    fn encode_into_reuses_the_buffer_and_matches_encode() {
        let mut out = b"stale bytes from the previous message".to_vec();
        for framing in [Framing::Ndjson, Framing::ContentLength] {
            for value in [json!({"t": "é", "n": [1, 2.5, null]}), json!(1), json!({"big": "x".repeat(100_000)})] {
                encode_into(framing, &value, &mut out);
                assert_eq!(out, encode(framing, &value));
                let body = value.to_string();
                let expected = match framing {
                    Framing::Ndjson => format!("{body}\n"),
                    Framing::ContentLength => format!("Content-Length: {}\r\n\r\n{body}", body.len()),
                };
                assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
            }
        }
    }

    #[test]
    fn framing_serde_and_parse_spellings() {
        assert_eq!(serde_json::to_value(Framing::Ndjson).unwrap(), json!("ndjson"));
        assert_eq!(serde_json::to_value(Framing::ContentLength).unwrap(), json!("content-length"));
        assert_eq!(serde_json::from_value::<Framing>(json!("content-length")).unwrap(), Framing::ContentLength);
        assert_eq!("NDJSON".parse::<Framing>().unwrap(), Framing::Ndjson);
        assert!("auto".parse::<Framing>().is_err());
        assert_eq!(Framing::ContentLength.to_string(), "content-length");
    }

    #[test]
    fn detect_first_bytes() {
        assert_eq!(detect(b"  \r\n{\"jsonrpc\""), Some(Framing::Ndjson));
        assert_eq!(detect(b"[{}]"), Some(Framing::Ndjson));
        assert_eq!(detect(b"Content-Length: 12\r\n"), Some(Framing::ContentLength));
        assert_eq!(detect(b"content-length:12"), Some(Framing::ContentLength));
        assert_eq!(detect(b"Cont"), Some(Framing::ContentLength));
        assert_eq!(detect(b"Content-Type: application/json\r\n"), Some(Framing::ContentLength));
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"   "), None);
        assert_eq!(detect(b"hello world"), None);
        assert_eq!(detect(b"Starting"), None);
        assert_eq!(detect(b"42"), None);
    }

    #[test]
    fn ndjson_skips_blank_lines_tolerates_crlf_and_survives_bad_json() {
        let mut d = Decoder::new(Framing::Ndjson, 1024);
        d.push(b"\n\r\n{\"a\":1}\r\nnot json\n  \n{\"b\":2}\n{\"c\"");
        let got = decode_all(&mut d);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], Ok(json!({"a": 1})));
        assert!(matches!(&got[1], Err(FramingError::InvalidJson { snippet, .. }) if snippet == "not json"));
        assert_eq!(got[2], Ok(json!({"b": 2})));
        d.push(b":3}\n");
        assert_eq!(d.next_message(), Ok(Some(json!({"c": 3}))));
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn ndjson_oversized_line_is_rejected_without_buffering_and_skipped() {
        let mut d = Decoder::new(Framing::Ndjson, 16);
        d.push(b"{\"x\":\"aaaaaaaaaaaaaaaaaaaa");
        assert!(matches!(d.next_message(), Err(FramingError::TooLarge { at_least: true, max: 16, .. })));
        assert_eq!(d.buffered(), 0);
        d.push(&[b'a'; 1000]);
        assert_eq!(d.next_message(), Ok(None));
        assert_eq!(d.buffered(), 0, "the rest of the long line is discarded as it arrives");
        d.push(b"aa\"}\n{\"ok\":1}\n");
        assert_eq!(d.next_message(), Ok(Some(json!({"ok": 1}))));
        // A complete line that is too long in one push.
        d.push(b"{\"y\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}\n{\"ok\":2}\n");
        assert!(matches!(d.next_message(), Err(FramingError::TooLarge { .. })));
        assert_eq!(d.next_message(), Ok(Some(json!({"ok": 2}))));
    }

    #[test]
    fn content_length_headers_case_other_headers_and_lf_only() {
        let mut d = Decoder::new(Framing::ContentLength, 1024);
        d.push(b"content-LENGTH: 7\r\nContent-Type: application/json\r\n\r\n{\"a\":1}");
        d.push(b"\nContent-Length: 7\n\n{\"b\":2}");
        assert_eq!(decode_all(&mut d), vec![Ok(json!({"a": 1})), Ok(json!({"b": 2}))]);
    }

    #[test]
    fn content_length_noise_before_the_header_is_ignored() {
        let mut d = Decoder::new(Framing::ContentLength, 1024);
        d.push(b"server starting...\nContent-Length: 2\r\n\r\n{}");
        assert_eq!(d.next_message(), Ok(Some(json!({}))));
    }

    #[test]
    fn content_length_bad_headers_are_errors_and_the_decoder_goes_on() {
        for header in [
            &b"Content-Length: 0\r\n\r\n"[..],
            b"Content-Length: -5\r\n\r\n",
            b"Content-Length: abc\r\n\r\n",
            b"X-Other: 1\r\n\r\n",
        ] {
            let mut d = Decoder::new(Framing::ContentLength, 1024);
            d.push(header);
            assert!(matches!(d.next_message(), Err(FramingError::BadHeader { .. })), "{header:?}");
            d.push(b"Content-Length: 2\r\n\r\n{}");
            assert_eq!(d.next_message(), Ok(Some(json!({}))), "{header:?}");
        }
    }

    #[test]
    fn content_length_oversized_body_is_skipped_without_buffering() {
        let mut d = Decoder::new(Framing::ContentLength, 10);
        d.push(b"Content-Length: 99999999999999999999999\r\n\r\n");
        assert!(matches!(d.next_message(), Err(FramingError::TooLarge { at_least: false, max: 10, .. })));
        let mut d = Decoder::new(Framing::ContentLength, 10);
        d.push(b"Content-Length: 20\r\n\r\n{\"a\":\"");
        assert!(matches!(d.next_message(), Err(FramingError::TooLarge { len: 20, .. })));
        d.push(b"0123456789");
        assert_eq!(d.next_message(), Ok(None));
        d.push(b"ab\"}Content-Length: 2\r\n\r\n{}");
        assert_eq!(d.next_message(), Ok(Some(json!({}))));
    }

    #[test]
    fn content_length_invalid_body_is_an_error_and_the_next_message_decodes() {
        let mut d = Decoder::new(Framing::ContentLength, 1024);
        d.push(b"Content-Length: 3\r\n\r\nabcContent-Length: 2\r\n\r\n[]");
        assert!(matches!(d.next_message(), Err(FramingError::InvalidJson { .. })));
        assert_eq!(d.next_message(), Ok(Some(json!([]))));
    }

    #[test]
    fn content_length_endless_header_is_rejected() {
        let mut d = Decoder::new(Framing::ContentLength, 1024);
        d.push(&vec![b'x'; MAX_HEADER_BYTES + 10]);
        assert!(matches!(d.next_message(), Err(FramingError::BadHeader { .. })));
        assert_eq!(d.buffered(), 0);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Exact binary fractions: serde_json's default float parsing is not
            // bit-exact for every f64, and that is not what is under test.
            (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
            ".{0,12}".prop_map(Value::String),
            "[\n\r\t\"\\\\{}:]{0,6}".prop_map(Value::String),
        ];
        let tree = leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-z]{1,6}", tree, 0..6).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn arb_framing() -> impl Strategy<Value = Framing> {
        prop_oneof![Just(Framing::Ndjson), Just(Framing::ContentLength)]
    }

    proptest! {
        #[test]
        fn prop_round_trip_under_arbitrary_chunking(
            framing in arb_framing(),
            values in prop::collection::vec(arb_json(), 1..5),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let stream: Vec<u8> = values.iter().flat_map(|v| encode(framing, v)).collect();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.push(0);
            points.push(stream.len());
            points.sort_unstable();
            let mut d = Decoder::new(framing, DEFAULT_MAX_MESSAGE_BYTES);
            let mut got = Vec::new();
            for pair in points.windows(2) {
                d.push(&stream[pair[0]..pair[1]]);
                while let Some(v) = d.next_message().map_err(|e| TestCaseError::fail(e.to_string()))? {
                    got.push(v);
                }
            }
            prop_assert_eq!(got, values);
            prop_assert_eq!(d.buffered(), 0);
        }

        #[test]
        fn prop_garbage_never_panics(
            framing in arb_framing(),
            max in 1usize..64,
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let mut d = Decoder::new(framing, max);
            for chunk in &chunks {
                d.push(chunk);
                for _ in 0..200 {
                    if let Ok(None) = d.next_message() { break; }
                }
                prop_assert!(d.buffered() <= MAX_HEADER_BYTES + 64 + max);
            }
        }

        #[test]
        fn prop_garbage_with_header_like_text_never_panics(
            framing in arb_framing(),
            parts in prop::collection::vec(prop_oneof![
                Just(b"Content-Length: ".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"-1".to_vec()),
                Just(b"{".to_vec()),
                "[0-9]{1,25}".prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 0..8),
            ], 0..20),
        ) {
            let mut d = Decoder::new(framing, 32);
            for part in &parts {
                d.push(part);
                for _ in 0..200 {
                    if let Ok(None) = d.next_message() { break; }
                }
            }
        }

        #[test]
        fn prop_oversize_is_rejected_and_the_next_message_survives(
            framing in arb_framing(),
            big in arb_json(),
            small_max in 2usize..16,
        ) {
            let big_bytes = encode(framing, &big);
            let max = small_max;
            prop_assume!(big.to_string().len() > max);
            let mut d = Decoder::new(framing, max);
            d.push(&big_bytes);
            d.push(&encode(framing, &json!(1)));
            let got = decode_all(&mut d);
            let too_large = got.iter().filter(|r| matches!(r, Err(FramingError::TooLarge { .. }))).count();
            prop_assert_eq!(too_large, 1, "{:?}", got);
            prop_assert_eq!(got.last().cloned(), Some(Ok(json!(1))));
        }
    }

    proptest! {
        /// Content-Length header blocks made of garbage (lengths of every size — zero,
        /// negative, beyond u64 and i128 —, repeated, empty or non-UTF-8 headers, missing
        /// colons) fed in arbitrary chunks: every error has a message, and the decoder never
        /// holds more than a header block, one message under the cap and the last chunk — a
        /// huge declared length is skipped, not allocated.
        #[test]
        fn prop_content_length_header_garbage_is_bounded(
            max in 1usize..256,
            parts in prop::collection::vec(prop_oneof![
                Just(b"Content-Length:".to_vec()),
                Just(b"content-length: ".to_vec()),
                Just(b"CONTENT-LENGTH :".to_vec()),
                Just(b"Content-Type: application/json".to_vec()),
                Just(b"\r\n".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"\n\n".to_vec()),
                Just(b":".to_vec()),
                Just(b"-".to_vec()),
                Just(b"18446744073709551616".to_vec()),
                Just(b"340282366920938463463374607431768211456".to_vec()),
                Just(b"{\"jsonrpc\":\"2.0\"}".to_vec()),
                "[0-9]{1,40}".prop_map(String::into_bytes),
                "[ \t+_xe.]{1,3}".prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 0..16),
            ], 0..40),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let stream: Vec<u8> = parts.concat();
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            points.extend([0, stream.len()]);
            points.sort_unstable();
            let mut d = Decoder::new(Framing::ContentLength, max);
            for pair in points.windows(2) {
                let chunk = &stream[pair[0]..pair[1]];
                d.push(chunk);
                for _ in 0..10_000 {
                    match d.next_message() {
                        Ok(None) => break,
                        Ok(Some(_)) => {}
                        Err(e) => prop_assert!(!e.to_string().is_empty()),
                    }
                }
                let bound = MAX_HEADER_BYTES + 4 + max + chunk.len();
                prop_assert!(d.buffered() <= bound, "{} > {}", d.buffered(), bound);
            }
        }
    }

    #[test]
    fn huge_content_lengths_are_skipped_not_allocated() {
        for header in ["18446744073709551615", "340282366920938463463374607431768211456", "99999999999"] {
            let mut d = Decoder::new(Framing::ContentLength, 1024);
            d.push(format!("Content-Length: {header}\r\n\r\n").as_bytes());
            let first = d.next_message();
            assert!(first.as_ref().is_err_and(|e| !e.to_string().is_empty()), "{header}: {first:?}");
            d.push(&[b'x'; 4096]);
            assert!(matches!(d.next_message(), Ok(None)));
            assert_eq!(d.buffered(), 0, "{header}");
            assert!(d.buf.capacity() <= 2 * 4096 + 1024, "{header}: {}", d.buf.capacity());
        }
    }
}
