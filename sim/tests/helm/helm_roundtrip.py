"""Drive a real Helm v4 engine (helm-sdkpy) against the embedded cluster.

Usage: helm_roundtrip.py KUBECONFIG CHART_DIR NAMESPACE
Prints one JSON line per step; exits non-zero on the first failure.
"""
import asyncio
import json
import sys

import helm_sdkpy as helm


async def main(kubeconfig: str, chart: str, ns: str) -> None:
    cfg = helm.Configuration(namespace=ns, kubeconfig=kubeconfig)

    def out(step, **kw):
        print(json.dumps({"step": step, **kw}), flush=True)

    r = await helm.Install(cfg).run("demo", chart, values={"greeting": "hi"}, wait=False, timeout=60, create_namespace=True, disable_openapi_validation=True)
    out("install", status=r.get("info", {}).get("status") if isinstance(r, dict) else str(r))
    r = await helm.Upgrade(cfg).run("demo", chart, values={"greeting": "upgraded", "replicas": 3}, wait=False, timeout=60, disable_openapi_validation=True)
    out("upgrade", status=r.get("info", {}).get("status") if isinstance(r, dict) else str(r))
    r = await helm.List(cfg).run(all=True)
    out("list", releases=[(x.get("name"), x.get("version"), x.get("info", {}).get("status")) for x in r] if isinstance(r, list) else str(r))
    r = await helm.Uninstall(cfg).run("demo", wait=False, timeout=60)
    out("uninstall", result=str(r)[:200])


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
