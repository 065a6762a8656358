//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
//! into the JSON object kube-apiserver would have decoded.
//!
//! Wire format: the 4-byte magic `k8s\0`, then a `runtime.Unknown` message
//! {1: typeMeta{1 apiVersion, 2 kind}, 2: raw, 3: contentEncoding, 4: contentType}
//! whose `raw` is the typed message. Field numbers follow k8s.io/api core/v1,
//! coordination/v1 and apimachinery meta/v1 `generated.proto`.
//! Decoding is schema-driven, bounds-checked and never panics on arbitrary input.

mod schema;

use base64::Engine;
use serde_json::{Map, Value};

use schema::{F, K};

pub const MAGIC: &[u8; 4] = b"k8s\x00";

/// Why a body could not be decoded; callers answer 415 for `UnsupportedKind`
/// and 400 for malformed bodies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtobufError {
    #[error("provided object is not a Kubernetes protobuf message: missing the \"k8s\\x00\" prefix")]
    MissingMagic,
    #[error("unexpected end of protobuf data")]
    Truncated,
    #[error("protobuf varint overflows 64 bits")]
    VarintOverflow,
    #[error("field {field} has wire type {wire}, expected {expected}")]
    WireType { field: u32, wire: u8, expected: u8 },
    #[error("unsupported protobuf wire type {0}")]
    UnsupportedWireType(u8),
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(u32),
    #[error("invalid timestamp in field {0}")]
    InvalidTime(u32),
    #[error("invalid JSON in fieldsV1: {0}")]
    InvalidFieldsV1(String),
    #[error("unsupported content encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("no protobuf decoder for {api_version}, Kind={kind}")]
    UnsupportedKind { api_version: String, kind: String },
}

impl ProtobufError {
    /// True when the right answer is 415 UnsupportedMediaType rather than 400.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, ProtobufError::UnsupportedKind { .. } | ProtobufError::UnsupportedEncoding(_))
    }
}

type Result<T> = std::result::Result<T, ProtobufError>;

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }
    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let byte = *self.b.get(self.pos).ok_or(ProtobufError::Truncated)?;
            self.pos += 1;
            if i == 9 && byte > 1 {
                return Err(ProtobufError::VarintOverflow);
            }
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ProtobufError::VarintOverflow)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(ProtobufError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(ProtobufError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn len_delimited(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| ProtobufError::Truncated)?;
        self.take(n)
    }
    /// Next (field number, wire type), or None at end of message.
    fn next_key(&mut self) -> Result<Option<(u32, u8)>> {
        if self.pos >= self.b.len() {
            return Ok(None);
        }
        let k = self.varint()?;
        Ok(Some(((k >> 3) as u32, (k & 7) as u8)))
    }
    fn skip(&mut self, wire: u8) -> Result<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.len_delimited().map(|_| ()),
            5 => self.take(4).map(|_| ()),
            w => Err(ProtobufError::UnsupportedWireType(w)),
        }
    }
}

fn expect(field: u32, wire: u8, expected: u8) -> Result<()> {
    if wire == expected { Ok(()) } else { Err(ProtobufError::WireType { field, wire, expected }) }
}

fn utf8(field: u32, b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError::InvalidUtf8(field))
}

/// metav1.Time / MicroTime {1 seconds, 2 nanos}; None for the zero time.
fn decode_time(field: u32, b: &[u8], micro: bool) -> Result<Option<String>> {
    let (mut secs, mut nanos) = (0i64, 0i64);
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.next_key()? {
        match n {
            1 => {
                expect(n, w, 0)?;
                secs = r.varint()? as i64;
            }
            2 => {
                expect(n, w, 0)?;
                nanos = r.varint()? as i64 as i32 as i64;
            }
            _ => r.skip(w)?,
        }
    }
    if secs == 0 && nanos == 0 {
        return Ok(None);
    }
    let nanos = u32::try_from(nanos).map_err(|_| ProtobufError::InvalidTime(field))?;
    let t = chrono::DateTime::from_timestamp(secs, nanos).ok_or(ProtobufError::InvalidTime(field))?;
    // metav1.Time marshals with second precision, MicroTime with microseconds.
    Ok(Some(if micro {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }))
}

/// A map entry message {1 key, 2 value}.
fn decode_entry(b: &[u8], value_is_bytes: bool) -> Result<(String, Value)> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    while let Some((n, w)) = r.next_key()? {
        match n {
            1 => {
                expect(n, w, 2)?;
                k = utf8(n, r.len_delimited()?)?;
            }
            2 => {
                expect(n, w, 2)?;
                let raw = r.len_delimited()?;
                v = Value::String(if value_is_bytes {
                    base64::engine::general_purpose::STANDARD.encode(raw)
                } else {
                    utf8(n, raw)?
                });
            }
            _ => r.skip(w)?,
        }
    }
    Ok((k, v))
}

fn push(out: &mut Map<String, Value>, name: &str, v: Value) {
    match out.entry(name.to_string()).or_insert_with(|| Value::Array(vec![])) {
        Value::Array(a) => a.push(v),
        other => *other = Value::Array(vec![v]),
    }
}

fn decode_message(b: &[u8], schema: &[F]) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.next_key()? {
        let Some(f) = schema.iter().find(|f| f.num == n) else {
            r.skip(w)?;
            continue;
        };
        match f.kind {
            K::Str => {
                expect(n, w, 2)?;
                let s = utf8(n, r.len_delimited()?)?;
                if !s.is_empty() || f.keep_zero {
                    out.insert(f.name.into(), Value::String(s));
                }
            }
            K::I64 | K::I32 | K::Bool => {
                expect(n, w, 0)?;
                let raw = r.varint()?;
                let v = match f.kind {
                    K::Bool => Value::Bool(raw != 0),
                    K::I32 => Value::from(raw as i64 as i32),
                    _ => Value::from(raw as i64),
                };
                let zero = raw == 0 || (f.kind == K::I32 && raw as i64 as i32 == 0);
                if !zero || f.keep_zero {
                    out.insert(f.name.into(), v);
                }
            }
            K::Msg(sub) => {
                expect(n, w, 2)?;
                let m = decode_message(r.len_delimited()?, sub)?;
                out.insert(f.name.into(), Value::Object(m));
            }
            K::RepMsg(sub) => {
                expect(n, w, 2)?;
                let m = decode_message(r.len_delimited()?, sub)?;
                push(&mut out, f.name, Value::Object(m));
            }
            K::RepStr => {
                expect(n, w, 2)?;
                let s = utf8(n, r.len_delimited()?)?;
                push(&mut out, f.name, Value::String(s));
            }
            K::Time | K::MicroTime => {
                expect(n, w, 2)?;
                if let Some(t) = decode_time(n, r.len_delimited()?, f.kind == K::MicroTime)? {
                    out.insert(f.name.into(), Value::String(t));
                }
            }
            K::MapStr | K::MapBytes => {
                expect(n, w, 2)?;
                let (k, v) = decode_entry(r.len_delimited()?, f.kind == K::MapBytes)?;
                if let Value::Object(m) = out.entry(f.name.to_string()).or_insert_with(|| Value::Object(Map::new())) {
                    m.insert(k, v);
                }
            }
            K::FieldsV1 => {
                expect(n, w, 2)?;
                let inner = r.len_delimited()?;
                let mut ir = Reader::new(inner);
                let mut v = Value::Object(Map::new());
                while let Some((n2, w2)) = ir.next_key()? {
                    if n2 == 1 {
                        expect(n2, w2, 2)?;
                        v = serde_json::from_slice(ir.len_delimited()?)
                            .map_err(|e| ProtobufError::InvalidFieldsV1(e.to_string()))?;
                    } else {
                        ir.skip(w2)?;
                    }
                }
                out.insert(f.name.into(), v);
            }
        }
    }
    Ok(out)
}

/// The decoded `runtime.Unknown` envelope.
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

fn decode_unknown(b: &[u8]) -> Result<Unknown<'_>> {
    let mut u = Unknown { api_version: String::new(), kind: String::new(), raw: &[], content_encoding: String::new() };
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.next_key()? {
        match n {
            1 => {
                expect(n, w, 2)?;
                let tm = decode_message(r.len_delimited()?, schema::TYPE_META)?;
                let get = |k: &str| tm.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                u.api_version = get("apiVersion");
                u.kind = get("kind");
            }
            2 => {
                expect(n, w, 2)?;
                u.raw = r.len_delimited()?;
            }
            3 => {
                expect(n, w, 2)?;
                u.content_encoding = utf8(n, r.len_delimited()?)?;
            }
            _ => r.skip(w)?,
        }
    }
    Ok(u)
}

/// Decode a full protobuf request body into the JSON object it represents.
pub fn decode(body: &[u8]) -> std::result::Result<Value, ProtobufError> {
    let rest = body.strip_prefix(MAGIC.as_slice()).ok_or(ProtobufError::MissingMagic)?;
    let u = decode_unknown(rest)?;
    if !u.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(u.content_encoding));
    }
    let Some(sch) = schema::for_kind(&u.api_version, &u.kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version: u.api_version, kind: u.kind });
    };
    let fields = decode_message(u.raw, sch)?;
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(u.kind));
    out.insert("apiVersion".into(), Value::String(u.api_version));
    out.extend(fields);
    Ok(Value::Object(out))
}

/// Whether `decode` knows the kind (for content negotiation before reading a body).
pub fn supports(api_version: &str, kind: &str) -> bool {
    schema::for_kind(api_version, kind).is_some()
}

#[cfg(test)]
mod tests;
