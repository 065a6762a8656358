//! Cluster IPs come from kind's service CIDR and are never handed out twice: 10.96.0.1
//! (`default/kubernetes`) and 10.96.0.10 (kube-dns) are held, a taken explicit address gets
//! kube-apiserver's 422, and deleting a Service frees its address.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use common::Harness;

fn in_service_cidr(ip: &str) -> bool {
    let n = u32::from(ip.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::UNSPECIFIED));
    n >> 20 == u32::from(Ipv4Addr::new(10, 96, 0, 0)) >> 20
}

async fn cluster_ip(h: &Harness, ns: &str, name: &str) -> String {
    h.ok(&["get", "svc", name, "-n", ns, "-o", "jsonpath={.spec.clusterIP}"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expose_and_explicit_cluster_ips() {
    let h = Harness::start().await;
    assert_eq!(cluster_ip(&h, "default", "kubernetes").await, "10.96.0.1");
    assert_eq!(cluster_ip(&h, "kube-system", "kube-dns").await, "10.96.0.10");

    h.ok(&["create", "deployment", "web", "--image=nginx:1.27", "--port=80"]).await;
    let out = h.ok(&["expose", "deployment", "web", "--port=80"]).await;
    assert_eq!(out.trim(), "service/web exposed");
    let web = cluster_ip(&h, "default", "web").await;
    let mut seen: HashSet<String> = ["10.96.0.1".to_string(), "10.96.0.10".to_string()].into();
    assert!(in_service_cidr(&web) && seen.insert(web.clone()), "expose got {web}");
    for i in 0..30 {
        h.ok(&["create", "service", "clusterip", &format!("s{i}"), "--tcp=80"]).await;
        let ip = cluster_ip(&h, "default", &format!("s{i}")).await;
        assert!(in_service_cidr(&ip) && seen.insert(ip.clone()), "s{i} got {ip}, already allocated or out of range");
    }
    // Headless Services hold no address.
    h.ok(&["create", "service", "clusterip", "headless", "--clusterip=None"]).await;
    assert_eq!(cluster_ip(&h, "default", "headless").await, "None");

    let r = h.kubectl(&["create", "service", "clusterip", "taken", "--tcp=53", "--clusterip=10.96.0.10"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.trim(), "error: failed to create ClusterIP service: Service \"taken\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated");
    let r = h.kubectl(&["create", "service", "clusterip", "taken", "--tcp=53", &format!("--clusterip={web}")]).await;
    assert!(r.stderr.contains("provided IP is already allocated"), "{}", r.stderr);

    // Deleting frees the address for an explicit request.
    h.ok(&["delete", "svc", "web"]).await;
    h.ok(&["create", "service", "clusterip", "again", "--tcp=80", &format!("--clusterip={web}")]).await;
    assert_eq!(cluster_ip(&h, "default", "again").await, web);
}
