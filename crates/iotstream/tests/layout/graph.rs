//! The import graph: files as nodes, "names something defined in" as edges; the same graph with
//! files grouped into their modules at any depth; and its cycles.

use std::collections::{BTreeMap, BTreeSet};

use super::source::{Crate, File};

/// Nodes and directed edges.
#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: BTreeSet<String>,
    pub edges: BTreeSet<(String, String)>,
}

impl Graph {
    /// Each file, with an edge to every other file defining something it names.
    pub fn of_files(krate: &Crate) -> Graph {
        let mut graph = Graph::default();
        for file in krate.files.values() {
            graph.nodes.insert(file.shown.clone());
            for path in &file.paths {
                if let Some(target) = resolve(krate, path, 0) {
                    if target.shown != file.shown {
                        graph.edges.insert((file.shown.clone(), target.shown.clone()));
                    }
                }
            }
        }
        graph
    }

    /// The most path components of a node (`a/b/c.rs`: 3).
    pub fn deepest(&self) -> usize {
        self.nodes.iter().map(|n| n.split('/').count()).max().unwrap_or(1)
    }

    /// Files grouped by the first `depth` components of their path: `connectors/kafka/source.rs`
    /// at depth 2 is `connectors/kafka`. Edges inside a group vanish.
    pub fn at_depth(&self, depth: usize) -> Graph {
        let group = |node: &str| node.split('/').take(depth).collect::<Vec<_>>().join("/");
        let nodes = self.nodes.iter().map(|n| group(n)).collect();
        let edges = self.edges.iter().map(|(a, b)| (group(a), group(b))).filter(|(a, b)| a != b).collect();
        Graph { nodes, edges }
    }
}

/// The file defining what `path` (absolute, from the crate root) names: module by module as far
/// as files go, then through re-exports to where the item is defined. `None` for other crates.
fn resolve<'a>(krate: &'a Crate, path: &[String], hops: usize) -> Option<&'a File> {
    let mut module: Vec<String> = Vec::new();
    for (i, segment) in path.iter().enumerate() {
        let file = &krate.files[krate.module_file(&module)?];
        let child = [module.clone(), vec![segment.clone()]].concat();
        if krate.module_file(&child).is_some() {
            module = child;
            continue;
        }
        if file.defines.contains(segment) || hops > 16 {
            return Some(file);
        }
        if file.external.contains(segment) {
            return None;
        }
        if let Some(target) = file.reexports.get(segment) {
            return resolve(krate, &[target.clone(), path[i + 1..].to_vec()].concat(), hops + 1);
        }
        for glob in &file.globs {
            let inner = krate.module_file(glob).map(|p| &krate.files[p]);
            if inner.is_some_and(|f| f.defines.contains(segment) || f.reexports.contains_key(segment)) {
                return resolve(krate, &[glob.clone(), path[i..].to_vec()].concat(), hops + 1);
            }
        }
        // A name the crate root does not define is an exported macro or a crate's name.
        return (!module.is_empty()).then_some(file);
    }
    krate.module_file(&module).map(|p| &krate.files[p])
}

/// The strongly connected groups of more than one node (Tarjan), each sorted.
pub fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let names: Vec<&String> = graph.nodes.iter().collect();
    let index: BTreeMap<&String, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (a, b) in &graph.edges {
        if let (Some(&a), Some(&b)) = (index.get(a), index.get(b)) {
            next[a].push(b);
        }
    }
    let mut tarjan = Tarjan {
        next: &next,
        index: vec![None; names.len()],
        low: vec![0; names.len()],
        ..Tarjan::default()
    };
    for v in 0..names.len() {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    tarjan
        .groups
        .into_iter()
        .filter(|g| g.len() > 1)
        .map(|g| {
            let mut members: Vec<String> = g.into_iter().map(|v| names[v].clone()).collect();
            members.sort();
            members
        })
        .collect()
}

#[derive(Default)]
struct Tarjan<'a> {
    next: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    stack: Vec<usize>,
    on_stack: BTreeSet<usize>,
    counter: usize,
    groups: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, v: usize) {
        self.index[v] = Some(self.counter);
        self.low[v] = self.counter;
        self.counter += 1;
        self.stack.push(v);
        self.on_stack.insert(v);
        for &w in &self.next[v] {
            match self.index[w] {
                None => {
                    self.visit(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(index) if self.on_stack.contains(&w) => self.low[v] = self.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut group = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack.remove(&w);
                group.push(w);
                if w == v {
                    break;
                }
            }
            self.groups.push(group);
        }
    }
}
