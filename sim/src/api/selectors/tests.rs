use super::*;
use serde_json::json;

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn parses_all_operators() {
    let l = labels(json!({"app": "web", "tier": "fe", "n": "5"}));
    let ok = |s: &str| LabelSelector::parse(s).unwrap().matches(Some(&l));
    assert!(ok("app=web"));
    assert!(ok("app==web"));
    assert!(!ok("app!=web"));
    assert!(ok("app in (web, db)"));
    assert!(!ok("app notin (web)"));
    assert!(ok("tier"));
    assert!(!ok("!tier"));
    assert!(ok("!missing"));
    assert!(ok(" app = web , tier in (fe) "));
    assert!(ok("n>4") && !ok("n<5"));
    assert!(ok("missing notin (x)"));
    assert!(ok(""));
    assert!(LabelSelector::parse("").unwrap().is_empty());
    assert!(!LabelSelector::parse("a").unwrap().matches(None));
    assert!(LabelSelector::parse("!a").unwrap().matches(None));
    // 'in' as a value.
    assert!(LabelSelector::parse("x in (in,notin)").is_ok());
    let s = LabelSelector::parse("x in (b,a,a)").unwrap();
    assert_eq!(s.requirements[0].values, vec!["a", "b"]);
    let s = LabelSelector::parse("x in (,a)").unwrap();
    assert_eq!(s.requirements[0].values, vec!["", "a"]);
    let s = LabelSelector::parse("x=").unwrap();
    assert_eq!(s.requirements[0].values, vec![""]);
}

#[test]
fn parse_errors_match_apimachinery() {
    let e = |s: &str| LabelSelector::parse(s).unwrap_err();
    assert_eq!(e("app:monolith"), "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
    assert_eq!(e("a b"), "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
    assert_eq!(e("a=b c"), "found 'c', expected: ',' or 'end of string'");
    assert_eq!(e("a,"), "found '', expected: identifier after ','");
    assert_eq!(e("=a"), "found '=', expected: !, identifier, or 'end of string'");
    assert_eq!(e("a in b"), "unable to parse requirement: found 'b' expected: '('");
    assert_eq!(e("a in (b"), "unable to parse requirement: found '', expected: ',' or ')'");
    assert_eq!(e("a in ("), "unable to parse requirement: found '', expected: ',', ')' or identifier");
    assert_eq!(e("a=(b"), "unable to parse requirement: found '(', expected: identifier");
    assert_eq!(
        e(&format!("a={}", "z".repeat(64))),
        format!("unable to parse requirement: values[0][a]: Invalid value: \"{}\": must be no more than 63 characters", "z".repeat(64))
    );
    assert_eq!(e("a/b/c ?=? def").split(':').next().unwrap(), "unable to parse requirement");
}

#[test]
fn label_selector_objects() {
    let l = labels(json!({"app": "web", "env": "prod"}));
    let s = from_label_selector_json(&json!({})).unwrap();
    assert!(s.matches(Some(&l)) && s.matches(None));
    let s = from_label_selector_json_opt(None).unwrap();
    assert!(!s.matches(Some(&l)));
    assert!(!from_label_selector_json(&Value::Null).unwrap().matches(None));
    let s = from_label_selector_json(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "stage"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "Exists"},
            {"key": "x", "operator": "NotIn", "values": ["1"]}
        ]
    }))
    .unwrap();
    assert!(s.matches(Some(&l)));
    assert_eq!(
        from_label_selector_json(&json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})).unwrap_err(),
        "\"Foo\" is not a valid label selector operator"
    );
    assert_eq!(
        from_label_selector_json(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]})).unwrap_err(),
        "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
    );
    let m = from_map(&labels(json!({"app": "web"})));
    assert!(m.matches(Some(&l)));
    assert!(from_map(&Map::new()).matches(None));
}

#[test]
fn field_selector_parse_and_match() {
    let pod = json!({"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
    let s = FieldSelector::parse("metadata.name=p,status.phase!=Pending").unwrap();
    assert!(s.matches(&pod));
    assert!(FieldSelector::parse("spec.nodeName==n1").unwrap().matches(&pod));
    assert!(!FieldSelector::parse("spec.nodeName=").unwrap().matches(&pod));
    assert!(FieldSelector::parse("").unwrap().is_empty());
    assert_eq!(FieldSelector::parse("foo").unwrap_err(), "invalid selector: 'foo'; can't understand 'foo'");
    assert_eq!(FieldSelector::parse("a=b\\,c").unwrap().requirements[0].value, "b,c");
    assert_eq!(FieldSelector::parse("a=b\\x").unwrap_err(), "invalid field selector: invalid escape sequence: \\x");
    assert_eq!(FieldSelector::parse("a=b=c").unwrap_err(), "invalid field selector: unescaped character in value: 61");
    assert!(FieldSelector::parse("spec.hostNetwork=false").unwrap().matches_for("", "Pod", &pod));
    let job = json!({"status": {}});
    assert!(FieldSelector::parse("status.successful=0").unwrap().matches_for("batch", "Job", &job));
    assert_eq!(FieldSelector::parse("metadata.name=p").unwrap().requires_exact_match("metadata.name"), Some("p"));
    assert_eq!(escape_value("a,b=c\\"), "a\\,b\\=c\\\\");
}

#[test]
fn field_label_allow_lists() {
    let s = |x: &str| FieldSelector::parse(x).unwrap();
    assert!(validate_field_selector("", "Pod", &s("spec.nodeName=a,status.phase=Running")).is_ok());
    assert_eq!(validate_field_selector("", "Pod", &s("foo=bar")).unwrap_err(), "field label not supported: foo");
    assert_eq!(
        validate_field_selector("", "ConfigMap", &s("foo=bar")).unwrap_err(),
        "\"foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
    assert!(validate_field_selector("", "Secret", &s("type=Opaque")).is_ok());
    assert!(validate_field_selector("", "Node", &s("metadata.namespace=x")).is_err());
    assert_eq!(
        validate_field_selector("batch", "Job", &s("status.succeeded=1")).unwrap_err(),
        "field label \"status.succeeded\" not supported for batchv1.Job"
    );
    assert!(validate_field_selector("", "Event", &s("involvedObject.kind=Pod,reason=x")).is_ok());
    assert!(validate_custom_field_selector(&s("spec.color=red"), false, &["spec.color"]).is_ok());
    assert_eq!(validate_custom_field_selector(&s("metadata.namespace=a"), true, &[]).unwrap_err(), "field label not supported: metadata.namespace");
}
