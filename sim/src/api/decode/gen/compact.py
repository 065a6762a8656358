"""Compact the Go struct field facts of kube-apiserver's own types into the table the decode
check walks (go_types.tsv): only types reachable from the kinds the embedded server serves.

Rerun:
  python3 ../../protobuf/gen/extract_go_fields.py ~/.cache/cleanroom/tools/bin/kube-apiserver > /tmp/kas.tsv
  python3 compact.py /tmp/kas.tsv ../../../../resources/discovery > go_types.tsv
Columns: struct (package path + "." + Go type), JSON name ("" = inline), field type (as the
extractor writes it), casttype of the protobuf tag (the Go name of a named map/slice type).
"""
import collections, json, os, re, sys

src, disc = sys.argv[1], sys.argv[2]
fields = collections.defaultdict(list)
for line in open(src):
    pkg, typ, _gofield, ftype, tag = (line.rstrip('\n').split('\t') + [''])[:5]
    m = re.search(r'json:"([^"]*)"', tag)
    if not m:
        continue  # untagged fields belong to types with their own UnmarshalJSON
    name = m.group(1).split(',')[0]
    if name == '-':
        continue
    c = re.search(r'casttype=([A-Za-z0-9_.]+)', tag)
    fields[pkg + '.' + typ].append((name, ftype, c.group(1) if c else ''))

# Structs the extractor misses (their long tags defeat its scan), from k8s.io/api 1.35.
CORE, RES = 'k8s.io/api/core/v1.v1.', 'k8s.io/apimachinery/pkg/api/resource.resource.'
AFFINITY_TERMS = lambda req, pref: [
    ('requiredDuringSchedulingIgnoredDuringExecution', req, ''),
    ('preferredDuringSchedulingIgnoredDuringExecution', pref, ''),
]
MISSED = {
    CORE + 'NodeAffinity': AFFINITY_TERMS('ptr:' + CORE + 'NodeSelector#25', 'slice:' + CORE + 'PreferredSchedulingTerm#25'),
    CORE + 'PodAffinity': AFFINITY_TERMS('slice:' + CORE + 'PodAffinityTerm#25', 'slice:' + CORE + 'WeightedPodAffinityTerm#25'),
    CORE + 'PodAntiAffinity': AFFINITY_TERMS('slice:' + CORE + 'PodAffinityTerm#25', 'slice:' + CORE + 'WeightedPodAffinityTerm#25'),
    CORE + 'ContainerRestartRuleOnExitCodes': [
        ('operator', CORE + 'ContainerRestartRuleOnExitCodesOperator#24', ''),
        ('values', 'slice:int32#5', ''),
    ],
    'k8s.io/api/node/v1.v1.Overhead': [('podFixed', 'map:' + CORE + 'ResourceName#24:' + RES + 'Quantity#25', 'ResourceList')],
}
for t, fs in MISSED.items():
    fields.setdefault(t, fs)

def package(group, version):
    if group == '':
        return 'k8s.io/api/core/' + version
    if group == 'apiextensions.k8s.io':
        return 'k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/' + version
    if group == 'apiregistration.k8s.io':
        return 'k8s.io/kube-aggregator/pkg/apis/apiregistration/' + version
    if group == 'internal.apiserver.k8s.io':
        return 'k8s.io/api/apiserverinternal/' + version
    return 'k8s.io/api/' + group.split('.')[0] + '/' + version

roots = set()
for f in sorted(os.listdir(disc)):
    doc = json.load(open(os.path.join(disc, f)))
    gv = doc.get('groupVersion')
    if not gv:
        continue
    group, _, version = gv.rpartition('/')
    for r in doc['resources']:
        g, v = r.get('group', group), r.get('version', version)
        roots.add(package(g, v) + '.' + v + '.' + r['kind'])

def refs(ftype):
    return re.findall(r'([A-Za-z0-9_./-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_]+)#25', ftype)

seen, todo = set(), [r for r in roots if r in fields]
while todo:
    t = todo.pop()
    if t in seen:
        continue
    seen.add(t)
    for _, ftype, _ in fields[t]:
        todo.extend(r for r in refs(ftype) if r in fields and r not in seen)

for t in sorted(seen):
    for name, ftype, cast in sorted(fields[t]):
        print(f'{t}\t{name}\t{ftype}\t{cast}')
