//! Per-key reducers: how a node's update, and the branches arriving at a join, combine into
//! the workflow state. Pure.

use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

/// How updates to one state key combine.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reducer {
    /// The update's value replaces the state's (the default).
    #[default]
    Replace,
    /// The state holds an array; an array update is appended, any other value is pushed.
    Append,
    /// The state holds a number; the update's number is added to it.
    Sum,
    /// The state holds an object; the update's keys replace the state's (shallow merge).
    Merge,
}

/// The reducers of a workflow, by state key (keys not listed use [`Reducer::Replace`]).
pub type Reducers = BTreeMap<String, Reducer>;

/// An update, or a set of joined branches, that the reducers cannot combine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReduceError {
    /// The value does not fit the key's reducer.
    #[error("state key `{key}` uses the `{reducer:?}` reducer, which cannot take {got}")]
    Mismatch {
        /// The state key.
        key: String,
        /// Its reducer.
        reducer: Reducer,
        /// What it was given.
        got: String,
    },
    /// Two joined branches set the same key (or, for `merge`, sub-key) to different values.
    #[error("branches `{first}` and `{second}` both changed state key `{key}`, to different values")]
    Conflict {
        /// The key (`key.sub` for a `merge` key).
        key: String,
        /// The branch that changed it first (in input order).
        first: String,
        /// The other.
        second: String,
    },
}

pub(super) fn reducer_of(reducers: &Reducers, key: &str) -> Reducer {
    reducers.get(key).copied().unwrap_or_default()
}

/// Combines branches that forked from `base` and meet at a join: each branch's change of a key
/// relative to `base` is applied through the key's reducer (appends concatenated in input
/// order, sums added, merges and replacements conflicting when two branches disagree).
/// `branches` are (node that ended the branch, its state).
pub fn merge_branches(
    base: &Map<String, Value>,
    branches: &[(&str, &Map<String, Value>)],
    reducers: &Reducers,
) -> Result<Map<String, Value>, ReduceError> {
    let mut out = base.clone();
    let keys: std::collections::BTreeSet<&String> = branches.iter().flat_map(|(_, s)| s.keys()).collect();
    for key in keys {
        let before = base.get(key.as_str());
        let changed: Vec<(&str, &Value)> = branches
            .iter()
            .filter_map(|(node, s)| s.get(key.as_str()).filter(|v| Some(*v) != before).map(|v| (*node, v)))
            .collect();
        if changed.is_empty() {
            continue;
        }
        let reducer = reducer_of(reducers, key);
        let merged = match reducer {
            Reducer::Replace => agree(key, &changed)?.clone(),
            Reducer::Append => {
                let start = match before {
                    Some(Value::Array(items)) => items.clone(),
                    None | Some(Value::Null) => Vec::new(),
                    Some(other) => {
                        return Err(ReduceError::Mismatch {
                            key: key.clone(),
                            reducer,
                            got: describe(other),
                        });
                    }
                };
                let mut items = start.clone();
                for (node, v) in &changed {
                    match v {
                        Value::Array(a) if a.starts_with(&start) => {
                            items.extend(a[start.len()..].iter().cloned())
                        }
                        _ => {
                            return Err(ReduceError::Mismatch {
                                key: key.clone(),
                                reducer,
                                got: format!("a value from `{node}` that does not extend the fork's array"),
                            });
                        }
                    }
                }
                Value::Array(items)
            }
            Reducer::Sum => {
                let zero = Number::from(0);
                let base_n = match before {
                    Some(Value::Number(n)) => n.clone(),
                    None | Some(Value::Null) => zero,
                    Some(other) => {
                        return Err(ReduceError::Mismatch {
                            key: key.clone(),
                            reducer,
                            got: describe(other),
                        });
                    }
                };
                let mut total = base_n.clone();
                for (_, v) in &changed {
                    let Value::Number(n) = v else {
                        return Err(ReduceError::Mismatch { key: key.clone(), reducer, got: describe(v) });
                    };
                    total = add(&total, &sub(n, &base_n));
                }
                Value::Number(total)
            }
            Reducer::Merge => {
                let empty = Map::new();
                let base_obj = match before {
                    Some(Value::Object(o)) => o,
                    None | Some(Value::Null) => &empty,
                    Some(other) => {
                        return Err(ReduceError::Mismatch {
                            key: key.clone(),
                            reducer,
                            got: describe(other),
                        });
                    }
                };
                let mut objs = Vec::new();
                for (node, v) in &changed {
                    let Value::Object(o) = v else {
                        return Err(ReduceError::Mismatch { key: key.clone(), reducer, got: describe(v) });
                    };
                    objs.push((*node, o));
                }
                let mut merged = base_obj.clone();
                let subkeys: std::collections::BTreeSet<&String> =
                    objs.iter().flat_map(|(_, o)| o.keys()).collect();
                for sub in subkeys {
                    let was = base_obj.get(sub.as_str());
                    let vals: Vec<(&str, &Value)> = objs
                        .iter()
                        .filter_map(|(n, o)| o.get(sub.as_str()).filter(|v| Some(*v) != was).map(|v| (*n, v)))
                        .collect();
                    if !vals.is_empty() {
                        merged.insert(sub.clone(), agree(&format!("{key}.{sub}"), &vals)?.clone());
                    }
                }
                Value::Object(merged)
            }
        };
        out.insert(key.clone(), merged);
    }
    Ok(out)
}

/// The one value all changers agree on, or a conflict naming the first two that disagree.
fn agree<'v>(key: &str, changed: &[(&str, &'v Value)]) -> Result<&'v Value, ReduceError> {
    let (first, value) = changed[0];
    match changed.iter().find(|(_, v)| *v != value) {
        Some((second, _)) => Err(ReduceError::Conflict {
            key: key.to_owned(),
            first: first.to_owned(),
            second: (*second).to_owned(),
        }),
        None => Ok(value),
    }
}

pub(super) fn add(a: &Number, b: &Number) -> Number {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) if x.checked_add(y).is_some() => Number::from(x + y),
        _ => float(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
    }
}

fn sub(a: &Number, b: &Number) -> Number {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) if x.checked_sub(y).is_some() => Number::from(x - y),
        _ => float(a.as_f64().unwrap_or(0.0) - b.as_f64().unwrap_or(0.0)),
    }
}

fn float(f: f64) -> Number {
    Number::from_f64(f).unwrap_or_else(|| Number::from(0))
}

pub(super) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    pub(crate) fn reducers() -> Reducers {
        [("log", Reducer::Append), ("n", Reducer::Sum), ("meta", Reducer::Merge)]
            .into_iter()
            .map(|(k, r)| (k.to_owned(), r))
            .collect()
    }

    #[test]
    fn joins_combine_branches_through_reducers() {
        let base = obj(json!({ "log": ["start"], "n": 10, "meta": { "k": 0 }, "same": 1, "keep": true }));
        let a = obj(
            json!({ "log": ["start", "a1", "a2"], "n": 11, "meta": { "k": 0, "a": 1 }, "same": 2, "keep": true }),
        );
        let b = obj(
            json!({ "log": ["start", "b1"], "n": 13, "meta": { "k": 0, "b": 2 }, "same": 2, "keep": true, "new": "b" }),
        );
        let merged = merge_branches(&base, &[("left", &a), ("right", &b)], &reducers()).unwrap();
        assert_eq!(
            Value::Object(merged),
            json!({
                "log": ["start", "a1", "a2", "b1"], "n": 14, "meta": { "k": 0, "a": 1, "b": 2 }, "same": 2, "keep": true, "new": "b"
            })
        );
    }

    #[test]
    fn joins_refuse_disagreeing_branches_naming_both() {
        let base = obj(json!({ "v": 0, "meta": { "k": 0 } }));
        let a = obj(json!({ "v": 1, "meta": { "k": 1 } }));
        let b = obj(json!({ "v": 2, "meta": { "k": 0 } }));
        let c = obj(json!({ "v": 1, "meta": { "k": 2 } }));
        let e = merge_branches(&base, &[("left", &a), ("right", &b)], &reducers()).unwrap_err();
        assert_eq!(
            e,
            ReduceError::Conflict { key: "v".into(), first: "left".into(), second: "right".into() }
        );
        let e = merge_branches(&base, &[("left", &a), ("other", &c)], &reducers()).unwrap_err();
        assert_eq!(
            e,
            ReduceError::Conflict { key: "meta.k".into(), first: "left".into(), second: "other".into() }
        );
        let rewritten = obj(json!({ "log": ["x"] }));
        let base = obj(json!({ "log": ["start"] }));
        assert!(merge_branches(&base, &[("a", &rewritten)], &reducers()).is_err());
    }
}
