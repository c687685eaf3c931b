//! The RFC 6902 patch between two states of a workflow, in time proportional to what changed.
//!
//! A node's update touches a few top-level keys, and a list kept with the `append` reducer only
//! grows at its end. `json_patch::diff` walks every element of every array and builds a JSON
//! pointer for each: at 400 list entries that was most of the host's per-node work. Here,
//! unchanged keys cost one comparison, an array extended at its end costs its new items, and
//! only the rest goes to `json_patch::diff`. The patch is not always the smallest, but it
//! always turns `left` into `right` (a property test applies it).

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::{Map, Value};

/// The patch that turns `left` into `right`.
pub fn state_patch(left: &Value, right: &Value) -> Patch {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => object_patch(l, r),
        _ => json_patch::diff(left, right),
    }
}

fn object_patch(left: &Map<String, Value>, right: &Map<String, Value>) -> Patch {
    let mut ops = Vec::new();
    for (key, r) in right {
        match (left.get(key), r) {
            (None, _) => ops.push(add(PointerBuf::from_tokens([key.as_str()]), r.clone())),
            (Some(l), _) if l == r => {}
            (Some(Value::Array(l)), Value::Array(r)) if r.starts_with(l) => {
                for (i, item) in r.iter().enumerate().skip(l.len()) {
                    ops.push(add(PointerBuf::from_tokens([key.as_str(), &i.to_string()]), item.clone()));
                }
            }
            (Some(l), _) => {
                let prefix = PointerBuf::from_tokens([key.as_str()]);
                ops.extend(json_patch::diff(l, r).0.into_iter().map(|op| under(&prefix, op)));
            }
        }
    }
    for key in left.keys().filter(|k| !right.contains_key(*k)) {
        ops.push(PatchOperation::Remove(RemoveOperation { path: PointerBuf::from_tokens([key.as_str()]) }));
    }
    Patch(ops)
}

fn add(path: PointerBuf, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path, value })
}

/// `op` with its path (and `from`) moved under `prefix`.
fn under(prefix: &PointerBuf, mut op: PatchOperation) -> PatchOperation {
    let moved = |p: &mut PointerBuf| *p = prefix.concat(p);
    match &mut op {
        PatchOperation::Add(o) => moved(&mut o.path),
        PatchOperation::Remove(o) => moved(&mut o.path),
        PatchOperation::Replace(o) => moved(&mut o.path),
        PatchOperation::Test(o) => moved(&mut o.path),
        PatchOperation::Move(o) => {
            moved(&mut o.path);
            moved(&mut o.from);
        }
        PatchOperation::Copy(o) => {
            moved(&mut o.path);
            moved(&mut o.from);
        }
    }
    op
}

#[cfg(test)]
mod tests {
    use super::state_patch;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[a-c~/]{0,3}".prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-c~/]{0,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// `right` is often `left` with a few keys changed, arrays extended or cut.
    fn pair() -> impl Strategy<Value = (Value, Value)> {
        (prop::collection::btree_map("[a-d~/]{0,2}", value(), 0..5), value(), any::<u8>(), "[a-d~/]{0,2}")
            .prop_map(|(left, new, how, key)| {
                let left: serde_json::Map<String, Value> = left.into_iter().collect();
                let mut right = left.clone();
                match (how % 4, right.get_mut(&key)) {
                    (0, Some(Value::Array(items))) => items.push(new),
                    (1, Some(Value::Array(items))) => {
                        items.pop();
                    }
                    (2, _) => {
                        right.remove(&key);
                    }
                    _ => {
                        right.insert(key, new);
                    }
                }
                (Value::Object(left), Value::Object(right))
            })
    }

    fn check(left: &Value, right: &Value) {
        let patch = state_patch(left, right);
        let mut got = left.clone();
        json_patch::patch(&mut got, &patch).expect("the patch applies");
        assert_eq!(&got, right, "patch {patch:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn the_patch_turns_left_into_right((left, right) in pair()) {
            check(&left, &right);
        }

        #[test]
        fn any_two_values_too(left in value(), right in value()) {
            check(&left, &right);
        }
    }

    #[test]
    fn an_appended_list_costs_its_new_items() {
        let items: Vec<Value> = (0..400).map(|i| json!(format!("n{i} was here"))).collect();
        let left = json!({ "counter": 400, "log": items, "a/b~": [1] });
        let mut right = left.clone();
        right["counter"] = json!(401);
        right["log"].as_array_mut().expect("array").push(json!("n400 was here"));
        right["a/b~"] = json!([1, 2]);
        let patch = serde_json::to_value(state_patch(&left, &right)).expect("serializes");
        assert_eq!(
            patch,
            json!([
                { "op": "add", "path": "/a~1b~0/1", "value": 2 },
                { "op": "replace", "path": "/counter", "value": 401 },
                { "op": "add", "path": "/log/400", "value": "n400 was here" },
            ])
        );
        check(&left, &right);
    }
}
