"""Run one action of a real Helm v4 engine (PyPI helm-sdkpy) against a cluster.

Usage: helm_step.py ACTION KUBECONFIG NAMESPACE RELEASE [CHART] [VALUES_JSON]
ACTION is install | upgrade | list | uninstall. Prints one JSON object; exit 1 on failure
with the Helm error on stderr.
"""
import asyncio
import json
import sys

import helm_sdkpy as helm


async def main() -> int:
    action, kubeconfig, ns, release = sys.argv[1:5]
    chart = sys.argv[5] if len(sys.argv) > 5 else ""
    values = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
    cfg = helm.Configuration(namespace=ns, kubeconfig=kubeconfig)
    try:
        if action == "install":
            r = await helm.Install(cfg).run(release, chart, values=values, wait=False, timeout=60,
                                            create_namespace=True, disable_openapi_validation=True)
        elif action == "upgrade":
            r = await helm.Upgrade(cfg).run(release, chart, values=values, wait=False, timeout=60,
                                            disable_openapi_validation=True)
        elif action == "list":
            r = await helm.List(cfg).run(all=True)
        elif action == "uninstall":
            r = await helm.Uninstall(cfg).run(release, wait=False, timeout=60)
        else:
            print(f"unknown action {action}", file=sys.stderr)
            return 2
    except helm.HelmError as e:  # the engine's own error text, as `helm` would print it
        print(str(e), file=sys.stderr)
        return 1
    if isinstance(r, dict):
        r = {k: v for k, v in r.items() if k in ("name", "namespace", "version", "info")}
    elif isinstance(r, list):
        r = [{k: v for k, v in x.items() if k in ("name", "namespace", "version", "info")} for x in r]
    print(json.dumps(r, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
