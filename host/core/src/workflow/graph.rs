//! The workflow graph: nodes, edges, routing and the checks that reject a graph that cannot
//! run as written (unreachable nodes, joins that can never fire). Pure.

use std::collections::{BTreeSet, HashMap};

/// One edge: `from` → `to`, taken when `label` is absent or equals the node's route.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Edge {
    /// Index of the source node.
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// The route label that selects it; `None` for an edge that is always taken.
    pub label: Option<String>,
}

/// A node's route that no edge can follow; the execution fails with this, state kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The node returned a label none of its edges has.
    #[error("node `{node}` chose route `{label}`, but no edge from it has that label (labels: {known})")]
    UnknownLabel {
        /// The node.
        node: String,
        /// The label it returned.
        label: String,
        /// The labels its edges have.
        known: String,
    },
    /// The node has only labelled edges and returned no route.
    #[error("node `{node}` returned no route, but every edge from it needs one (labels: {known})")]
    MissingRoute {
        /// The node.
        node: String,
        /// The labels its edges have.
        known: String,
    },
}

/// Where a graph problem is, so the manifest can point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// `nodes[i]`.
    Node(usize),
    /// `edges[i]`.
    Edge(usize),
}

/// A graph that cannot run as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphProblem {
    /// Where.
    pub site: Site,
    /// What, in a sentence.
    pub message: String,
}

/// A validated workflow graph, nodes by index in manifest order.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    names: Vec<String>,
    index: HashMap<String, usize>,
    edges: Vec<Edge>,
    outgoing: Vec<Vec<usize>>,
    incoming: Vec<Vec<usize>>,
    join: Vec<bool>,
    entry: usize,
}

impl Graph {
    /// Builds and checks the graph. `edges` are (from, to, label) by node index.
    pub fn new(
        names: Vec<String>,
        join: Vec<bool>,
        entry: usize,
        edges: Vec<Edge>,
    ) -> Result<Self, GraphProblem> {
        let n = names.len();
        let mut outgoing = vec![Vec::new(); n];
        let mut incoming = vec![Vec::new(); n];
        for (i, e) in edges.iter().enumerate() {
            outgoing[e.from].push(i);
            incoming[e.to].push(i);
        }
        let index = names.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect();
        let graph = Self { names, index, edges, outgoing, incoming, join, entry };
        graph.check()?;
        Ok(graph)
    }

    /// The node index of `id`.
    pub fn node(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The id of node `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The entry node.
    pub fn entry(&self) -> usize {
        self.entry
    }

    /// Edge `i`.
    pub fn edge(&self, i: usize) -> &Edge {
        &self.edges[i]
    }

    /// All edges, in manifest order.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// Whether node `i` waits for one arrival on each of its incoming edges.
    pub fn is_join(&self, i: usize) -> bool {
        self.join[i]
    }

    /// The incoming edges of node `i`, in manifest order.
    pub fn inputs(&self, i: usize) -> &[usize] {
        &self.incoming[i]
    }

    /// The edges node `i` follows after returning `route`: every unlabelled edge, plus the
    /// labelled ones matching `route`. Empty: the branch ends here.
    pub fn route(&self, i: usize, route: Option<&str>) -> Result<Vec<usize>, RouteError> {
        let out = &self.outgoing[i];
        let labels: BTreeSet<&str> = out.iter().filter_map(|&e| self.edges[e].label.as_deref()).collect();
        let known = || {
            if labels.is_empty() {
                "none".to_owned()
            } else {
                labels.iter().copied().collect::<Vec<_>>().join(", ")
            }
        };
        let mut taken: Vec<usize> = out.iter().copied().filter(|&e| self.edges[e].label.is_none()).collect();
        match route {
            Some(label) if !labels.contains(label) => {
                return Err(RouteError::UnknownLabel {
                    node: self.names[i].clone(),
                    label: label.to_owned(),
                    known: known(),
                });
            }
            Some(label) => {
                taken.extend(out.iter().copied().filter(|&e| self.edges[e].label.as_deref() == Some(label)))
            }
            None if !labels.is_empty() && taken.is_empty() => {
                return Err(RouteError::MissingRoute { node: self.names[i].clone(), known: known() });
            }
            None => {}
        }
        taken.sort_unstable();
        Ok(taken)
    }

    fn check(&self) -> Result<(), GraphProblem> {
        let reach = self.reachable(self.entry, None);
        if let Some(i) = (0..self.names.len()).find(|&i| !reach[i]) {
            return Err(GraphProblem {
                site: Site::Node(i),
                message: format!(
                    "node `{}` is unreachable from the entry node `{}`",
                    self.names[i], self.names[self.entry]
                ),
            });
        }
        let must = self.must_decisions(&reach);
        for j in (0..self.names.len()).filter(|&j| self.join[j]) {
            let inputs = &self.incoming[j];
            if inputs.len() < 2 {
                return Err(GraphProblem {
                    site: Site::Node(j),
                    message: format!(
                        "join `{}` needs at least two incoming edges, it has {}",
                        self.names[j],
                        inputs.len()
                    ),
                });
            }
            if j == self.entry {
                return Err(GraphProblem {
                    site: Site::Node(j),
                    message: format!("join `{}` is the entry node, so it can never fire", self.names[j]),
                });
            }
            let without_join = self.reachable(self.entry, Some(j));
            for &e in inputs {
                let from = self.edges[e].from;
                if !without_join[from] {
                    return Err(GraphProblem {
                        site: Site::Edge(e),
                        message: format!(
                            "join `{}` can never fire: its input from `{}` is only reached through the join itself",
                            self.names[j], self.names[from]
                        ),
                    });
                }
            }
            let decisions: Vec<BTreeSet<(usize, &str)>> =
                inputs.iter().map(|&e| self.decisions_via(&must, e)).collect();
            for (a, da) in decisions.iter().enumerate() {
                for (b, db) in decisions.iter().enumerate().skip(a + 1) {
                    let exclusive = da
                        .iter()
                        .find(|(r, l)| !self.on_cycle(*r) && db.iter().any(|(r2, l2)| r2 == r && l2 != l));
                    if let Some((router, label)) = exclusive {
                        let other = db.iter().find(|(r2, _)| r2 == router).map_or("", |(_, l)| *l);
                        return Err(GraphProblem {
                            site: Site::Edge(inputs[b]),
                            message: format!(
                                "join `{}` can never fire: its inputs from `{}` and `{}` follow routes `{label}` and `{other}` of `{}`, which exclude each other",
                                self.names[j],
                                self.names[self.edges[inputs[a]].from],
                                self.names[self.edges[inputs[b]].from],
                                self.names[*router]
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn reachable(&self, from: usize, avoid: Option<usize>) -> Vec<bool> {
        let mut seen = vec![false; self.names.len()];
        let mut stack = vec![from];
        seen[from] = true;
        while let Some(i) = stack.pop() {
            for &e in &self.outgoing[i] {
                let to = self.edges[e].to;
                if !seen[to] && Some(to) != avoid {
                    seen[to] = true;
                    stack.push(to);
                }
            }
        }
        seen
    }

    fn on_cycle(&self, i: usize) -> bool {
        self.outgoing[i].iter().any(|&e| {
            let to = self.edges[e].to;
            to == i || self.reachable(to, None)[i]
        })
    }

    /// For each node, the (router, label) choices every path from the entry to it makes.
    fn must_decisions(&self, reach: &[bool]) -> Vec<Option<BTreeSet<(usize, &str)>>> {
        let mut must: Vec<Option<BTreeSet<(usize, &str)>>> = vec![None; self.names.len()];
        must[self.entry] = Some(BTreeSet::new());
        let mut changed = true;
        while changed {
            changed = false;
            for i in (0..self.names.len()).filter(|&i| reach[i] && i != self.entry) {
                let mut acc: Option<BTreeSet<(usize, &str)>> = None;
                for &e in &self.incoming[i] {
                    if must[self.edges[e].from].is_none() {
                        continue;
                    }
                    let via = self.decisions_via(&must, e);
                    acc = Some(match acc {
                        None => via,
                        Some(a) => a.intersection(&via).copied().collect(),
                    });
                }
                if acc.is_some() && acc != must[i] {
                    must[i] = acc;
                    changed = true;
                }
            }
        }
        must
    }

    fn decisions_via<'a>(
        &'a self,
        must: &[Option<BTreeSet<(usize, &'a str)>>],
        e: usize,
    ) -> BTreeSet<(usize, &'a str)> {
        let edge = &self.edges[e];
        let mut set = must[edge.from].clone().unwrap_or_default();
        if let Some(label) = &edge.label {
            set.insert((edge.from, label.as_str()));
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(
        names: &[&str],
        joins: &[&str],
        edges: &[(&str, &str, Option<&str>)],
    ) -> Result<Graph, GraphProblem> {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let at = |s: &str| names.iter().position(|n| n == s).unwrap();
        let join = names.iter().map(|n| joins.contains(&n.as_str())).collect();
        let edges = edges
            .iter()
            .map(|(f, t, l)| Edge { from: at(f), to: at(t), label: l.map(str::to_owned) })
            .collect();
        Graph::new(names.clone(), join, 0, edges)
    }

    fn diamond() -> Graph {
        graph(
            &["r", "a", "b", "j"],
            &["j"],
            &[("r", "a", None), ("r", "b", None), ("a", "j", None), ("b", "j", None)],
        )
        .unwrap()
    }

    #[test]
    fn unlabelled_edges_fan_out_and_labels_select() {
        let g = diamond();
        assert_eq!(g.route(0, None).unwrap(), vec![0, 1]);
        assert!(g.route(3, None).unwrap().is_empty());
        let g = graph(
            &["r", "a", "b", "log"],
            &[],
            &[("r", "a", Some("left")), ("r", "b", Some("right")), ("r", "log", None)],
        )
        .unwrap();
        assert_eq!(g.route(0, Some("right")).unwrap(), vec![1, 2]);
        assert_eq!(
            g.route(0, Some("up")).unwrap_err().to_string(),
            "node `r` chose route `up`, but no edge from it has that label (labels: left, right)"
        );
        let g = graph(&["r", "a"], &[], &[("r", "a", Some("go"))]).unwrap();
        assert!(matches!(g.route(0, None), Err(RouteError::MissingRoute { .. })));
        assert!(matches!(g.route(1, Some("x")), Err(RouteError::UnknownLabel { .. })));
    }

    #[test]
    fn unreachable_nodes_are_named() {
        let e = graph(&["a", "b", "c"], &[], &[("a", "b", None)]).unwrap_err();
        assert_eq!(e.site, Site::Node(2));
        assert!(e.message.contains("`c` is unreachable"), "{}", e.message);
    }

    #[test]
    fn joins_that_can_never_fire_are_refused() {
        let e = graph(&["a", "j"], &["j"], &[("a", "j", None)]).unwrap_err();
        assert!(e.message.contains("at least two incoming edges"));
        // The second input only comes after the join itself.
        let e = graph(&["a", "j", "b"], &["j"], &[("a", "j", None), ("j", "b", None), ("b", "j", None)])
            .unwrap_err();
        assert_eq!(e.site, Site::Edge(2));
        assert!(e.message.contains("only reached through the join itself"), "{}", e.message);
        // Inputs on exclusive routes of one router.
        let e = graph(
            &["r", "a", "b", "j"],
            &["j"],
            &[("r", "a", Some("x")), ("r", "b", Some("y")), ("a", "j", None), ("b", "j", None)],
        )
        .unwrap_err();
        assert!(e.message.contains("follow routes `x` and `y` of `r`"), "{}", e.message);
        // The same shape under a loop can fire (the router runs again), so it is allowed.
        graph(
            &["r", "a", "b", "j"],
            &["j"],
            &[
                ("r", "a", Some("x")),
                ("r", "b", Some("y")),
                ("a", "j", None),
                ("b", "j", None),
                ("j", "r", Some("again")),
            ],
        )
        .unwrap();
        diamond();
    }

    #[test]
    fn loops_are_allowed() {
        let g = graph(
            &["start", "step"],
            &[],
            &[("start", "step", None), ("step", "step", Some("again")), ("step", "start", Some("restart"))],
        )
        .unwrap();
        assert_eq!(g.route(1, Some("again")).unwrap(), vec![1]);
    }
}
