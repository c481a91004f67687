//! The smallest HTTP/1.1 the two clients need: one request per connection
//! (`Content-Length` or chunked body, `Expect: 100-continue`), one response
//! with `Content-Length` and `Connection: close`.

use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Limit of the request line plus headers.
const MAX_HEAD_BYTES: u64 = 64 * 1024;
/// Limit of a request body (codex/claude bodies are ~50–100 KB and grow with
/// the history; this is far above any rehearsal).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long a client may take to send a whole request.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// Path and query as sent.
    pub(crate) target: String,
    /// Header names lowercased, in order.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Request {
    /// The target without its query string.
    pub(crate) fn path(&self) -> &str {
        self.target.split_once('?').map_or(self.target.as_str(), |(path, _)| path)
    }

    /// The first header of that (lowercase) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The peer closed (or never sent anything) before a request line.
    #[error("connection closed before a request")]
    Closed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Malformed request: answered with 400 when the head was readable.
    #[error("{0}")]
    Bad(String),
    /// A body larger than [`MAX_BODY_BYTES`]: answered with 413.
    #[error("{0}")]
    TooLarge(String),
}

/// A response to write.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

/// Reads one CRLF (or LF) terminated line within `budget` bytes; `None` at EOF.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, budget: &mut u64) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let read = (&mut *reader).take(*budget).read_until(b'\n', &mut line).await?;
    if read == 0 {
        return Ok(None);
    }
    *budget = budget.saturating_sub(read as u64);
    if line.last() != Some(&b'\n') {
        return Err(if *budget == 0 {
            ReadError::TooLarge("request head too large".to_owned())
        } else {
            ReadError::Bad("connection closed in the middle of a line".to_owned())
        });
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    String::from_utf8(line).map(Some).map_err(|_| ReadError::Bad("request head is not UTF-8".to_owned()))
}

/// Reads one request. Answers `Expect: 100-continue` on `stream` itself.
pub(crate) async fn read_request<R, W>(reader: &mut R, writer: &mut W) -> Result<Request, ReadError>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut budget = MAX_HEAD_BYTES;
    // Tolerate empty lines before the request line (RFC 9112 §2.2).
    let request_line = loop {
        match read_line(reader, &mut budget).await? {
            None => return Err(ReadError::Closed),
            Some(line) if line.is_empty() => {}
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ReadError::Bad(format!("malformed request line {request_line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad(format!("unsupported protocol {version:?}")));
    }
    let (method, target) = (method.to_owned(), target.to_owned());

    let mut headers = Vec::new();
    loop {
        let Some(line) = read_line(reader, &mut budget).await? else {
            return Err(ReadError::Bad("connection closed in the request head".to_owned()));
        };
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad(format!("malformed header line {line:?}")));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut request = Request { method, target, headers, body: Vec::new() };

    if request.header("expect").is_some_and(|value| value.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        writer.flush().await?;
    }

    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|value| value.split(',').any(|coding| coding.trim().eq_ignore_ascii_case("chunked")));
    if chunked {
        request.body = read_chunked(reader).await?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().map_err(|_| ReadError::Bad(format!("invalid Content-Length {length:?}")))?;
        if length > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge(format!("request body of {length} bytes exceeds {MAX_BODY_BYTES}")));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        request.body = body;
    }
    Ok(request)
}

async fn read_chunked<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD_BYTES;
        let Some(line) = read_line(reader, &mut budget).await? else {
            return Err(ReadError::Bad("connection closed inside a chunked body".to_owned()));
        };
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ReadError::Bad(format!("invalid chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while let Some(trailer) = read_line(reader, &mut budget).await? {
                if trailer.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len().saturating_add(size) > MAX_BODY_BYTES {
            return Err(ReadError::TooLarge(format!("chunked request body exceeds {MAX_BODY_BYTES} bytes")));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let mut crlf = String::new();
        reader.read_line(&mut crlf).await?;
        if !crlf.trim().is_empty() {
            return Err(ReadError::Bad("chunk not followed by CRLF".to_owned()));
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Writes the response (`Content-Length`, `Connection: close`); a HEAD
/// response carries the headers only.
pub(crate) async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    response: &Response,
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
    );
    writer.write_all(head.as_bytes()).await?;
    if !head_only {
        writer.write_all(&response.body).await?;
    }
    writer.flush().await?;
    writer.shutdown().await
}
