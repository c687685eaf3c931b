//! A node's update, planned before it is applied: checked against the reducers, stored as the
//! patch it makes, then applied without a second check. Pure.
//!
//! Planning reads the state and applying moves values into it, so neither copies the state: a
//! list kept with the `append` reducer costs its new items per node, however long it grows.
//! The patch is the exit checkpoint's stored state, made from the update rather than found by
//! comparing the states before and after.

use super::reduce::{ReduceError, Reducer, Reducers, add, describe, reducer_of};
use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::{Map, Value};

/// An update checked against a state and its reducers: [`Self::apply`] cannot fail.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedUpdate {
    changes: Vec<(String, Change)>,
}

/// What the update does to one key.
#[derive(Clone, Debug, PartialEq)]
enum Change {
    /// The key takes this value.
    Set(Value),
    /// The key's array, `len` long when planned, grows by these items.
    Extend { len: usize, items: Vec<Value> },
    /// The key's object takes these members.
    Merge(Map<String, Value>),
}

/// Checks `update` against `state` and the reducers; `Err` names the first key that does not
/// fit, and nothing is changed.
pub fn plan_update(
    state: &Map<String, Value>,
    update: Map<String, Value>,
    reducers: &Reducers,
) -> Result<PlannedUpdate, ReduceError> {
    let mut changes = Vec::with_capacity(update.len());
    for (key, value) in update {
        let reducer = reducer_of(reducers, &key);
        let mismatch = |got: &Value| ReduceError::Mismatch { key: key.clone(), reducer, got: describe(got) };
        let change = match (reducer, state.get(&key)) {
            (Reducer::Replace, _) | (_, None | Some(Value::Null)) => match (reducer, value) {
                (Reducer::Append, Value::Array(items)) => Change::Set(Value::Array(items)),
                (Reducer::Append, item) => Change::Set(Value::Array(vec![item])),
                (Reducer::Sum, v @ Value::Number(_))
                | (Reducer::Merge, v @ Value::Object(_))
                | (Reducer::Replace, v) => Change::Set(v),
                (_, other) => return Err(mismatch(&other)),
            },
            (Reducer::Append, Some(Value::Array(current))) => {
                let items = match value {
                    Value::Array(more) => more,
                    item => vec![item],
                };
                Change::Extend { len: current.len(), items }
            }
            (Reducer::Sum, Some(Value::Number(a))) => match &value {
                Value::Number(b) => Change::Set(Value::Number(add(a, b))),
                other => return Err(mismatch(other)),
            },
            (Reducer::Merge, Some(Value::Object(_))) => match value {
                Value::Object(b) => Change::Merge(b),
                other => return Err(mismatch(&other)),
            },
            (_, Some(current)) => return Err(mismatch(current)),
        };
        changes.push((key, change));
    }
    Ok(PlannedUpdate { changes })
}

impl PlannedUpdate {
    /// The RFC 6902 patch that turns the planned-on state into the updated one: `add`
    /// operations only (an `add` on an existing member replaces it).
    pub fn patch(&self) -> Patch {
        let mut ops = Vec::new();
        let mut add = |tokens: &[&str], value: &Value| {
            let path = PointerBuf::from_tokens(tokens.iter().copied());
            ops.push(PatchOperation::Add(AddOperation { path, value: value.clone() }));
        };
        for (key, change) in &self.changes {
            match change {
                Change::Set(v) => add(&[key], v),
                Change::Extend { len, items } => {
                    for (i, item) in items.iter().enumerate() {
                        add(&[key, &(len + i).to_string()], item);
                    }
                }
                Change::Merge(members) => {
                    for (sub, v) in members {
                        add(&[key, sub], v);
                    }
                }
            }
        }
        Patch(ops)
    }

    /// Applies the update to the state it was planned on, moving its values in; the answer
    /// puts the state back as it was (a node whose exit cannot be committed stays open).
    pub fn apply(self, state: &mut Map<String, Value>) -> Undo {
        let mut steps = Vec::with_capacity(self.changes.len());
        for (key, change) in self.changes {
            let step = match (change, state.get_mut(&key)) {
                (Change::Extend { items, .. }, Some(Value::Array(current))) => {
                    let len = current.len();
                    current.extend(items);
                    Step::Truncate(len)
                }
                (Change::Merge(members), Some(Value::Object(current))) => Step::Members(
                    members.into_iter().map(|(sub, v)| (current.insert(sub.clone(), v), sub)).collect(),
                ),
                // Planned on another state, the update's values stand alone (as on an empty one).
                (Change::Set(v), _) => Step::Restore(state.insert(key.clone(), v)),
                (Change::Extend { items, .. }, _) => {
                    Step::Restore(state.insert(key.clone(), Value::Array(items)))
                }
                (Change::Merge(members), _) => {
                    Step::Restore(state.insert(key.clone(), Value::Object(members)))
                }
            };
            steps.push((key, step));
        }
        Undo { steps }
    }
}

/// What reverts an applied update, in the size of the update.
#[derive(Debug)]
#[must_use = "dropping it keeps the update"]
pub struct Undo {
    steps: Vec<(String, Step)>,
}

#[derive(Debug)]
enum Step {
    /// The key's value before (`None`: absent).
    Restore(Option<Value>),
    /// The key's array's length before.
    Truncate(usize),
    /// The object members' values before, by name.
    Members(Vec<(Option<Value>, String)>),
}

impl Undo {
    /// Puts `state` back as it was before the update.
    pub fn revert(self, state: &mut Map<String, Value>) {
        for (key, step) in self.steps.into_iter().rev() {
            match (step, state.get_mut(&key)) {
                (Step::Truncate(len), Some(Value::Array(items))) => items.truncate(len),
                (Step::Members(members), Some(Value::Object(current))) => {
                    for (was, sub) in members.into_iter().rev() {
                        match was {
                            Some(v) => current.insert(sub, v),
                            None => current.remove(&sub),
                        };
                    }
                }
                (Step::Restore(Some(v)), _) => {
                    state.insert(key, v);
                }
                (Step::Restore(None), _) => {
                    state.remove(&key);
                }
                // The state was changed after the update: nothing of it to revert.
                (Step::Truncate(_) | Step::Members(_), _) => {}
            }
        }
    }
}

/// Applies one node's update to `state` through the reducers; on `Err`, `state` is unchanged.
pub fn apply_update(
    state: &mut Map<String, Value>,
    update: Map<String, Value>,
    reducers: &Reducers,
) -> Result<(), ReduceError> {
    let _kept = plan_update(state, update, reducers)?.apply(state);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::reduce::tests::{obj, reducers};
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn updates_go_through_each_keys_reducer() {
        let mut s = obj(json!({ "log": ["a"], "n": 1, "meta": { "x": 1 }, "v": 1 }));
        apply_update(
            &mut s,
            obj(json!({ "log": ["b", "c"], "n": 2.5, "meta": { "y": 2 }, "v": 2 })),
            &reducers(),
        )
        .unwrap();
        apply_update(&mut s, obj(json!({ "log": "d", "n": -1 })), &reducers()).unwrap();
        assert_eq!(
            Value::Object(s),
            json!({ "log": ["a", "b", "c", "d"], "n": 2.5, "meta": { "x": 1, "y": 2 }, "v": 2 })
        );
        let mut fresh = Map::new();
        apply_update(&mut fresh, obj(json!({ "log": 1, "n": 3, "meta": {} })), &reducers()).unwrap();
        assert_eq!(Value::Object(fresh), json!({ "log": [1], "n": 3, "meta": {} }));
    }

    #[test]
    fn mismatched_values_are_named_and_change_nothing() {
        let mut s = obj(json!({ "n": 1, "meta": {}, "log": [] }));
        let before = s.clone();
        // `log` fits and sorts first; the whole update is still refused.
        let e = apply_update(&mut s, obj(json!({ "log": "a", "n": "x" })), &reducers()).unwrap_err();
        assert_eq!(e.to_string(), "state key `n` uses the `Sum` reducer, which cannot take a string");
        assert_eq!(s, before);
        assert!(apply_update(&mut s, obj(json!({ "meta": [1] })), &reducers()).is_err());
        let mut s = obj(json!({ "log": "not an array" }));
        assert!(apply_update(&mut s, obj(json!({ "log": 1 })), &reducers()).is_err());
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            (-3i64..3).prop_map(Value::from),
            (-3.0f64..3.0).prop_map(Value::from),
            "[a-b~/]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-b~/]{0,2}", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn state() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map(
            prop_oneof![Just("log"), Just("n"), Just("meta"), Just("v~/")],
            value(),
            0..4,
        )
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The stored patch and the applied update always agree, and reverting the update
        /// gives back the state it was applied to.
        #[test]
        fn the_patch_turns_the_state_into_the_updated_one(before in state(), update in state()) {
            match plan_update(&before, update, &reducers()) {
                Ok(planned) => {
                    let mut patched = Value::Object(before.clone());
                    json_patch::patch(&mut patched, &planned.patch()).unwrap();
                    let mut applied = before.clone();
                    let undo = planned.apply(&mut applied);
                    prop_assert_eq!(patched, Value::Object(applied.clone()));
                    undo.revert(&mut applied);
                    prop_assert_eq!(applied, before);
                }
                Err(ReduceError::Mismatch { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected {other}"),
            }
        }
    }
}
