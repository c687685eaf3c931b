//! What a replayed node boundary is compared on, and how: pure, from the recorded exit and
//! events on one side and the replayed run's results on the other.

use crate::inspect::EventView;
use serde::Serialize;
use serde_json::Value;
use wtb_core::history::{FileDiff, StateDiff};
use wtb_core::model::CheckpointId;

/// What one node boundary produced: its exit state, files, route and guest events.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Outputs {
    /// The route label it returned.
    pub route: Option<String>,
    /// Its guest events in order, as `{kind, data}` (`kind` without the `guest.` prefix).
    pub events: Vec<Value>,
}

/// How a replay differs from the recording (every part empty or `None`: the same).
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Differences {
    /// The state: the patch from the recorded exit's state to the replayed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateDiff>,
    /// The files: paths whose entry differs (recorded side first), with unified diffs of text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDiff>,
    /// The route, recorded and replayed, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<[Option<String>; 2]>,
    /// The guest events, recorded and replayed, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<[Vec<Value>; 2]>,
}

impl Differences {
    /// Compares a replayed boundary's state and outputs with its recording; `files` are the
    /// file differences, read from both sides' contents by the caller.
    pub fn between(recorded: (&Value, &Outputs), replayed: (&Value, &Outputs), files: Vec<FileDiff>) -> Self {
        let state = StateDiff::between(recorded.0, replayed.0);
        Self {
            state: (!state.lines.is_empty()).then_some(state),
            files,
            route: (recorded.1.route != replayed.1.route)
                .then(|| [recorded.1.route.clone(), replayed.1.route.clone()]),
            events: (recorded.1.events != replayed.1.events)
                .then(|| [recorded.1.events.clone(), replayed.1.events.clone()]),
        }
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.state.is_none() && self.files.is_empty() && self.route.is_none() && self.events.is_none()
    }
}

/// What the execution's events recorded for the boundary whose exit is `exit`: the route of
/// its `node.completed` event and the guest events committed with it (they follow it in the
/// same exit transaction, after `files.committed` when files changed).
pub fn recorded_outputs(events: &[EventView], exit: CheckpointId) -> Outputs {
    let exit = Value::String(exit.to_string());
    let Some(at) = events.iter().position(|e| e.kind == "node.completed" && e.payload["checkpoint"] == exit)
    else {
        return Outputs { route: None, events: Vec::new() };
    };
    let node = &events[at].payload["node"];
    let route = events[at].payload["route"].as_str().map(str::to_owned);
    let guest = events[at + 1..]
        .iter()
        .skip_while(|e| e.kind == "files.committed" && e.payload["node"] == *node)
        .take_while(|e| e.kind.starts_with("guest.") && e.payload["node"] == *node)
        .map(|e| serde_json::json!({ "kind": &e.kind["guest.".len()..], "data": e.payload["data"] }))
        .collect();
    Outputs { route, events: guest }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u32, kind: &str, payload: Value) -> EventView {
        EventView { seq, kind: kind.into(), key: String::new(), payload }
    }

    #[test]
    fn the_recorded_outputs_are_the_completion_s_route_and_the_guest_events_after_it() {
        let exit: CheckpointId = "01930000-0000-7000-8000-000000000001".parse().unwrap();
        let other: CheckpointId = "01930000-0000-7000-8000-000000000002".parse().unwrap();
        let events = [
            event(1, "node.completed", json!({ "node": "a", "checkpoint": other, "route": null })),
            event(2, "guest.step", json!({ "node": "a", "data": 0 })),
            event(3, "node.completed", json!({ "node": "b", "checkpoint": exit, "route": "ok" })),
            event(4, "files.committed", json!({ "node": "b" })),
            event(5, "guest.step", json!({ "node": "b", "data": 1 })),
            event(6, "guest.done", json!({ "node": "b", "data": { "x": 2 } })),
            event(7, "node.completed", json!({ "node": "c", "checkpoint": other })),
            event(8, "guest.step", json!({ "node": "c", "data": 3 })),
        ];
        let out = recorded_outputs(&events, exit);
        assert_eq!(out.route.as_deref(), Some("ok"));
        assert_eq!(
            out.events,
            [json!({ "kind": "step", "data": 1 }), json!({ "kind": "done", "data": { "x": 2 } })]
        );
        let unknown: CheckpointId = "01930000-0000-7000-8000-000000000003".parse().unwrap();
        assert_eq!(recorded_outputs(&events, unknown), Outputs { route: None, events: vec![] });
    }

    #[test]
    fn every_part_that_differs_is_named_and_nothing_else() {
        let out = Outputs { route: Some("next".into()), events: vec![json!({ "kind": "k", "data": 1 })] };
        let state = json!({ "n": 1 });
        assert!(Differences::between((&state, &out), (&state, &out), Vec::new()).is_empty());

        let moved = Outputs { route: None, ..out.clone() };
        let d = Differences::between((&state, &out), (&json!({ "n": 2 }), &moved), Vec::new());
        assert_eq!(d.state.unwrap().lines, ["~ /n: 1 → 2"]);
        assert_eq!(d.route, Some([Some("next".into()), None]));
        assert!(d.events.is_none(), "the same events");
        let fewer = Outputs { events: vec![], ..out.clone() };
        let d = Differences::between((&state, &out), (&state, &fewer), Vec::new());
        assert_eq!(d.events, Some([out.events.clone(), vec![]]));
        assert!(d.state.is_none() && d.route.is_none() && !d.is_empty());
    }
}
