//! What the client sends, before anything reaches the server: its framing, detected without
//! letting one bad line decide it, and JSON-RPC 2.0 validation.
//!
//! Until the client has sent one message in a framing, [`ClientDecoder`] reads it line by line:
//! a line starting with `{` or `[` that parses is a newline-JSON message (the framing is then
//! newline JSON); a complete `Content-Length` header block is the legacy framing; anything else
//! (`garbage`, `42`, bytes that are not UTF-8, header-like lines never followed by a blank line)
//! is answered and skipped, and detection goes on. Once the framing is known, the codec's
//! [`Decoder`] reads the stream; its errors are answered too. Every unparseable message gets the
//! JSON-RPC parse error (`-32700`, id `null`); every message that parses but is neither a
//! request, a notification nor a response (nor a non-empty batch of them) gets Invalid Request
//! (`-32600`, with its id when it has a usable one). Nothing answered here reaches the server or
//! the telemetry.

use serde_json::{Value, json};

use crate::framing::{Decoder, Framing, MAX_HEADER_BYTES, content_length, header_end};

/// Client bytes without a line break after this many while the framing is unknown: newline JSON
/// (the spec) is assumed, and its decoder takes over (and bounds the line).
const DETECT_LIMIT: usize = 64 * 1024;

/// One thing the client sent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Intake {
    /// A valid request, notification or response, or a non-empty batch of them: relay it.
    Forward(Value),
    /// Not a message: `reply` goes back to the client, nothing to the server; `why` is for the
    /// log.
    Answer { reply: Value, why: String },
}

/// The JSON-RPC 2.0 parse error.
pub(crate) fn parse_error(why: impl Into<String>) -> Intake {
    Intake::Answer {
        reply: json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
        why: why.into(),
    }
}

/// The JSON-RPC 2.0 invalid-request error for `id`.
fn invalid_request(id: Value, why: &str) -> Intake {
    Intake::Answer {
        reply: json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "Invalid Request"}}),
        why: format!("invalid JSON-RPC message: {why}"),
    }
}

/// `Forward` for a valid message or batch, the `-32600` answer otherwise.
pub(crate) fn classify(message: Value) -> Intake {
    match &message {
        Value::Array(items) if !items.is_empty() && items.iter().all(|m| check(m).is_ok()) => Intake::Forward(message),
        Value::Array(_) => invalid_request(Value::Null, "an empty batch, or a batch with an invalid member"),
        _ => match check(&message) {
            Ok(()) => Intake::Forward(message),
            Err((id, why)) => invalid_request(id, why),
        },
    }
}

/// A request, a notification or a response per JSON-RPC 2.0; otherwise the id to answer with
/// (a string or number id, else `null`) and what is wrong. An absent `jsonrpc` member is
/// tolerated (the proxy always did); a different version is not.
fn check(message: &Value) -> Result<(), (Value, &'static str)> {
    let Value::Object(m) = message else { return Err((Value::Null, "not a JSON object")) };
    let id = m.get("id");
    let answer_id = id.filter(|id| id.is_string() || id.is_number()).cloned().unwrap_or(Value::Null);
    let fail = |why| Err((answer_id.clone(), why));
    if id.is_some_and(|id| !(id.is_string() || id.is_number() || id.is_null())) {
        return fail("id must be a string, a number or null");
    }
    if m.get("jsonrpc").is_some_and(|v| v.as_str() != Some("2.0")) {
        return fail("jsonrpc must be \"2.0\"");
    }
    match m.get("method") {
        Some(Value::String(_)) => match m.get("params") {
            Some(p) if !(p.is_object() || p.is_array()) => fail("params must be an object or an array"),
            _ => Ok(()),
        },
        Some(_) => fail("method must be a string"),
        None => match (id, m.get("result"), m.get("error").filter(|e| !e.is_null())) {
            (None, _, _) => fail("neither a method nor an id"),
            (Some(_), Some(_), None) | (Some(_), None, Some(Value::Object(_))) => Ok(()),
            (Some(_), None, Some(_)) => fail("error must be an object"),
            (Some(_), Some(_), Some(_)) => fail("a result and an error"),
            (Some(_), None, None) => fail("neither a method nor a result or an error"),
        },
    }
}

/// `Name: value` (the name starts with a letter; letters, digits and `-`).
fn header_line(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    let name_len = line.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'-')).unwrap_or(line.len());
    line.first().is_some_and(u8::is_ascii_alphabetic) && line.get(name_len) == Some(&b':')
}

/// What the header-like text at the start of the buffer is.
enum Block {
    /// A complete header block with a usable `Content-Length`.
    Valid,
    /// Not known yet.
    Wait,
    /// This many bytes are not a header block.
    Garbage(usize, String),
}

/// The client's side of the stream: [`Self::push`] bytes, then [`Self::next`] until `None`;
/// [`Self::finish`] at EOF. Never panics, buffers at most about `max` bytes plus a read chunk
/// (the codec's bound) once the framing is known, and at most [`DETECT_LIMIT`] or
/// `MAX_HEADER_BYTES` plus a chunk before.
#[derive(Debug)]
pub(crate) struct ClientDecoder {
    max: usize,
    /// Bytes not yet looked at while the framing is unknown.
    early: Vec<u8>,
    /// The codec, once the client's framing is known.
    decoder: Option<Decoder>,
    eof: bool,
}

impl ClientDecoder {
    pub(crate) fn new(max_message_bytes: usize) -> Self {
        Self { max: max_message_bytes, early: Vec::new(), decoder: None, eof: false }
    }

    /// The client's framing, once it has sent a message in it.
    pub(crate) fn framing(&self) -> Option<Framing> {
        self.decoder.as_ref().map(Decoder::framing)
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        match &mut self.decoder {
            Some(d) => d.push(bytes),
            None => self.early.extend_from_slice(bytes),
        }
    }

    /// The client closed its side: a last line without its newline is still read, and whatever
    /// is left incomplete is answered as a parse error.
    pub(crate) fn finish(&mut self) {
        if self.framing() != Some(Framing::ContentLength) {
            self.push(b"\n");
        }
        self.eof = true;
    }

    /// The next thing the client sent; `None` when more bytes are needed.
    pub(crate) fn next(&mut self) -> Option<Intake> {
        loop {
            if let Some(d) = &mut self.decoder {
                return match d.next_message() {
                    Ok(Some(message)) => Some(classify(message)),
                    Err(e) => Some(parse_error(e.to_string())),
                    Ok(None) if self.eof && !d.pending().trim_ascii().is_empty() => {
                        *d = Decoder::new(d.framing(), self.max);
                        Some(parse_error("the client closed its side in the middle of a message"))
                    }
                    Ok(None) => None,
                };
            }
            let start = self.early.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(self.early.len());
            self.early.drain(..start);
            if self.early.is_empty() {
                return None;
            }
            let Some(end) = self.early.iter().position(|b| *b == b'\n') else {
                if self.early.len() > DETECT_LIMIT {
                    self.commit(Framing::Ndjson);
                    continue;
                }
                return None;
            };
            let line = self.early[..end].trim_ascii();
            if matches!(line.first(), Some(b'{' | b'[')) {
                let parsed = serde_json::from_slice::<Value>(line);
                self.early.drain(..=end);
                return Some(match parsed {
                    Ok(message) => {
                        self.commit(Framing::Ndjson);
                        classify(message)
                    }
                    Err(e) => parse_error(format!("invalid JSON: {e}")),
                });
            }
            if header_line(line) {
                match self.header_block(end + 1) {
                    Block::Wait => return None,
                    Block::Valid => {
                        self.commit(Framing::ContentLength);
                        continue;
                    }
                    Block::Garbage(len, why) => {
                        self.early.drain(..len);
                        return Some(parse_error(why));
                    }
                }
            }
            let answer = match serde_json::from_slice::<Value>(line) {
                // A scalar: JSON, but no message.
                Ok(value) => classify(value),
                Err(_) => parse_error("neither JSON nor a Content-Length header"),
            };
            self.early.drain(..=end);
            return Some(answer);
        }
    }

    /// The buffer starts with a header-like line of `first_line` bytes (with its newline).
    fn header_block(&self, first_line: usize) -> Block {
        let found = header_end(&self.early);
        let scanned = found.map_or(self.early.len(), |(block_len, _)| block_len);
        let mut lines: Vec<&[u8]> = self.early[..scanned].split(|b| *b == b'\n').collect();
        if found.is_none() {
            // The last piece has no newline yet.
            lines.pop();
        }
        if !lines.iter().all(|l| header_line(l)) {
            return Block::Garbage(first_line, "a header-like line that no header block follows".to_owned());
        }
        match found {
            Some((block_len, total)) => match content_length(&self.early[..block_len]) {
                Ok(_) => Block::Valid,
                Err(reason) => Block::Garbage(total, format!("bad Content-Length header block ({reason})")),
            },
            None if self.eof || self.early.len() > MAX_HEADER_BYTES => {
                Block::Garbage(first_line, "a header-like line that no header block follows".to_owned())
            }
            None => Block::Wait,
        }
    }

    fn commit(&mut self, framing: Framing) {
        let mut decoder = Decoder::new(framing, self.max);
        decoder.push(&std::mem::take(&mut self.early));
        self.decoder = Some(decoder);
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;
    use proptest::prelude::*;

    use super::*;
    use crate::framing::encode;

    fn all(d: &mut ClientDecoder) -> Vec<Intake> {
        let mut out = Vec::new();
        // Every call consumes bytes or returns `None`: bounded for the never-panics property.
        for _ in 0..10_000 {
            match d.next() {
                Some(item) => out.push(item),
                None => return out,
            }
        }
        panic!("next() kept returning items: {out:?}");
    }

    fn decode(stream: &[u8], cuts: &[usize]) -> Vec<Intake> {
        let mut d = ClientDecoder::new(1 << 20);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.extend([0, stream.len()]);
        points.sort_unstable();
        let mut out = Vec::new();
        for pair in points.windows(2) {
            d.push(&stream[pair[0]..pair[1]]);
            out.extend(all(&mut d));
        }
        d.finish();
        out.extend(all(&mut d));
        out
    }

    fn forwarded(items: &[Intake]) -> Vec<Value> {
        items.iter().filter_map(|i| if let Intake::Forward(v) = i { Some(v.clone()) } else { None }).collect()
    }

    fn code(item: &Intake) -> Option<i64> {
        match item {
            Intake::Answer { reply, .. } => reply["error"]["code"].as_i64(),
            Intake::Forward(_) => None,
        }
    }

    #[test]
    fn classify_follows_json_rpc() {
        for valid in [
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": "a", "result": {}}),
            json!({"jsonrpc": "2.0", "id": 2, "error": {"code": 1, "message": "m"}}),
            json!({"id": 3, "method": "ping", "params": []}),
            json!([{"jsonrpc": "2.0", "method": "a"}, {"id": 1, "result": null}]),
        ] {
            assert_eq!(classify(valid.clone()), Intake::Forward(valid.clone()), "{valid}");
        }
        for (invalid, id) in [
            (json!(42), Value::Null),
            (json!("x"), Value::Null),
            (json!([]), Value::Null),
            (json!([1]), Value::Null),
            (json!({"id": 5, "foo": 1}), json!(5)),
            (json!({"foo": 1}), Value::Null),
            (json!({"id": 6, "method": "x", "params": "p"}), json!(6)),
            (json!({"id": 7, "method": 7}), json!(7)),
            (json!({"jsonrpc": "1.0", "id": "a", "method": "x"}), json!("a")),
            (json!({"id": {"o": 1}, "method": "x"}), Value::Null),
            (json!({"id": 8, "result": 1, "error": {"code": 1}}), json!(8)),
            (json!({"id": 9, "error": "e"}), json!(9)),
        ] {
            let Intake::Answer { reply, .. } = classify(invalid.clone()) else { panic!("forwarded {invalid}") };
            assert_eq!(
                reply,
                json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32600, "message": "Invalid Request"}}),
                "{invalid}"
            );
        }
    }

    #[test]
    fn bad_lines_do_not_decide_the_framing() {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize"});
        for framing in [Framing::Ndjson, Framing::ContentLength] {
            for first in
                [&b"garbage\n"[..], b"42\n", b"\xff\xfe\n", b"hello: world\n", b"{broken\n", b"X-Debug: 1\r\n\r\n"]
            {
                let mut stream = first.to_vec();
                stream.extend(encode(framing, &init));
                let items = decode(&stream, &[]);
                assert_eq!(forwarded(&items), std::slice::from_ref(&init), "{framing} after {first:?}: {items:?}");
                if framing == Framing::ContentLength && first == b"hello: world\n" {
                    // Just one more header in the first header block.
                    assert_eq!(items.len(), 1, "{items:?}");
                    continue;
                }
                assert_eq!(items.len(), 2, "{framing} after {first:?}: {items:?}");
                assert!(matches!(code(&items[0]), Some(-32700 | -32600)), "{items:?}");
            }
        }
    }

    #[test]
    fn eof_reads_a_last_line_and_answers_a_truncated_message() {
        assert_eq!(forwarded(&decode(br#"{"id":1,"method":"x"}"#, &[])), [json!({"id": 1, "method": "x"})]);
        let items = decode(b"Content-Length: 50\r\n\r\n{\"id\":1", &[]);
        assert_eq!(items.iter().map(code).collect::<Vec<_>>(), [Some(-32700)]);
        assert_eq!(decode(b"garbage", &[]).iter().map(code).collect::<Vec<_>>(), [Some(-32700)]);
        assert_eq!(decode(b" \r\n\n", &[]), []);
    }

    fn arb_message() -> impl Strategy<Value = Value> {
        (any::<u32>(), "[a-z/]{1,12}", prop::collection::btree_map("[a-z]{1,5}", ".{0,8}", 0..4), any::<bool>())
            .prop_map(|(id, method, params, notification)| {
                let mut m = json!({"jsonrpc": "2.0", "method": method, "params": params});
                if !notification {
                    m["id"] = json!(id);
                }
                m
            })
    }

    /// A line that is no message: no newline, and no `{` or `[`, so it can never be a message
    /// of its own.
    fn arb_garbage() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>().prop_filter("no newline or bracket", |b| !b"\n{[".contains(b)), 0..24)
            .prop_map(|mut line| {
                line.push(b'\n');
                line
            })
    }

    proptest! {
        #[test]
        fn prop_arbitrary_bytes_never_panic(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..12),
        ) {
            let mut d = ClientDecoder::new(64);
            for chunk in &chunks {
                d.push(chunk);
                all(&mut d);
            }
            d.finish();
            all(&mut d);
        }

        #[test]
        fn prop_header_like_bytes_never_panic(
            parts in prop::collection::vec(prop_oneof![
                Just(b"Content-Length: ".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"\n".to_vec()),
                Just(b"a: b\n".to_vec()),
                Just(b"{".to_vec()),
                Just(b"{\"id\":1,\"method\":\"x\"}\n".to_vec()),
                "[0-9]{1,3}".prop_map(String::into_bytes),
                prop::collection::vec(any::<u8>(), 0..8),
            ], 0..24),
        ) {
            let stream: Vec<u8> = parts.concat();
            let _ = decode(&stream, &[3, 17, 40]);
        }

        /// Valid messages between garbage lines, in either framing, cut anywhere: every message
        /// is forwarded exactly once, in order, and nothing else is.
        #[test]
        fn prop_every_valid_message_is_forwarded_exactly_once(
            framing in prop_oneof![Just(Framing::Ndjson), Just(Framing::ContentLength)],
            parts in prop::collection::vec(prop_oneof![
                arb_message().prop_map(Ok),
                arb_garbage().prop_map(Err),
            ], 0..12),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut stream = Vec::new();
            let mut messages = Vec::new();
            for part in &parts {
                match part {
                    Ok(message) => {
                        stream.extend(encode(framing, message));
                        messages.push(message.clone());
                    }
                    Err(garbage) => stream.extend(garbage),
                }
            }
            let items = decode(&stream, &cuts);
            prop_assert_eq!(forwarded(&items), messages, "{:?}", items);
        }
    }
}
