//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
//! into the JSON object kube-apiserver would have decoded.
//!
//! Wire format: the 4-byte magic `k8s\0`, then a `runtime.Unknown` message
//! {1: typeMeta{1 apiVersion, 2 kind}, 2: raw, 3: contentEncoding, 4: contentType}
//! whose `raw` is the typed message. The field tables (generated.rs) cover every
//! kind the embedded server serves; see gen/generate.py.
//! Decoding is schema-driven, bounds-checked and never panics on arbitrary input.

mod generated;
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
    #[error("invalid JSON in a RawExtension: {0}")]
    InvalidRawExtension(String),
    #[error("protobuf message nested too deeply")]
    TooDeep,
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

/// A map entry message {1 key, 2 value}; the value's bytes when length-delimited.
fn decode_entry(b: &[u8]) -> Result<(String, &[u8])> {
    let mut r = Reader::new(b);
    let (mut k, mut v): (String, &[u8]) = (String::new(), &[]);
    while let Some((n, w)) = r.next_key()? {
        match n {
            1 => {
                expect(n, w, 2)?;
                k = utf8(n, r.len_delimited()?)?;
            }
            2 => {
                expect(n, w, 2)?;
                v = r.len_delimited()?;
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

fn map_insert(out: &mut Map<String, Value>, name: &str, k: String, v: Value) {
    match out.entry(name.to_string()).or_insert_with(|| Value::Object(Map::new())) {
        Value::Object(m) => {
            m.insert(k, v);
        }
        other => *other = Value::Object(Map::from_iter([(k, v)])),
    }
}

fn b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// Go renders integral float64 values without a fraction ("5", not "5.0").
fn float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 { Value::from(v as i64) } else { Value::from(v) }
}

/// The string field 1 of a single-field wrapper message (Quantity).
fn string_field1(b: &[u8]) -> Result<String> {
    let mut r = Reader::new(b);
    let mut s = String::new();
    while let Some((n, w)) = r.next_key()? {
        if n == 1 {
            expect(n, w, 2)?;
            s = utf8(n, r.len_delimited()?)?;
        } else {
            r.skip(w)?;
        }
    }
    Ok(s)
}

/// resource.Quantity serializes as its string; the zero Quantity as "0".
fn quantity(b: &[u8]) -> Result<Value> {
    let s = string_field1(b)?;
    Ok(Value::String(if s.is_empty() { "0".into() } else { s }))
}

/// The repeated string field 1 of a `[]string` wrapper (ExtraValue, Verbs).
fn str_list(b: &[u8]) -> Result<Value> {
    let mut r = Reader::new(b);
    let mut items = vec![];
    while let Some((n, w)) = r.next_key()? {
        if n == 1 {
            expect(n, w, 2)?;
            items.push(Value::String(utf8(n, r.len_delimited()?)?));
        } else {
            r.skip(w)?;
        }
    }
    Ok(Value::Array(items))
}

fn int_or_string(b: &[u8]) -> Result<Value> {
    let (mut ty, mut int_val, mut str_val) = (0u64, 0i32, String::new());
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.next_key()? {
        match n {
            1 => {
                expect(n, w, 0)?;
                ty = r.varint()?;
            }
            2 => {
                expect(n, w, 0)?;
                int_val = r.varint()? as i64 as i32;
            }
            3 => {
                expect(n, w, 2)?;
                str_val = utf8(n, r.len_delimited()?)?;
            }
            _ => r.skip(w)?,
        }
    }
    Ok(if ty == 1 { Value::String(str_val) } else { Value::from(int_val) })
}

/// RawExtension / apiextensions JSON {1 raw}: the raw bytes are JSON, or (from
/// client-go typed objects) a nested protobuf envelope.
fn raw_extension(b: &[u8], depth: usize) -> Result<Value> {
    let mut r = Reader::new(b);
    let mut raw: &[u8] = &[];
    while let Some((n, w)) = r.next_key()? {
        if n == 1 {
            expect(n, w, 2)?;
            raw = r.len_delimited()?;
        } else {
            r.skip(w)?;
        }
    }
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        return decode_at(raw, depth + 1);
    }
    serde_json::from_slice(raw).map_err(|e| ProtobufError::InvalidRawExtension(e.to_string()))
}

/// JSONSchemaPropsOr{Array,Bool,StringArray}: field 1/2 as in apiextensions' MarshalJSON.
fn schema_union(b: &[u8], kind: K, depth: usize) -> Result<Value> {
    let mut r = Reader::new(b);
    let (mut schema, mut list, mut allows) = (None, vec![], false);
    while let Some((n, w)) = r.next_key()? {
        match (kind, n) {
            (K::SchemaOrArray(sub), 1) | (K::MapSchemaOrStrings(sub), 1) | (K::SchemaOrBool(sub), 2) => {
                expect(n, w, 2)?;
                schema = Some(Value::Object(decode_message(r.len_delimited()?, sub, depth + 1)?));
            }
            (K::SchemaOrArray(sub), 2) => {
                expect(n, w, 2)?;
                list.push(Value::Object(decode_message(r.len_delimited()?, sub, depth + 1)?));
            }
            (K::MapSchemaOrStrings(_), 2) => {
                expect(n, w, 2)?;
                list.push(Value::String(utf8(n, r.len_delimited()?)?));
            }
            (K::SchemaOrBool(_), 1) => {
                expect(n, w, 0)?;
                allows = r.varint()? != 0;
            }
            _ => r.skip(w)?,
        }
    }
    Ok(match kind {
        K::SchemaOrBool(_) => schema.unwrap_or(Value::Bool(allows)),
        _ if !list.is_empty() => Value::Array(list),
        _ => schema.unwrap_or(Value::Null),
    })
}

/// What Go renders for a field that never appeared on the wire; None = omitted.
fn zero_value(kind: K, depth: usize) -> Result<Option<Value>> {
    Ok(Some(match kind {
        K::Str => Value::String(String::new()),
        K::I32 | K::I64 | K::Double | K::IntOrString => Value::from(0),
        K::Bool => Value::Bool(false),
        K::Quantity => Value::String("0".into()),
        K::Msg(sub) => Value::Object(decode_message(&[], sub, depth + 1)?),
        // Go renders a zero metav1.Time as null; omitting it keeps stored objects tidy.
        K::Time | K::MicroTime | K::FieldsV1 | K::Inline(_) => return Ok(None),
        _ => Value::Null,
    }))
}

/// Guards recursive schemas (JSONSchemaProps) and nested envelopes against stack
/// exhaustion: debug-build frames here take ~20-30 KiB per level on 2 MiB worker stacks.
const MAX_DEPTH: usize = 40;

fn decode_message(b: &[u8], schema: &[F], depth: usize) -> Result<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let mut out = Map::new();
    let mut r = Reader::new(b);
    while let Some((n, w)) = r.next_key()? {
        match schema.iter().find(|f| f.num == n) {
            Some(f) => decode_field(&mut r, f, n, w, &mut out, depth)?,
            None => r.skip(w)?,
        }
    }
    for f in schema.iter().filter(|f| f.always) {
        if let K::Inline(sub) = f.kind {
            for (k, v) in decode_message(&[], sub, depth + 1)? {
                out.entry(k).or_insert(v);
            }
        } else if out.contains_key(f.name) {
            continue;
        } else if let Some(v) = zero_value(f.kind, depth)? {
            out.insert(f.name.into(), v);
        }
    }
    Ok(out)
}

/// Repeated varints arrive one per key or packed into one length-delimited run.
fn rep_varints(r: &mut Reader<'_>, n: u32, w: u8) -> Result<Vec<u64>> {
    if w == 2 {
        let mut pr = Reader::new(r.len_delimited()?);
        let mut v = vec![];
        while pr.pos < pr.b.len() {
            v.push(pr.varint()?);
        }
        return Ok(v);
    }
    expect(n, w, 0)?;
    Ok(vec![r.varint()?])
}

fn decode_field(r: &mut Reader<'_>, f: &F, n: u32, w: u8, out: &mut Map<String, Value>, depth: usize) -> Result<()> {
    let mut set = |v: Value, zero: bool| {
        if !zero || f.keep_zero {
            out.insert(f.name.into(), v);
        }
    };
    match f.kind {
        K::Str => {
            expect(n, w, 2)?;
            let s = utf8(n, r.len_delimited()?)?;
            let zero = s.is_empty();
            set(Value::String(s), zero);
        }
        K::I64 | K::I32 | K::Bool => {
            expect(n, w, 0)?;
            let raw = r.varint()?;
            let (v, zero) = match f.kind {
                K::Bool => (Value::Bool(raw != 0), raw == 0),
                K::I32 => (Value::from(raw as i64 as i32), raw as i64 as i32 == 0),
                _ => (Value::from(raw as i64), raw == 0),
            };
            set(v, zero);
        }
        K::Double => {
            expect(n, w, 1)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(r.take(8)?);
            let v = f64::from_le_bytes(a);
            set(float(v), v == 0.0);
        }
        K::Bytes => {
            expect(n, w, 2)?;
            let b = r.len_delimited()?;
            set(b64(b), b.is_empty());
        }
        K::Msg(sub) => {
            expect(n, w, 2)?;
            let m = decode_message(r.len_delimited()?, sub, depth + 1)?;
            out.insert(f.name.into(), Value::Object(m));
        }
        K::Inline(sub) => {
            expect(n, w, 2)?;
            out.extend(decode_message(r.len_delimited()?, sub, depth + 1)?);
        }
        K::RepMsg(sub) => {
            expect(n, w, 2)?;
            let m = decode_message(r.len_delimited()?, sub, depth + 1)?;
            push(out, f.name, Value::Object(m));
        }
        K::RepStr => {
            expect(n, w, 2)?;
            let s = utf8(n, r.len_delimited()?)?;
            push(out, f.name, Value::String(s));
        }
        K::RepI32 | K::RepI64 => {
            for raw in rep_varints(r, n, w)? {
                let v = if f.kind == K::RepI32 { Value::from(raw as i64 as i32) } else { Value::from(raw as i64) };
                push(out, f.name, v);
            }
        }
        K::Time | K::MicroTime => {
            expect(n, w, 2)?;
            if let Some(t) = decode_time(n, r.len_delimited()?, f.kind == K::MicroTime)? {
                out.insert(f.name.into(), Value::String(t));
            }
        }
        K::Quantity => {
            expect(n, w, 2)?;
            let v = quantity(r.len_delimited()?)?;
            out.insert(f.name.into(), v);
        }
        K::RepQuantity => {
            expect(n, w, 2)?;
            let v = quantity(r.len_delimited()?)?;
            push(out, f.name, v);
        }
        K::IntOrString => {
            expect(n, w, 2)?;
            let v = int_or_string(r.len_delimited()?)?;
            out.insert(f.name.into(), v);
        }
        K::RawExtension => {
            expect(n, w, 2)?;
            let v = raw_extension(r.len_delimited()?, depth)?;
            out.insert(f.name.into(), v);
        }
        K::RepRawExtension => {
            expect(n, w, 2)?;
            let v = raw_extension(r.len_delimited()?, depth)?;
            push(out, f.name, v);
        }
        K::SchemaOrArray(_) | K::SchemaOrBool(_) => {
            expect(n, w, 2)?;
            let v = schema_union(r.len_delimited()?, f.kind, depth)?;
            out.insert(f.name.into(), v);
        }
        K::MapStr | K::MapBytes | K::MapQuantity | K::MapStrList | K::MapTime | K::MapMsg(_) | K::MapSchemaOrStrings(_) => {
            expect(n, w, 2)?;
            let (k, raw) = decode_entry(r.len_delimited()?)?;
            let v = match f.kind {
                K::MapStr => Value::String(utf8(n, raw)?),
                K::MapBytes => b64(raw),
                K::MapQuantity => quantity(raw)?,
                K::MapStrList => str_list(raw)?,
                K::MapTime => decode_time(n, raw, false)?.map_or(Value::Null, Value::String),
                K::MapMsg(sub) => Value::Object(decode_message(raw, sub, depth + 1)?),
                _ => schema_union(raw, f.kind, depth)?,
            };
            map_insert(out, f.name, k, v);
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
    Ok(())
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
                let tm = decode_message(r.len_delimited()?, schema::TYPE_META, 0)?;
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
    decode_at(body, 0)
}

fn decode_at(body: &[u8], depth: usize) -> Result<Value> {
    let rest = body.strip_prefix(MAGIC.as_slice()).ok_or(ProtobufError::MissingMagic)?;
    let u = decode_unknown(rest)?;
    if !u.content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedEncoding(u.content_encoding));
    }
    let Some(sch) = schema::for_kind(&u.api_version, &u.kind) else {
        return Err(ProtobufError::UnsupportedKind { api_version: u.api_version, kind: u.kind });
    };
    let fields = decode_message(u.raw, sch, depth + 1)?;
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
