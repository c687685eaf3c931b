//! Tests of `manifest`.

use super::*;

const OK: &str =
    "name = \"w\"\n[state]\nn = 1\n[[nodes]]\nid = \"a\"\ncomponent = \"a.wasm\"\nconfig = { k = [1, 2] }\n";

#[test]
fn parses_a_valid_manifest() {
    let m = Manifest::parse("w.toml", OK).unwrap();
    assert_eq!(m.name, "w");
    assert_eq!(m.state["n"], 1);
    assert_eq!(m.nodes[0].config, serde_json::json!({ "k": [1, 2] }));
    assert_eq!(m.nodes[0].component_at, Position { line: 6, column: 13 });
}

#[test]
fn unknown_field_names_line_and_field() {
    let e = Manifest::parse("w.toml", &format!("{OK}colour = 3\n")).unwrap_err();
    assert_eq!(e.at.line, 8);
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    assert!(e.to_string().starts_with("w.toml:8:"), "{e}");
}

#[test]
fn duplicate_ids_are_rejected_at_the_second() {
    let text = format!("{OK}[[nodes]]\nid = \"a\"\ncomponent = \"b.wasm\"\n");
    let e = Manifest::parse("w.toml", &text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("nodes[1].id"));
    assert_eq!(e.at.line, 9);
    assert!(e.message.contains("duplicate node id `a`"));
}

#[test]
fn syntax_errors_and_bad_values_are_located() {
    let e = Manifest::parse("w.toml", "name = \"w\"\n[[nodes]\n").unwrap_err();
    assert_eq!(e.at.line, 2);
    let e = Manifest::parse("w.toml", "name = \"w\"\n").unwrap_err();
    assert_eq!(e.field.as_deref(), Some("nodes"));
    let e =
        Manifest::parse("w.toml", "name = \"w\"\n[[nodes]]\nid = \"a b\"\ncomponent = \"x\"\n").unwrap_err();
    assert_eq!((e.at.line, e.field.as_deref()), (3, Some("nodes[0].id")));
    let e = Manifest::parse("w.toml", "name = \"w\"\n[[nodes]]\nid = \"a\"\n").unwrap_err();
    assert!(e.message.contains("missing field `component`"), "{e}");
    let e = Manifest::parse("w.toml", "name = 5\n[[nodes]]\nid = \"a\"\ncomponent = \"x\"\n").unwrap_err();
    assert_eq!(e.at.line, 1);
}

const GRAPH: &str =
    "name = \"g\"\n[[nodes]]\nid = \"a\"\ncomponent = \"x\"\n[[nodes]]\nid = \"b\"\ncomponent = \"x\"\n";

#[test]
fn graph_errors_name_line_and_field() {
    let e = Manifest::parse("g.toml", &format!("{GRAPH}[[edges]]\nfrom = \"a\"\nto = \"c\"\n")).unwrap_err();
    assert_eq!((e.at.line, e.field.as_deref()), (10, Some("edges[0].to")));
    assert!(e.message.contains("no node has id `c`"), "{e}");
    let e =
        Manifest::parse("g.toml", &format!("{GRAPH}[[edges]]\nfrom = \"b\"\nto = \"a\"\nlabel = \"x\"\n"))
            .unwrap_err();
    assert_eq!((e.at.line, e.field.as_deref()), (6, Some("nodes[1]")));
    assert!(e.message.contains("`b` is unreachable from the entry node `a`"), "{e}");
    let e = Manifest::parse("g.toml", &format!("entry = \"zz\"\n{GRAPH}")).unwrap_err();
    assert_eq!((e.at.line, e.field.as_deref()), (1, Some("entry")));
    let e = Manifest::parse("g.toml", &format!("[reducers]\nlog = \"concat\"\n{GRAPH}")).unwrap_err();
    assert_eq!(e.at.line, 2);
    assert!(e.message.contains("unknown variant `concat`"), "{e}");
    let e = Manifest::parse(
        "g.toml",
        &GRAPH.replace(
            "component = \"x\"\n[[nodes]]",
            "component = \"x\"\nretry = { max_attempts = 0 }\n[[nodes]]",
        ),
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("nodes[0].retry"));
    let e = Manifest::parse("g.toml", &format!("max_steps = 0\n{GRAPH}")).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("max_steps"));
}

#[test]
fn a_join_that_can_never_fire_is_refused() {
    let text = "name = \"j\"\n[[nodes]]\nid = \"r\"\ncomponent = \"x\"\n[[nodes]]\nid = \"a\"\ncomponent = \"x\"\n[[nodes]]\nid = \"b\"\ncomponent = \"x\"\n[[nodes]]\nid = \"j\"\ncomponent = \"x\"\njoin = true\n\
        [[edges]]\nfrom = \"r\"\nto = \"a\"\nlabel = \"x\"\n[[edges]]\nfrom = \"r\"\nto = \"b\"\nlabel = \"y\"\n[[edges]]\nfrom = \"a\"\nto = \"j\"\n[[edges]]\nfrom = \"b\"\nto = \"j\"\n";
    let e = Manifest::parse("j.toml", text).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("edges[3]"));
    assert!(
        e.to_string().contains(
            "join `j` can never fire: its inputs from `a` and `b` follow routes `x` and `y` of `r`"
        ),
        "{e}"
    );
    let ok = text.replace("label = \"x\"\n", "").replace("label = \"y\"\n", "");
    let m = Manifest::parse("j.toml", &ok).unwrap();
    assert!(m.graph.is_join(3) && m.graph.route(0, None).unwrap().len() == 2);
}

#[test]
fn without_edges_nodes_run_in_order() {
    let m = Manifest::parse("g.toml", GRAPH).unwrap();
    assert_eq!(m.graph.route(0, None).unwrap(), vec![0]);
    assert_eq!(m.graph.edge(0).to, 1);
    assert_eq!(m.max_steps, DEFAULT_MAX_STEPS);
}
