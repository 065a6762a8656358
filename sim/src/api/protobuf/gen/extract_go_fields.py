"""Extract Go struct field facts (JSON tag, protobuf tag, pointer-ness) for the
k8s API types from a Go-built kubectl binary's reflection metadata.

Why: generated.proto marks every field `optional`, so only the Go types tell
whether a field is a pointer (kept when zero) or a value with omitempty.

Rerun: python3 extract_go_fields.py /path/to/kubectl > go_fields.tsv
Assumes a Go 1.2x linux/amd64 ELF (abi.Type layout of Go 1.21+).
Columns: go package, type, Go field, field type (ptr:/slice:/map: prefixes,
`#<reflect.Kind>` suffix), struct tag.
"""
import struct, re, sys, collections
K=sys.argv[1] if len(sys.argv)>1 else '/usr/lib/google-cloud-sdk/bin/kubectl'
b=open(K,'rb').read()
shoff,=struct.unpack_from('<Q',b,0x28); shentsize,shnum,shstrndx=struct.unpack_from('<HHH',b,0x3A)
secs={}
raw=[struct.unpack_from('<IIQQQQ',b,shoff+i*shentsize) for i in range(shnum)]
so=raw[shstrndx][4]
for name,typ,flags,addr,off,size in raw:
    n=b[so+name:b.index(b'\0',so+name)].decode(); secs[n]=(addr,off,size)
ro_addr,ro_off,ro_size=secs['.rodata']
def v2o(a):
    for n,(addr,off,size) in secs.items():
        if n in('.bss','.noptrbss'): continue
        if addr and addr<=a<addr+size: return off+a-addr
    return None
def u64(a): return struct.unpack_from('<Q',b,v2o(a))[0]
def varint(o):
    v=0;s=0
    while True:
        c=b[o];o+=1;v|=(c&0x7f)<<s;s+=7
        if c<128: return v,o
def readname(a):
    o=v2o(a)
    if o is None: return None,None
    flags=b[o]; l,p=varint(o+1); name=b[p:p+l].decode('latin1'); p+=l; tag=''
    if flags&2:
        tl,p=varint(p); tag=b[p:p+tl].decode('latin1')
    return name,tag
TYPES=ro_addr
def nameoff(off): return readname(TYPES+off)
def typename(t):
    o=v2o(t); tflag=b[o+20]; strf,=struct.unpack_from('<i',b,o+40)
    n,_=nameoff(strf)
    if n and tflag&2: n=n[1:]
    return n
def kind(t): return b[v2o(t)+23]&0x1f
def pkgpath(t):
    o=v2o(t); tflag=b[o+20]
    if not tflag&1: return ''
    k=kind(t)
    extra={25:80,22:56,23:56,21:88}.get(k,48)  # size of the kind-specific header
    pp,=struct.unpack_from('<i',b,o+extra)
    return nameoff(pp)[0]
# 1. candidate field names carrying a json/protobuf struct tag
names={}
# scan for json tags: find each 'json:"' and walk back
for m in re.finditer(rb'(?:json|protobuf):"',b[ro_off:ro_off+ro_size]):
    p=ro_off+m.start()
    for vl in (1,2):
        q=p-vl
        try: tl,e=varint(q)
        except IndexError: continue
        if e!=p: continue
        # name ends at q; walk back identifier chars
        s=q
        while s>0 and (chr(b[s-1]).isalnum() or b[s-1]==95) and q-s<120: s-=1
        # try positions where b[x]=len and b[x-1]=flags
        for st in range(s,q):
            if b[st-1]==q-st and b[st-2]&2 and chr(b[st]).isupper():
                names[st-2-ro_off+ro_addr]=1
                break
        break
print('names',len(names),file=sys.stderr)
# 2. struct fields referencing those names; scan 8-aligned words
fieldhits=collections.defaultdict(list)
arr=memoryview(b)[ro_off:ro_off+ro_size - ro_size%8].cast('Q')
for i,w in enumerate(arr):
    if w in names: fieldhits[w].append(ro_addr+i*8)
print('fieldrefs',sum(map(len,fieldhits.values())),file=sys.stderr)
fieldaddrs=set(a for l in fieldhits.values() for a in l)
# 3. find arrays: the start is a field whose preceding record isn't a field; find StructType pointing to it
starts=set()
for a in fieldaddrs:
    x=a
    while x-24 in fieldaddrs: x-=24
    starts.add(x)
structs={}
for i,w in enumerate(arr):
    if w in starts and i+2<len(arr) and arr[i+1]==arr[i+2] and arr[i+1]>0:
        S=ro_addr+i*8-56
        if kind(S)!=25: continue
        structs[S]=(w,arr[i+1])
print('structs',len(structs),file=sys.stderr)
def desc(t,depth=0):
    k=kind(t)
    if k==22: return 'ptr:'+desc(u64(t+48),depth+1)
    if k==23: return 'slice:'+desc(u64(t+48),depth+1)
    if k==21: return 'map:'+desc(u64(t+48),depth+1)+':'+desc(u64(t+56),depth+1)
    n=typename(t); pp=pkgpath(t)
    return (pp+'.' if pp else '')+ (n or '?') + '#%d'%k
out=[]
KEEP=('k8s.io/api/','k8s.io/apimachinery/','k8s.io/apiextensions-apiserver/','k8s.io/kube-aggregator/')
for S,(F,n) in sorted(structs.items()):
    tn=typename(S); pp=pkgpath(S)
    if not pp.startswith(KEEP): continue
    for j in range(n):
        na,ty,_=struct.unpack_from('<QQQ',b,v2o(F+24*j))
        fname,tag=readname(na)
        out.append('\t'.join([pp,tn or '?',fname,desc(ty),tag]))
print('\n'.join(sorted(set(out))))
