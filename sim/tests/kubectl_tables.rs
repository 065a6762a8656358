//! kubectl's columns for kinds with printers of their own (pkg/printers/internalversion).

mod common;

use common::Harness;

fn header_and_row(out: &str) -> (String, Vec<String>) {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
    let row = lines.next().unwrap_or("").split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect();
    (header, row)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslice_cronjob_pdb_podtemplate_columns() {
    let h = Harness::start().await;
    let (header, row) = header_and_row(&h.ok(&["get", "endpointslices", "kubernetes"]).await);
    assert_eq!(header, "NAME ADDRESSTYPE PORTS ENDPOINTS AGE");
    assert_eq!(row[..4], ["kubernetes", "IPv4", "6443", "172.18.0.2"]);

    h.ok(&["create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *"]).await;
    let (header, row) = header_and_row(&h.ok(&["get", "cronjob", "cj"]).await);
    assert_eq!(header, "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE");
    assert_eq!(row[..6], ["cj", "*/5 * * * *", "<none>", "False", "0", "<none>"]);
    let wide = h.ok(&["get", "cronjob", "cj", "-o", "wide"]).await;
    assert!(wide.lines().next().unwrap().ends_with("CONTAINERS   IMAGES    SELECTOR"), "{wide}");
    assert!(wide.lines().nth(1).unwrap().trim_end().ends_with("cj           busybox   <none>"), "{wide}");

    h.ok(&["create", "pdb", "p", "--selector=app=x", "--min-available=1"]).await;
    let (header, row) = header_and_row(&h.ok(&["get", "pdb", "p"]).await);
    assert_eq!(header, "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE");
    assert_eq!(row[..4], ["p", "1", "N/A", "0"]);

    let tpl = "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: t}\ntemplate:\n  metadata: {labels: {app: t}}\n  spec:\n    containers: [{name: c, image: nginx}]\n";
    let r = h.kubectl_stdin(&["apply", "-f", "-"], Some(tpl.into())).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (header, row) = header_and_row(&h.ok(&["get", "podtemplate", "t"]).await);
    assert_eq!(header, "NAME CONTAINERS IMAGES POD LABELS");
    assert_eq!(row, ["t", "c", "nginx", "app=t"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serviceaccount_priorityclass_ingress_hpa_columns() {
    let h = Harness::start().await;
    h.ok(&["create", "serviceaccount", "robot"]).await;
    let (header, row) = header_and_row(&h.ok(&["get", "serviceaccount", "robot"]).await);
    assert_eq!(header, "NAME AGE");
    assert_eq!(row[0], "robot");

    h.ok(&["create", "priorityclass", "high", "--value=1000", "--preemption-policy=Never"]).await;
    let wide = h.ok(&["get", "priorityclass", "high", "-o", "wide"]).await;
    let (header, row) = header_and_row(&wide);
    assert_eq!(header, "NAME VALUE GLOBAL-DEFAULT AGE PREEMPTIONPOLICY");
    assert_eq!([&row[..3], &row[4..]].concat(), ["high", "1000", "false", "Never"]);

    h.ok(&["create", "ingress", "web", "--rule=a.example.com/=svc:80,tls=cert", "--class=nginx"]).await;
    let (header, row) = header_and_row(&h.ok(&["get", "ingress", "web"]).await);
    assert_eq!(header, "NAME CLASS HOSTS ADDRESS PORTS AGE");
    assert_eq!(row[..4], ["web", "nginx", "a.example.com", "80, 443"]);

    h.ok(&["create", "quota", "q", "--hard=pods=5,limits.cpu=2"]).await;
    let (header, row) = header_and_row(&h.ok(&["get", "quota", "q"]).await);
    assert_eq!(header, "NAME REQUEST LIMIT AGE");
    assert_eq!(row[0], "q");
}
