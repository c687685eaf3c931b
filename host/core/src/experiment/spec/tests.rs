//! Tests of `spec`.

use super::*;

const OK: &str = "name = \"ab\"\nworkflow = \"wf.toml\"\nrepetitions = 3\n\n[[variants]]\nname = \"v1\"\n\n[[variants]]\nname = \"v2\"\nnodes.parse = { component = \"v2.wasm\", config = { strict = true } }\n\n[[environments]]\nname = \"utc\"\nenv = { TZ = \"UTC\" }\nseed = 7\nclock = \"2024-01-01T00:00:00Z\"\nlimits = { memory_mib = 64 }\n\n[[environments]]\nname = \"tokyo\"\nenv = { TZ = \"Asia/Tokyo\" }\n";

#[test]
fn parses_the_cross_product() {
    let s = ExperimentSpec::parse("e.toml", OK).unwrap();
    assert_eq!(s.cells().len(), 2 * 2 * 3);
    assert_eq!(s.variants[1].nodes["parse"].component.as_deref(), Some("v2.wasm"));
    assert_eq!(s.environments[0].clock, Some(1_704_067_200));
    assert_eq!(s.baseline, ("v1".into(), "utc".into()));
}

#[test]
fn shorthand_names_variants_by_component() {
    let s = ExperimentSpec::parse(
        "e.toml",
        "name = \"x\"\nworkflow = \"w.toml\"\n[alternatives]\nparser = [\"p/v1.wasm\", \"p/v2.wasm\"]\n",
    )
    .unwrap();
    assert_eq!(s.variants.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["v1", "v2"]);
    assert_eq!(s.environments[0].name, "default");
}

#[test]
fn bad_input_is_located() {
    let bad = |text: &str| ExperimentSpec::parse("e.toml", text).unwrap_err();
    let e = bad("name = \"x\"\nworkflow = \"w\"\nvariants = []\n");
    assert!(e.message.contains("an empty matrix") && e.at.line == 3, "{e}");
    let e = bad("name = \"x\"\nworkflow = \"w\"\n[[variants]]\nname = \"a\"\n[[variants]]\nname = \"a\"\n");
    assert!(e.message.contains("two variants are named `a`") && e.at.line == 6, "{e}");
    let e =
        bad("name = \"x\"\nworkflow = \"w\"\n[[variants]]\nname = \"a\"\n[alternatives]\np = [\"x.wasm\"]\n");
    assert!(e.message.contains("conflicts with [[variants]]"), "{e}");
    let e = bad("name = \"x\"\nworkflow = \"w\"\n[[environments]]\nname = \"e\"\nclock = \"yesterday\"\n");
    assert_eq!(e.field.as_deref(), Some("environments[0].clock"));
    let e =
        bad("name = \"x\"\nworkflow = \"w\"\n[[environments]]\nname = \"e\"\nlimits = { memory_mib = 0 }\n");
    assert!(e.message.contains("`memory_mib` = 0"), "{e}");
    let e = bad("name = \"x\"\nworkflow = \"w\"\nfrom = \"nope\"\n");
    assert!(e.message.contains("not a checkpoint id"), "{e}");
    let e = bad("name = \"x\"\nworkflow = \"w\"\ncolour = 1\n");
    assert!(e.message.contains("unknown field `colour`"), "{e}");
}
