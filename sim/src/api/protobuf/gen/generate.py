#!/usr/bin/env python3
"""Generate sim/src/api/protobuf/generated.rs: protobuf field tables for every
kind the embedded apiserver serves.

Sources (all offline):
  * k8s-pb 0.9.0 (prost output of the real generated.proto): field numbers,
    wire types and which message a field nests.
  * gen/go_fields.tsv (from kubectl's Go reflection data, see
    extract_go_fields.py): JSON names, omitempty and Go pointer-ness, which
    proto2 cannot tell (every k8s proto field is `optional`).
  * k8s-openapi 0.29 (v1_35): JSON names and optionality for types kubectl does
    not link (apiextensions, apiregistration, newer fields).

Rerun (from the workspace root, after `cargo fetch` made both crates available):
  python3 sim/src/api/protobuf/gen/generate.py > sim/src/api/protobuf/generated.rs
Optional: K8S_PB_SRC=.../k8s-pb-0.9.0/src K8S_OPENAPI_SRC=.../k8s-openapi-0.29.0/src/v1_35
A summary of fallbacks goes to stderr.
"""
import glob
import json
import os
import re
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))


def find_src(env, pattern):
    if os.environ.get(env):
        return os.environ[env]
    hits = sorted(glob.glob(os.path.expanduser(pattern)))
    if not hits:
        sys.exit(f"cannot find {pattern}; set {env}")
    return hits[-1]


PB = find_src("K8S_PB_SRC", "~/.cargo/registry/src/*/k8s-pb-0.9.0/src")
OA = find_src("K8S_OPENAPI_SRC", "~/.cargo/registry/src/*/k8s-openapi-0.29.0/src/v1_35")

# ---------------------------------------------------------------- k8s-pb


def strip_generics(t):
    """`Option<X>` / `Vec<X>` / `BTreeMap<K, V>` -> innermost type path(s)."""
    t = re.sub(r"\s+", "", t).replace(",>", ">")
    m = re.match(r"^::prost::alloc::collections::BTreeMap<(.*?),(.*)>$", t)
    if m:
        return m.group(2)
    for w in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        if t.startswith(w):
            return strip_generics(t[len(w):-1])
    return t


def resolve(mod, path):
    parts = path.split("::")
    cur = list(mod)
    while parts and parts[0] == "super":
        parts.pop(0)
        cur.pop()
    return tuple(cur + parts[:-1]), parts[-1]


messages = {}  # (modtuple, Name) -> list of field dicts
for f in glob.glob(os.path.join(PB, "**", "mod.rs"), recursive=True):
    mod = tuple(os.path.relpath(os.path.dirname(f), PB).split(os.sep))
    text = "\n".join(l for l in open(f).read().split("\n") if not l.strip().startswith("///"))
    for m in re.finditer(r"pub struct (\w+) \{(\}|.*?\n\})", text, re.S):
        name, body = m.group(1), m.group(2)
        fields = []
        for fm in re.finditer(r"#\[prost\(([^\]]*)\)\]\s*pub\s+(?:r#)?(\w+)\s*:\s*(.*?),\s*(?=#\[prost|\}?$)", body, re.S):
            attrs, fname, ftype = fm.groups()
            tag = int(re.search(r'tag = "(\d+)"', attrs).group(1))
            head = attrs.split(",")[0].strip()
            rep = "repeated" in attrs
            if head.startswith("btree_map"):
                kv = re.search(r'btree_map = "string, (\w+)"', attrs).group(1)
                kind = ("map", kv)
            elif head.startswith("bytes"):
                kind = ("bytes",)
            else:
                kind = (head,)
            target = None
            if kind[0] == "message" or kind == ("map", "message"):
                target = resolve(mod, strip_generics(ftype))
            fields.append(dict(num=tag, snake=fname, kind=kind, rep=rep, target=target))
        messages[(mod, name)] = fields

# ---------------------------------------------------------------- Go facts

PKG = {
    "api": "k8s.io/api",
    "apimachinery": "k8s.io/apimachinery",
    "apiextensions_apiserver": "k8s.io/apiextensions-apiserver",
    "kube_aggregator": "k8s.io/kube-aggregator",
}


def go_pkg(mod):
    return "/".join([PKG[mod[0]]] + list(mod[1:]))


go = {}  # (pkg, lower type) -> {num: (json, omitempty, ptr, struct)}
for line in open(os.path.join(HERE, "go_fields.tsv")):
    pkg, tname, _gofield, desc, tag = line.rstrip("\n").split("\t")
    pm = re.search(r'protobuf:"\w+,(\d+),', tag)
    jm = re.search(r'json:"([^"]*)"', tag)
    if not pm or not jm:
        continue
    jparts = jm.group(1).split(",")
    go.setdefault((pkg, tname.split(".", 1)[1].lower()), {})[int(pm.group(1))] = (
        jparts[0], "omitempty" in jparts[1:], desc.startswith("ptr:"), desc.endswith("#25") and not desc.startswith(("slice:", "map:")))

# ---------------------------------------------------------------- k8s-openapi

openapi = {}  # (modtuple, lower type) -> {snake: (json, optional)}
for f in glob.glob(os.path.join(OA, "**", "*.rs"), recursive=True):
    if f.endswith("mod.rs"):
        continue
    mod = tuple(os.path.relpath(os.path.dirname(f), OA).split(os.sep))
    text = open(f).read()
    sm = re.search(r"pub struct (\w+) \{(.*?)\n\}", text, re.S)
    if not sm:
        continue
    opt = {}
    for fm in re.finditer(r"^\s*pub (\w+): (.*),$", sm.group(2), re.M):
        opt[fm.group(1)] = fm.group(2).startswith("Option<")
    names = dict((s, j) for j, s in re.findall(r'"([^"]+)" => Field::Key_(\w+),', text))
    # Keyed without underscores: prost writes open_apiv3_schema, k8s-openapi open_api_v3_schema.
    openapi[(mod, sm.group(1).lower())] = {s.replace("_", ""): (names.get(s), o) for s, o in opt.items()}


def camel(snake):
    p = snake.split("_")
    return p[0] + "".join(x[:1].upper() + x[1:] for x in p[1:])


# ---------------------------------------------------------------- kinds

META = ("apimachinery", "pkg", "apis", "meta", "v1")
SPECIAL = {
    (META, "Time"): "Time",
    (META, "MicroTime"): "MicroTime",
    (META, "Duration"): "Duration",
    (META, "FieldsV1"): "FieldsV1",
    (META, "Verbs"): "StrList",
    (("apimachinery", "pkg", "api", "resource"), "Quantity"): "Quantity",
    (("apimachinery", "pkg", "util", "intstr"), "IntOrString"): "IntOrString",
    (("apimachinery", "pkg", "runtime"), "RawExtension"): "RawExtension",
}
APIEXT = ("apiextensions_apiserver", "pkg", "apis", "apiextensions", "v1")
SPECIAL[(APIEXT, "Json")] = "RawExtension"
SCHEMA_WRAPPERS = {
    "JsonSchemaPropsOrArray": "SchemaOrArray",
    "JsonSchemaPropsOrBool": "SchemaOrBool",
    "JsonSchemaPropsOrStringArray": "SchemaOrStrings",
}


def special(target):
    if target in SPECIAL:
        return SPECIAL[target]
    if target[1] == "ExtraValue":
        return "StrList"
    return None


def group_mod(group, version):
    if group == "":
        return ("api", "core", version)
    if group == "apiextensions.k8s.io":
        return APIEXT[:-1] + (version,)
    if group == "apiregistration.k8s.io":
        return ("kube_aggregator", "pkg", "apis", "apiregistration", version)
    return ("api", group.split(".")[0], version)


def find_message(mod, kind):
    for (m, n) in messages:
        if m == mod and n.lower() == kind.lower():
            return (m, n)
    return None


kinds = OrderedDict()  # (apiVersion, kind) -> message key
missing_kinds = []
for f in sorted(glob.glob(os.path.join(SIM, "resources", "discovery", "*.json"))):
    d = json.load(open(f))
    gv = d.get("groupVersion")
    if not gv:
        continue
    g, v = gv.split("/") if "/" in gv else ("", gv)
    for r in d.get("resources", []):
        rg, rv = r.get("group", g), r.get("version", v)
        key = (f"{rg}/{rv}" if rg else rv, r["kind"])
        if key in kinds:
            continue
        msg = find_message(group_mod(rg, rv), r["kind"])
        if msg:
            kinds[key] = msg
        elif key not in missing_kinds:
            missing_kinds.append(key)
# metav1 option/status types are registered into every group version.
WILDCARD = ["DeleteOptions", "ListOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "GetOptions", "Status"]

# ---------------------------------------------------------------- tables

# Facts about types kubectl does not link (apiextensions types_jsonschema.go):
# these are value fields with omitempty, and `ref` is spelled `$ref`.
OVERRIDES = {("JsonSchemaProps", "ref"): ("$ref", "Omit")}
for f in ("exclusive_maximum", "exclusive_minimum", "unique_items", "nullable",
          "x_kubernetes_embedded_resource", "x_kubernetes_int_or_string"):
    OVERRIDES[("JsonSchemaProps", f)] = (None, "Omit")

fallback_names = []  # fields whose JSON name came from k8s-openapi or camelCase
heuristic_ptr = []  # fields whose pointer-ness was guessed
disagree = []
tables = OrderedDict()


def const_name(key):
    mod, name = key
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).upper()
    return "_".join(x.upper() for x in mod if x not in ("pkg", "apis")) + "_" + s


def scalar_kind(kind, rep):
    base = {"string": "Str", "bool": "Bool", "int32": "I32", "int64": "I64", "double": "Double", "float": "Float", "bytes": "Bytes"}[kind[0]]
    return ("Rep" + base) if rep else base


def field_kind(fd):
    k = fd["kind"]
    if k[0] == "map":
        if k[1] == "string":
            return "MapStr"
        if k[1] == "bytes":
            return "MapBytes"
        sp = special(fd["target"])
        if sp == "Quantity":
            return "MapQuantity"
        if sp == "StrList":
            return "MapStrList"
        if sp == "Time":
            return "MapTime"
        if fd["target"] == (APIEXT, "JsonSchemaPropsOrStringArray"):
            return f"MapSchemaOrStrings(&{table((APIEXT, 'JsonSchemaProps'))})"
        if sp:
            raise SystemExit(f"unsupported map value {fd}")
        return f"MapMsg(&{table(fd['target'])})"
    if k[0] == "message":
        t = fd["target"]
        sp = special(t)
        if t[0] == APIEXT and t[1] in SCHEMA_WRAPPERS:
            sp = f"{SCHEMA_WRAPPERS[t[1]]}(&{table((APIEXT, 'JsonSchemaProps'))})"
        if sp:
            if fd["rep"] and sp in ("RawExtension", "Quantity"):
                return "Rep" + sp
            if fd["rep"]:
                raise SystemExit(f"unsupported repeated special {fd}")
            return sp
        return ("RepMsg" if fd["rep"] else "Msg") + f"(&{table(t)})"
    return scalar_kind(k, fd["rep"])


def table(key):
    if key not in messages:
        raise SystemExit(f"unknown message {key}")
    name = const_name(key)
    if key in tables:
        return name
    tables[key] = None  # reserve: recursive types refer to themselves
    gof = go.get((go_pkg(key[0]), key[1].lower()), {})
    oa = openapi.get((key[0], key[1].lower()), {})
    rows = []
    for fd in messages[key]:
        kind = field_kind(fd)
        is_msg = fd["kind"][0] == "message" and not fd["rep"]
        scalar_like = fd["kind"][0] in ("bool", "int32", "int64", "double", "float")
        g = gof.get(fd["num"])
        o = oa.get(fd["snake"].replace("_", ""))
        label = f"{'::'.join(key[0])}::{key[1]}.{fd['snake']}"
        if g:
            jname, omit, ptr, is_struct = g
            if o and o[0] and o[0] != jname:
                disagree.append(f"{label}: go={jname} openapi={o[0]}")
            if ptr:
                mode = "Keep"
            elif is_struct or not omit:
                mode = "Always"
            else:
                mode = "Omit"
        else:
            if o and o[0]:
                jname = o[0]
                fallback_names.append(f"{label} -> {jname} (k8s-openapi)")
            else:
                jname = camel(fd["snake"])
                fallback_names.append(f"{label} -> {jname} (camelCase)")
            optional = o[1] if o else True
            if not optional:
                mode = "Always"
            elif is_msg or (scalar_like and not fd["rep"]):
                # Newer API conventions make optional scalars and structs pointers.
                mode = "Keep"
                heuristic_ptr.append(label)
            else:
                mode = "Omit"
        if jname == "" or (not g and is_msg and fd["snake"].replace("_", "") == fd["target"][1].lower()):
            # Go embeds the struct (`json:",inline"`): its fields merge into the parent.
            kind, mode, jname = f"Inline(&{table(fd['target'])})", "Always", ""
        if (key[1], fd["snake"]) in OVERRIDES:
            j, mode = OVERRIDES[(key[1], fd["snake"])]
            jname = j or jname
        rows.append(f"    {mode.lower()}({fd['num']}, {json.dumps(jname)}, K::{kind}),")
    tables[key] = (name, rows)
    return name


for key, msg in kinds.items():
    table(msg)
for w in WILDCARD:
    table((META, w))

out = []
out.append("""// @generated by sim/src/api/protobuf/gen/generate.py -- do not edit by hand.
// Rerun: python3 sim/src/api/protobuf/gen/generate.py > sim/src/api/protobuf/generated.rs
// Field numbers and nesting come from k8s-pb 0.9.0 (the real generated.proto); JSON names,
// omitempty and pointer-ness from kubectl's Go type data (gen/go_fields.tsv), else k8s-openapi.
// This file is far longer than the usual 600-line limit because it is generated data.
#![allow(clippy::all)]

use super::schema::{always, keep, omit, F, K};
""")
for key, (name, rows) in tables.items():
    out.append(f"// {'::'.join(key[0])}::{key[1]}")
    out.append(f"pub(super) static {name}: [F; {len(rows)}] = [")
    out.extend(rows)
    out.append("];")
out.append("")
out.append("/// The table for an envelope's `apiVersion`/`kind`.")
out.append("pub(super) fn for_kind(api_version: &str, kind: &str) -> Option<&'static [F]> {")
out.append("    Some(match (api_version, kind) {")
for (av, k), msg in kinds.items():
    out.append(f"        ({json.dumps(av)}, {json.dumps(k)}) => &{const_name(msg)},")
for w in WILDCARD:
    out.append(f"        (_, {json.dumps(w)}) => &{const_name((META, w))},")
out.append("        _ => return None,")
out.append("    })")
out.append("}")
out.append("")
out.append("/// Every (apiVersion, kind) with a generated table, for tests.")
out.append("#[cfg(test)]")
out.append("pub(super) const KINDS: &[(&str, &str)] = &[")
for (av, k) in kinds:
    out.append(f"    ({json.dumps(av)}, {json.dumps(k)}),")
out.append("];")
print("\n".join(out))

print(f"tables: {len(tables)}, kinds: {len(kinds)} (+{len(WILDCARD)} meta wildcards)", file=sys.stderr)
print(f"kinds without a k8s-pb message: {missing_kinds}", file=sys.stderr)
print(f"JSON names not from Go tags: {len(fallback_names)}", file=sys.stderr)
for x in fallback_names:
    print("  name " + x, file=sys.stderr)
print(f"pointer-ness guessed (no Go data): {len(heuristic_ptr)}", file=sys.stderr)
for x in disagree:
    print("  disagree " + x, file=sys.stderr)
