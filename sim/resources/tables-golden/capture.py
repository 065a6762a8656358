#!/usr/bin/env python3
"""Capture kube-apiserver's server-side Tables for sim/tests/fixtures/tables-1.35.4.json.

usage: capture.py KUBECONFIG [OUT]   (creates objects.yaml there, deletes them at the end)

Creates every document of objects.yaml (its top-level `status` is then merged through the
status subresource, CSRs named csr are approved), waits for the controllers, and records per
object the stored JSON (managedFields dropped) and the Table kube-apiserver prints for it
(a GET of the single object), plus the column definitions of every listable resource.
It also writes column-descriptions.json (Kind.group -> column -> description), which the sim's
printers take their column descriptions from. Cells of times relative to now (the AGES columns,
and cells past the last column) are normalised to "<age>".
"""
import base64, json, os, ssl, subprocess, sys, tempfile, time, urllib.request

import yaml

# Columns holding a time relative to now.
AGES = ("Age", "Created At", "Last Seen", "First Seen")
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
HERE = os.path.dirname(os.path.abspath(__file__))
# Objects the cluster already has, printed from their stored JSON.
EXISTING = [
    "/api/v1/componentstatuses/etcd-0",
    "/apis/apiregistration.k8s.io/v1/apiservices/v1.apps",
    "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/exempt",
    "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/exempt",
    "/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/global-default",
    "/apis/apps/v1/namespaces/kube-system/deployments/coredns",
    "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy",
    "/api/v1/namespaces/default/services/kubernetes",
    "/apis/storage.k8s.io/v1/storageclasses/standard",
]


def client(kc):
    c = yaml.safe_load(open(kc))
    ctx = c["contexts"][0]["context"]
    cl = [x for x in c["clusters"] if x["name"] == ctx["cluster"]][0]["cluster"]
    u = [x for x in c["users"] if x["name"] == ctx["user"]][0]["user"]
    sc = ssl.create_default_context()
    sc.check_hostname = False
    sc.verify_mode = ssl.CERT_NONE
    if "client-certificate-data" in u:
        d = tempfile.mkdtemp()
        open(d + "/c", "wb").write(base64.b64decode(u["client-certificate-data"]))
        open(d + "/k", "wb").write(base64.b64decode(u["client-key-data"]))
        sc.load_cert_chain(d + "/c", d + "/k")
    elif "client-certificate" in u:
        sc.load_cert_chain(u["client-certificate"], u["client-key"])
    hdr = {"Authorization": "Bearer " + u["token"]} if "token" in u else {}
    return cl["server"], sc, hdr


def get(kc, path, accept="application/json"):
    srv, sc, h = client(kc)
    r = urllib.request.Request(srv + path, headers=dict(h, Accept=accept))
    return json.load(urllib.request.urlopen(r, context=sc if srv.startswith("https") else None))


def resources(kc):
    """(list path, kind, namespaced) of every listable resource, preferred versions."""
    out = []
    gvs = ["/api/v1"] + ["/apis/" + g["preferredVersion"]["groupVersion"] for g in get(kc, "/apis")["groups"]]
    for base in gvs:
        try:
            rs = get(kc, base)["resources"]
        except urllib.error.HTTPError:  # an unavailable APIService (objects.yaml has one)
            continue
        for r in rs:
            if "/" not in r["name"] and "list" in r.get("verbs", []):
                out.append((base, r["name"], r["kind"], r["namespaced"]))
    return out


def normalise(defs, cells):
    # IPAddress prints its age past the last column (a cell without a definition).
    ages = [i for i, d in enumerate(defs) if d["name"] in AGES]
    return ["<age>" if i in ages or i >= len(defs) else c for i, c in enumerate(cells)]


def table_of(kc, path):
    t = get(kc, path, TABLE)
    defs = t["columnDefinitions"]
    return defs, normalise(defs, t["rows"][0]["cells"])


def find(by_kind, api_version, kind):
    """The resource of a kind, also in a group version other than the preferred one."""
    if (api_version, kind) in by_kind:
        return by_kind[(api_version, kind)]
    group = api_version.rsplit("/", 1)[0]
    for (av, k), (base, plural, namespaced) in by_kind.items():
        if k == kind and av.rsplit("/", 1)[0] == group:
            return "/apis/" + api_version, plural, namespaced
    raise KeyError((api_version, kind))


def kubectl(kc, *args, stdin=None):
    r = subprocess.run(["kubectl", "--kubeconfig", kc, *args], input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        print("kubectl", *args, "->", r.stderr.strip(), file=sys.stderr)
    return r


def main():
    kc = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "../../tests/fixtures/tables-1.35.4.json")
    docs = [d for d in yaml.safe_load_all(open(os.path.join(HERE, "objects.yaml"))) if d]
    res = resources(kc)
    by_kind = {(b.split("/", 2)[-1] if b != "/api/v1" else "v1", k): (b, n, ns) for b, n, k, ns in res}
    paths = []
    for d in docs:
        status = d.pop("status", None)
        kubectl(kc, "create", "-f", "-", stdin=json.dumps(d))
        base, plural, namespaced = find(by_kind, d["apiVersion"], d["kind"])
        md = d["metadata"]
        path = f"{base}/namespaces/{md['namespace']}/{plural}/{md['name']}" if namespaced else f"{base}/{plural}/{md['name']}"
        paths.append(path)
        args = ["-n", md["namespace"]] if namespaced else []
        if status:
            kubectl(kc, "patch", *args, f"{plural}.{base.split('/')[2]}" if base != "/api/v1" else plural, md["name"],
                    "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))
        if d["kind"] == "CertificateSigningRequest" and md["name"] == "csr":
            kubectl(kc, "certificate", "approve", md["name"])
    time.sleep(10)
    objects = []
    existing = list(EXISTING)
    # The first kube-system pod and node (their names vary per cluster).
    pod = get(kc, "/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns")["items"][0]["metadata"]["name"]
    existing.append(f"/api/v1/namespaces/kube-system/pods/{pod}")
    existing.append("/api/v1/nodes/" + get(kc, "/api/v1/nodes")["items"][0]["metadata"]["name"])
    for path, created in [(p, True) for p in paths] + [(p, False) for p in existing]:
        obj = get(kc, path)
        obj["metadata"].pop("managedFields", None)
        defs, cells = table_of(kc, path)
        objects.append({"path": path, "created": created, "object": obj, "columnDefinitions": defs, "cells": cells})
    columns, descriptions = {}, {}
    for base, plural, kind, _ in res:
        t = get(kc, f"{base}/{plural}?limit=1", TABLE)
        columns[f"{base}/{plural}"] = t["columnDefinitions"]
        group = base.split("/")[2] if base.startswith("/apis/") else ""
        descriptions[f"{kind}.{group}" if group else kind] = {c["name"]: c["description"] for c in t["columnDefinitions"]}
    # The metadata docs of Name and Age columns are the sim's defaults: leave them out.
    common = {c["description"] for c in columns["/api/v1/configmaps"] if c["name"] in ("Name", "Age")}
    descriptions = {k: {n: d for n, d in v.items() if d not in common} for k, v in descriptions.items()}
    version = get(kc, "/version")["gitVersion"]
    with open(out, "w") as f:
        json.dump({"server": version, "columns": columns, "objects": objects}, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(HERE, "column-descriptions.json"), "w") as f:
        json.dump(descriptions, f, indent=0, sort_keys=True)
        f.write("\n")
    # Leave the cluster as it was (the unavailable APIService, the global-default PriorityClass
    # and the webhooks would disturb its other users).
    kubectl(kc, "delete", "-f", "-", "--ignore-not-found", "--wait=false",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}))
    print(f"{len(objects)} objects, {len(columns)} resources -> {out}")


if __name__ == "__main__":
    main()
