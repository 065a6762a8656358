//! A YAML tree where every node knows its line and column, and a serde `Deserializer` over it
//! whose errors carry the location of the offending node. This is what turns "invalid type"
//! into "smoke.yaml:12:7: invalid type ...".

use std::fmt;

use serde::de::{self, Error as _, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// A 1-based line/column position in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own positions (for "unknown field" errors).
    Map(Vec<(Key, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Node {
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// Plain JSON, losing positions (for inline manifests and partial matches).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(Into::into).unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => {
                entries.iter().map(|(k, v)| (k.name.clone(), v.to_json())).collect::<serde_json::Map<_, _>>().into()
            }
        }
    }
    /// Apply `f` to every string scalar (variable substitution), stopping at the first error.
    pub fn try_map_strings<E>(&mut self, f: &mut impl FnMut(&str, Pos) -> Result<String, E>) -> Result<(), E> {
        match &mut self.value {
            Value::Str(s) => *s = f(s, self.pos)?,
            Value::Seq(items) => {
                for item in items {
                    item.try_map_strings(f)?;
                }
            }
            Value::Map(entries) => {
                for (_, v) in entries {
                    v.try_map_strings(f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

// ---------- building the tree from serde-saphyr ----------

struct Raw(Value);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw(Value::Null))
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw(Value::Null))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Raw, D2::Error> {
                Raw::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw(Value::Int(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw(i64::try_from(v).map(Value::Int).unwrap_or(Value::Float(v as f64))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw(Value::Float(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw(Value::Str(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Raw, E> {
                Ok(Raw(Value::Str(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut out = Vec::new();
                while let Some(n) = seq.next_element::<Node>()? {
                    out.push(n);
                }
                Ok(Raw(Value::Seq(out)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut out: Vec<(Key, Node)> = Vec::new();
                while let Some(k) = map.next_key::<serde_saphyr::Spanned<KeyString>>()? {
                    let key = Key { pos: loc(&k.referenced), name: k.value.0 };
                    let v = map.next_value::<Node>()?;
                    if out.iter().any(|(existing, _)| existing.name == key.name) {
                        return Err(de::Error::custom(format!(
                            "duplicate key `{}` at line {}",
                            key.name, key.pos.line
                        )));
                    }
                    out.push((key, v));
                }
                Ok(Raw(Value::Map(out)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Keys may be written as numbers or booleans in YAML; we treat them as strings.
struct KeyString(String);
impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
        }
        d.deserialize_string(V)
    }
}

fn loc(l: &serde_saphyr::Location) -> Pos {
    Pos { line: l.line(), column: l.column() }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<Raw>::deserialize(d)?;
        Ok(Node { pos: loc(&s.referenced), value: s.value.0 })
    }
}

/// Parse one YAML document into a positioned tree.
pub fn parse_yaml(text: &str) -> Result<Node, serde_saphyr::Error> {
    // YAML 1.2 booleans: `y`, `on`, `no` stay strings, as Kubernetes' own YAML reader treats them.
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    options.with_snippet = false;
    serde_saphyr::from_str_with_options::<Node>(text, options)
}

// ---------- deserializing typed values from the tree ----------

/// An error found while reading a typed value from the tree, with the position of the node at fault.
#[derive(Debug, Clone)]
pub struct NodeError {
    pub pos: Option<Pos>,
    pub message: String,
    /// Set for unknown fields: the field that was written and the ones that exist.
    pub unknown_field: Option<(String, Vec<String>)>,
    /// Set for missing fields.
    pub missing_field: Option<String>,
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for NodeError {}

impl de::Error for NodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NodeError { pos: None, message: msg.to_string(), unknown_field: None, missing_field: None }
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        NodeError {
            pos: None,
            message: format!("unknown argument `{field}`"),
            unknown_field: Some((field.to_string(), expected.iter().map(|s| s.to_string()).collect())),
            missing_field: None,
        }
    }
    fn missing_field(field: &'static str) -> Self {
        NodeError {
            pos: None,
            message: format!("missing required argument `{field}`"),
            unknown_field: None,
            missing_field: Some(field.to_string()),
        }
    }
}

impl NodeError {
    fn at(mut self, pos: Pos) -> Self {
        if self.pos.is_none() {
            self.pos = Some(pos);
        }
        self
    }
}

/// Deserialize `T` from `node`; errors carry the position of the node at fault.
pub fn from_node<T: de::DeserializeOwned>(node: &Node) -> Result<T, NodeError> {
    T::deserialize(NodeDe(node))
}

pub struct NodeDe<'a>(pub &'a Node);

impl<'a> NodeDe<'a> {
    fn invalid(&self, exp: &dyn de::Expected) -> NodeError {
        NodeError::custom(format!("invalid type: expected {exp}, found {}", self.0.type_name())).at(self.0.pos)
    }
}

macro_rules! forward_num {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
            let pos = self.0.pos;
            match &self.0.value {
                Value::Int(i) => match <$ty>::try_from(*i) {
                    Ok(v) => visitor.$visit(v).map_err(|e: NodeError| e.at(pos)),
                    Err(_) => Err(NodeError::custom(format!("number {i} is out of range")).at(pos)),
                },
                Value::Str(s) => match s.trim().parse::<$ty>() {
                    Ok(v) => visitor.$visit(v).map_err(|e: NodeError| e.at(pos)),
                    Err(_) => Err(NodeError::custom(format!("invalid type: expected {}, found the string {s:?}", stringify!($ty))).at(pos)),
                },
                _ => Err(self.invalid(&visitor)),
            }
        }
    )*};
}

impl<'de, 'a> Deserializer<'de> for NodeDe<'a> {
    type Error = NodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let pos = self.0.pos;
        let r = match &self.0.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(Seq { iter: items.iter() }),
            Value::Map(entries) => visitor.visit_map(Map { iter: entries.iter(), value: None }),
        };
        r.map_err(|e: NodeError| e.at(pos))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        match &self.0.value {
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Str(s) if s == "true" || s == "false" => visitor.visit_bool(s == "true"),
            _ => Err(self.invalid(&visitor)),
        }
    }

    forward_num! {
        deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16, deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64, deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_f64(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        match &self.0.value {
            Value::Int(i) => visitor.visit_f64(*i as f64),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => match s.trim().parse::<f64>() {
                Ok(f) => visitor.visit_f64(f),
                Err(_) => Err(self.invalid(&visitor)),
            },
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let pos = self.0.pos;
        // Scalars are accepted as strings (`name: 123` is a fine name); collections are not.
        let r = match &self.0.value {
            Value::Str(s) => visitor.visit_str(s),
            Value::Int(i) => visitor.visit_string(i.to_string()),
            Value::Float(f) => visitor.visit_string(f.to_string()),
            Value::Bool(b) => visitor.visit_string(b.to_string()),
            _ => return Err(self.invalid(&visitor)),
        };
        r.map_err(|e: NodeError| e.at(pos))
    }
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }
    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        match &self.0.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let pos = self.0.pos;
        match &self.0.value {
            Value::Seq(items) => visitor.visit_seq(Seq { iter: items.iter() }).map_err(|e: NodeError| e.at(pos)),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        let pos = self.0.pos;
        match &self.0.value {
            Value::Map(entries) => visitor.visit_map(Map { iter: entries.iter(), value: None }).map_err(|e: NodeError| e.at(pos)),
            // An empty argument block may be written as nothing at all: `cluster.ensure:`.
            Value::Null => {
                visitor.visit_map(Map { iter: [].iter(), value: None }).map_err(|e: NodeError| e.at(pos))
            }
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, NodeError> {
        let pos = self.0.pos;
        match &self.0.value {
            Value::Str(s) => visitor.visit_enum(s.as_str().into_deserializer()).map_err(|e: NodeError| e.at(pos)),
            Value::Map(entries) if entries.len() == 1 => {
                visitor.visit_enum(Enum { key: &entries[0].0, value: &entries[0].1 }).map_err(|e: NodeError| e.at(pos))
            }
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        match &self.0.value {
            Value::Null => visitor.visit_unit(),
            _ => Err(self.invalid(&visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, NodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, NodeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! { i128 u128 bytes byte_buf unit_struct tuple tuple_struct }
}

struct Seq<'a> {
    iter: std::slice::Iter<'a, Node>,
}
impl<'de, 'a> SeqAccess<'de> for Seq<'a> {
    type Error = NodeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, NodeError> {
        match self.iter.next() {
            Some(n) => seed.deserialize(NodeDe(n)).map(Some).map_err(|e: NodeError| e.at(n.pos)),
            None => Ok(None),
        }
    }
}

struct Map<'a> {
    iter: std::slice::Iter<'a, (Key, Node)>,
    value: Option<&'a Node>,
}
impl<'de, 'a> MapAccess<'de> for Map<'a> {
    type Error = NodeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, NodeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let de: de::value::StrDeserializer<'_, NodeError> = k.name.as_str().into_deserializer();
                seed.deserialize(de).map(Some).map_err(|e: NodeError| e.at(k.pos))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, NodeError> {
        let v = self.value.take().expect("value after key");
        seed.deserialize(NodeDe(v)).map_err(|e: NodeError| e.at(v.pos))
    }
}

struct Enum<'a> {
    key: &'a Key,
    value: &'a Node,
}
impl<'de, 'a> de::EnumAccess<'de> for Enum<'a> {
    type Error = NodeError;
    type Variant = NodeDe<'a>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, NodeDe<'a>), NodeError> {
        let de: de::value::StrDeserializer<'_, NodeError> = self.key.name.as_str().into_deserializer();
        let v = seed.deserialize(de).map_err(|e: NodeError| e.at(self.key.pos))?;
        Ok((v, NodeDe(self.value)))
    }
}
impl<'de, 'a> de::VariantAccess<'de> for NodeDe<'a> {
    type Error = NodeError;
    fn unit_variant(self) -> Result<(), NodeError> {
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, NodeError> {
        let pos = self.0.pos;
        seed.deserialize(self).map_err(|e: NodeError| e.at(pos))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_seq(visitor)
    }
    fn struct_variant<V: Visitor<'de>>(self, _f: &'static [&'static str], visitor: V) -> Result<V::Value, NodeError> {
        self.deserialize_map(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_recorded() {
        let n = parse_yaml("a: 1\nb:\n  - x\n  - y: 2\n").unwrap();
        let b = n.get("b").unwrap();
        match &b.value {
            Value::Seq(items) => {
                assert_eq!(items[0].pos.line, 3);
                assert_eq!(items[1].get("y").unwrap().pos.line, 4);
            }
            other => panic!("{other:?}"),
        }
        match &n.value {
            Value::Map(e) => assert_eq!(e[1].0.pos.line, 2),
            _ => panic!(),
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        name: String,
        count: Option<u32>,
    }

    #[test]
    fn errors_point_at_the_node() {
        let n = parse_yaml("name: x\ncount: [1]\n").unwrap();
        let e = from_node::<Args>(&n).unwrap_err();
        assert_eq!(e.pos.unwrap().line, 2, "{e:?}");
        let n = parse_yaml("name: x\ncuont: 1\n").unwrap();
        let e = from_node::<Args>(&n).unwrap_err();
        assert_eq!(e.pos.unwrap().line, 2);
        assert!(e.unknown_field.is_some());
        let n = parse_yaml("\n\ncount: 1\n").unwrap();
        let e = from_node::<Args>(&n).unwrap_err();
        assert_eq!(e.missing_field.as_deref(), Some("name"));
        assert_eq!(e.pos.unwrap().line, 3);
    }
}
