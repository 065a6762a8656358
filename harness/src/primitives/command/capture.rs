//! Streaming capture of one output stream of a command: every line is redacted (credentials, and the
//! values under `data:`/`stringData:` of a printed Secret), written to a file, and only a bounded head
//! and tail stay in memory, so 10 MB of output costs the report a few KiB.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, BufWriter};

use cleanroom_core::redact::redact;

/// Bytes of the start and end of a stream kept in memory (and shown in the report).
pub const HEAD_BYTES: usize = 2 * 1024;
pub const TAIL_BYTES: usize = 6 * 1024;
/// A longer line is cut into pieces (a 10 MB line without a newline must not be buffered whole).
const MAX_LINE: usize = 64 * 1024;
/// A line kept in memory is cut to this length.
const MAX_KEPT_LINE: usize = 1024;
/// An object dump longer than this is flushed without knowing its kind: its data blocks are redacted.
const MAX_SEGMENT: usize = 1024 * 1024;

static DELETED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"^\S+ "[^"]+" deleted( from \S+)?\s*$"#).unwrap());
static SECRET_KIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\s*)(- )?kind: Secret\s*$").unwrap());
static DATA_KEY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\s*)(- )?(data|stringData):\s*$").unwrap());
static LAST_APPLIED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\s*)kubectl\.kubernetes\.io/last-applied-configuration:").unwrap());
static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\s*)([^:\s][^:]*):\s*\S").unwrap());
static JSON_DATA: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"^(\s*)"(data|stringData)": \{\s*$"#).unwrap());
static JSON_ENTRY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"^(\s*"[^"]*": )"[^"]*"(,?)\s*$"#).unwrap());

/// What one stream produced: the file with all of it (redacted), its size, a head and a tail, and
/// what procedure heuristics need (lines like `pod "x" deleted`, "No resources found").
#[derive(Debug, Default)]
pub struct Captured {
    pub path: PathBuf,
    pub bytes: u64,
    pub head: String,
    pub tail: VecDeque<String>,
    tail_bytes: usize,
    head_full: bool,
    /// Bytes neither in the head nor in the tail.
    pub omitted: u64,
    pub deleted: usize,
    pub no_resources: Option<String>,
}

impl Captured {
    /// The stream as the report shows it: whole when small, else head, a pointer to the file, tail.
    pub fn excerpt(&self) -> String {
        let mut s = self.head.clone();
        if self.omitted > 0 {
            s.push_str(&format!("… {} bytes omitted; full output: {} …\n", self.omitted, self.path.display()));
        }
        for l in &self.tail {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The last `n` non-empty lines, joined with ` / ` (for one-line messages).
    pub fn last_lines(&self, n: usize) -> String {
        let mut lines: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        if lines.is_empty() {
            lines = self.head.lines().collect();
        }
        let picked: Vec<&str> = lines.iter().rev().map(|l| l.trim()).filter(|l| !l.is_empty()).take(n).collect();
        picked.into_iter().rev().collect::<Vec<_>>().join(" / ")
    }

    /// The whole (redacted) stream, read back from its file (for `contains`/`matches` checks).
    pub fn full_text(&self) -> std::io::Result<String> {
        if self.omitted == 0 {
            return Ok(self.excerpt());
        }
        Ok(String::from_utf8_lossy(&std::fs::read(&self.path)?).into_owned())
    }

    fn keep(&mut self, line: &str) {
        let line = cut(line, MAX_KEPT_LINE);
        if !self.head_full && self.head.len() + line.len() < HEAD_BYTES {
            self.head.push_str(&line);
            self.head.push('\n');
            return;
        }
        self.head_full = true;
        self.tail_bytes += line.len() + 1;
        self.tail.push_back(line);
        while self.tail_bytes > TAIL_BYTES && self.tail.len() > 1 {
            let gone = self.tail.pop_front().unwrap_or_default();
            self.tail_bytes -= gone.len() + 1;
            self.omitted += gone.len() as u64 + 1;
        }
    }
}

fn cut(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

/// Read `r` to its end, writing redacted lines to `path`.
pub async fn capture<R: AsyncRead + Unpin>(r: R, path: PathBuf) -> std::io::Result<Captured> {
    let file = tokio::fs::File::create(&path).await?;
    let mut sink = Sink { out: BufWriter::new(file), cap: Captured { path, ..Default::default() }, filter: SecretFilter::default() };
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        let (complete, used) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                (true, i + 1)
            }
            None => {
                line.extend_from_slice(buf);
                (false, buf.len())
            }
        };
        reader.consume(used);
        if complete || line.len() >= MAX_LINE {
            let text = String::from_utf8_lossy(&line).into_owned();
            line.clear();
            sink.push(text).await?;
        }
    }
    if !line.is_empty() {
        sink.push(String::from_utf8_lossy(&line).into_owned()).await?;
    }
    sink.finish().await
}

struct Sink {
    out: BufWriter<tokio::fs::File>,
    cap: Captured,
    filter: SecretFilter,
}

impl Sink {
    async fn push(&mut self, line: String) -> std::io::Result<()> {
        for l in self.filter.push(line) {
            self.emit(l).await?;
        }
        Ok(())
    }

    async fn emit(&mut self, line: String) -> std::io::Result<()> {
        let line = redact(&line);
        if DELETED.is_match(&line) {
            self.cap.deleted += 1;
        }
        if self.cap.no_resources.is_none() && line.contains("No resources found") {
            self.cap.no_resources = Some(line.trim().to_string());
        }
        self.out.write_all(line.as_bytes()).await?;
        self.out.write_all(b"\n").await?;
        self.cap.bytes += line.len() as u64 + 1;
        self.cap.keep(&line);
        Ok(())
    }

    async fn finish(mut self) -> std::io::Result<Captured> {
        for l in self.filter.flush(false) {
            self.emit(l).await?;
        }
        self.out.flush().await?;
        Ok(self.cap)
    }
}

/// Buffers one printed object at a time (YAML documents and list items start at column 0 with
/// `apiVersion:`, `- apiVersion:` or `---`), because kubectl prints `data:` before `kind: Secret`.
/// JSON `"data": {…}` blocks are redacted whatever the kind (over-redacting ConfigMaps in JSON).
#[derive(Default)]
struct SecretFilter {
    seg: Vec<String>,
    bytes: usize,
    /// Indentation of an open JSON data block.
    json_block: Option<usize>,
}

impl SecretFilter {
    fn push(&mut self, line: String) -> Vec<String> {
        let line = self.json(line);
        let boundary = line.starts_with("apiVersion:") || line.starts_with("- apiVersion:") || line.trim_end() == "---";
        let mut out = Vec::new();
        if boundary && !self.seg.is_empty() {
            out = self.flush(false);
        }
        self.bytes += line.len();
        self.seg.push(line);
        if self.bytes > MAX_SEGMENT {
            out.extend(self.flush(true));
        }
        out
    }

    fn json(&mut self, line: String) -> String {
        if let Some(indent) = self.json_block {
            let trimmed = line.trim_start();
            if (trimmed.starts_with('}')) && line.len() - trimmed.len() <= indent {
                self.json_block = None;
                return line;
            }
            return JSON_ENTRY.replace(&line, "$1\"<redacted>\"$2").into_owned();
        }
        if let Some(c) = JSON_DATA.captures(&line) {
            self.json_block = Some(c[1].len());
        }
        line
    }

    /// Emit the buffered object; its data blocks are redacted when it is a Secret (or `unknown`).
    fn flush(&mut self, unknown: bool) -> Vec<String> {
        let mut seg = std::mem::take(&mut self.seg);
        self.bytes = 0;
        let level = seg.iter().find_map(|l| SECRET_KIND.captures(l).map(|c| c[1].len() + c.get(2).map_or(0, |m| m.len())));
        if level.is_none() && !unknown {
            return seg;
        }
        let mut block: Option<usize> = None;
        for l in seg.iter_mut() {
            let indent = l.len() - l.trim_start_matches([' ', '-']).len();
            if let Some(b) = block {
                if indent > b && !l.trim().is_empty() {
                    *l = match KEY_VALUE.captures(l) {
                        Some(c) => format!("{}{}: <redacted>", &c[1], &c[2]),
                        None => format!("{}<redacted>", &l[..l.len() - l.trim_start().len()]),
                    };
                    continue;
                }
                block = None;
            }
            if let Some(c) = DATA_KEY.captures(l) {
                let at = c[1].len() + c.get(2).map_or(0, |m| m.len());
                if level.is_none_or(|k| k == at) {
                    block = Some(at);
                }
            } else if let Some(c) = LAST_APPLIED.captures(l) {
                let at = c[1].len();
                *l = format!("{}kubectl.kubernetes.io/last-applied-configuration: <redacted>", &c[1]);
                block = Some(at);
            }
        }
        seg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> String {
        let mut f = SecretFilter::default();
        let mut out: Vec<String> = text.lines().flat_map(|l| f.push(l.to_string())).collect();
        out.extend(f.flush(false));
        out.join("\n")
    }

    #[test]
    fn secret_data_is_redacted_configmap_data_is_not() {
        let list = "apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n    admin-password: c2VjcmV0\n    user: YWRtaW4=\n  kind: Secret\n  metadata:\n    name: s\n- apiVersion: v1\n  data:\n    plain: hello\n  kind: ConfigMap\nkind: List\n";
        let out = filter(list);
        assert!(!out.contains("c2VjcmV0") && !out.contains("YWRtaW4="), "{out}");
        assert!(out.contains("    user: <redacted>"), "{out}");
        assert!(out.contains("    plain: hello"), "{out}");
        let single = "apiVersion: v1\ndata:\n  tls.crt: LS0tLS1CRUdJTg==\nkind: Secret\nmetadata:\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n      {\"data\":{\"tls.crt\":\"LS0tLS1CRUdJTg==\"}}\n  name: t\ntype: Opaque\n";
        let out = filter(single);
        assert!(!out.contains("LS0tLS1CRUdJTg=="), "{out}");
        assert!(out.contains("  name: t") && out.contains("type: Opaque"), "{out}");
    }

    #[test]
    fn json_data_blocks_are_redacted() {
        let out = filter("{\n    \"data\": {\n        \"k\": \"dmFs\",\n        \"x\": \"eQ==\"\n    },\n    \"kind\": \"Secret\"\n}");
        assert!(!out.contains("dmFs") && !out.contains("eQ=="), "{out}");
        assert!(out.contains("\"kind\": \"Secret\""), "{out}");
    }
}
