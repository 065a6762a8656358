"""Capture the enum-typed properties of kube-apiserver's OpenAPI v3 documents (openapi-enums.json):
k8s-openapi's schemas carry neither the `enum` arrays nor the "Possible enum values" part of
their descriptions, which `kubectl explain` prints.

Rerun against a kube-apiserver 1.35 (e.g. through `kubectl proxy --port=8001`):
  python3 capture_openapi_enums.py http://localhost:8001 > openapi-enums.json
Output: {definition: {property: {"description": ..., "enum": [...]} | {"description": ..., "itemsEnum": [...]}}}.
"""
import json, sys, urllib.request

base = sys.argv[1].rstrip('/')
get = lambda p: json.load(urllib.request.urlopen(base + p))
defs = {}
for path in sorted(get('/openapi/v3')['paths']):
    defs.update(get('/openapi/v3/' + path).get('components', {}).get('schemas', {}))
out = {}
for name in sorted(defs):
    for prop, schema in sorted(defs[name].get('properties', {}).items()):
        if 'enum' in schema:
            entry = {'enum': schema['enum']}
        elif 'enum' in schema.get('items', {}):
            entry = {'itemsEnum': schema['items']['enum']}
        else:
            continue
        entry['description'] = schema.get('description', '')
        out.setdefault(name, {})[prop] = entry
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
