//! Over-allocation of imports: the carats that a participant's re-exports
//! draw on the certificates it imported, taken together.
//!
//! A re-export lists its sources but not how many carats it takes from
//! each, so each re-export on its own is checked against the sum of its
//! sources (`reexport_exceeds_imports`). Several re-exports citing one
//! import can each pass that check and together certify more carats than
//! were imported: 50 ct confirmed under one certificate, then two
//! re-exports of 40 ct citing it. This module finds that.
//!
//! The model is a flow: each current confirmation by participant `P` of a
//! source `S` supplies what it confirmed; each re-export issued by `P`
//! (primary issue, not voided) demands its (corrected) carats from the
//! supplies of its own sources. The re-exports of one participant that
//! share sources, directly or through others, form a group; a group is
//! over-allocated when no split of every demand over its sources fits in
//! the supplies (a maximum flow smaller than the demands). A re-export
//! that alone exceeds its sources demands only what they hold here, since
//! that excess is already its own finding. The finding names the smallest
//! deficient part of the group: the re-exports whose demands cannot be met
//! and the sources they draw on, and the excess in carats.
//!
//! Tolerance: a supply of `c` carats counts as `c * (10_000 + bp) / 10_000`,
//! as for a single re-export; figures are scaled by 10,000 so the
//! arithmetic stays exact (u128).

use std::collections::{HashMap, HashSet, VecDeque};

use super::audit::{corrections_of, finding, Checks, Finding, FindingKind};
use super::format::format_carats;
use super::{Kind, LedgerView, NONE};
use crate::event::EventId;
use crate::model::{CountryCode, Date};

/// A re-export as the allocation sees it.
struct Reexport {
    cert: u32,
    issuer: CountryCode,
    carats: u64,
    issued_on: Date,
    issue_event: EventId,
    /// Indices of its source numbers.
    sources: Vec<u32>,
}

/// One confirmation a re-export may draw on: `importer`'s current
/// confirmation of `source`.
struct Supply {
    source: u32,
    carats: u64,
    event: EventId,
}

/// The re-exports of one participant linked by shared sources, and the
/// supplies they draw on.
struct Group {
    issuer: CountryCode,
    reexports: Vec<Reexport>,
    supplies: Vec<Supply>,
    /// For each re-export, the indices in `supplies` of its sources that
    /// the issuer confirmed importing.
    edges: Vec<Vec<usize>>,
}

impl LedgerView {
    /// `c` as a re-export: its primary issue lists sources and the number
    /// is not voided.
    fn reexport_of(&self, c: u32) -> Option<Reexport> {
        let events = self.cert_events[c as usize].as_slice();
        if events
            .iter()
            .any(|&i| self.events[i as usize].kind == Kind::Void)
        {
            return None;
        }
        let e = events
            .iter()
            .map(|&i| &self.events[i as usize])
            .find(|e| e.kind == Kind::Issue)?;
        let facts = &self.issues[e.rec as usize];
        if facts.sources == NONE {
            return None;
        }
        Some(Reexport {
            cert: c,
            issuer: self.authors[e.author as usize].participant,
            carats: facts.carat_hundredths,
            issued_on: facts.issued_on,
            issue_event: e.id,
            sources: self.source_lists[facts.sources as usize].to_vec(),
        })
    }

    /// `importer`'s current confirmation of `source`, if `source` was
    /// issued.
    fn supply_of(&self, source: u32, importer: CountryCode) -> Option<Supply> {
        self.primary_facts(source)?;
        self.cert_events[source as usize]
            .as_slice()
            .iter()
            .map(|&i| &self.events[i as usize])
            .find(|e| {
                e.kind == Kind::Confirmation
                    && self.authors[e.author as usize].participant == importer
            })
            .map(|e| Supply {
                source,
                carats: self.confirmations[e.rec as usize].carat_hundredths,
                event: e.id,
            })
    }

    /// The group of re-exports linked to `start` (a re-export) through
    /// shared sources; every re-export met is added to `seen`.
    fn allocation_group(&self, start: Reexport, seen: &mut HashSet<u32>) -> Group {
        let issuer = start.issuer;
        let mut group = Group {
            issuer,
            reexports: Vec::new(),
            supplies: Vec::new(),
            edges: Vec::new(),
        };
        // Supplies by source index; `None` for a source the issuer did not
        // confirm importing (nothing to draw on).
        let mut supply_at: HashMap<u32, Option<usize>> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        seen.insert(group_key(&queue[0]));
        while let Some(r) = queue.pop_front() {
            let mut edges = Vec::new();
            for &s in &r.sources {
                let at = match supply_at.get(&s) {
                    Some(&at) => at,
                    None => {
                        let at = self.supply_of(s, issuer).map(|sup| {
                            group.supplies.push(sup);
                            group.supplies.len() - 1
                        });
                        supply_at.insert(s, at);
                        if at.is_some() {
                            for &c in self.citing(s) {
                                if seen.contains(&c) {
                                    continue;
                                }
                                if let Some(other) = self.reexport_of(c) {
                                    if other.issuer == issuer {
                                        seen.insert(c);
                                        queue.push_back(other);
                                    }
                                }
                            }
                        }
                        at
                    }
                };
                if let Some(at) = at {
                    if !edges.contains(&at) {
                        edges.push(at);
                    }
                }
            }
            group.edges.push(edges);
            group.reexports.push(r);
        }
        group
    }

    /// The over-allocation findings of every group.
    pub(crate) fn allocation_findings(&self, ck: &Checks, out: &mut Vec<Finding>) {
        let mut seen = HashSet::new();
        for c in self.known_certs() {
            if seen.contains(&c) {
                continue;
            }
            if let Some(r) = self.reexport_of(c) {
                let group = self.allocation_group(r, &mut seen);
                self.group_finding(&group, ck.tolerance_bp, out);
            }
        }
    }

    /// The over-allocation findings filed under `number` (an over-drawn
    /// source): those of the groups of the re-exports citing it.
    pub(crate) fn allocation_findings_about(&self, c: u32, ck: &Checks, out: &mut Vec<Finding>) {
        let mut seen = HashSet::new();
        let name = self.name(c);
        for &r in self.citing(c) {
            if seen.contains(&r) {
                continue;
            }
            if let Some(r) = self.reexport_of(r) {
                let group = self.allocation_group(r, &mut seen);
                let mut found = Vec::new();
                self.group_finding(&group, ck.tolerance_bp, &mut found);
                out.extend(
                    found
                        .into_iter()
                        .filter(|f| f.certificate.as_deref() == Some(name)),
                );
            }
        }
    }

    fn group_finding(&self, g: &Group, bp: u32, out: &mut Vec<Finding>) {
        if g.reexports.len() < 2 || g.supplies.is_empty() {
            return;
        }
        let Some(short) = deficient_part(g, bp) else {
            return;
        };
        let mut sources: Vec<&Supply> = short.supplies.iter().map(|&i| &g.supplies[i]).collect();
        sources.sort_by(|a, b| self.name(a.source).cmp(self.name(b.source)));
        let mut reexports: Vec<&Reexport> =
            short.reexports.iter().map(|&i| &g.reexports[i]).collect();
        reexports.sort_by(|a, b| self.name(a.cert).cmp(self.name(b.cert)));
        let Some(first) = sources.first() else {
            return;
        };
        let filed_under = self.name(first.source);
        let confirmed: u128 = sources.iter().map(|s| u128::from(s.carats)).sum();
        let drawn: u128 = reexports.iter().map(|r| u128::from(r.carats)).sum();
        let mut events: Vec<EventId> = sources.iter().map(|s| s.event).collect();
        for r in &reexports {
            events.push(r.issue_event);
            let st = self.state(r.cert);
            if let Some(p) = st.primary() {
                events.extend(corrections_of(&st, p, &["carat_hundredths"]));
            }
        }
        let date = reexports
            .iter()
            .map(|r| r.issued_on)
            .max()
            .unwrap_or(Date::from_days(0));
        let names = |v: &[&Supply]| -> String {
            v.iter()
                .map(|s| self.name(s.source))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let draws: Vec<String> = reexports
            .iter()
            .map(|r| format!("{} ({})", self.name(r.cert), format_carats(r.carats)))
            .collect();
        out.push(finding(
            FindingKind::SourceOverallocated,
            Some(filed_under),
            events,
            vec![g.issuer],
            date,
            format!(
                "{} confirmed {} imported under {} but its re-exports {} draw {} on {}: {} more than confirmed",
                g.issuer,
                format_carats(clamp(confirmed)),
                names(&sources),
                draws.join(", "),
                format_carats(clamp(drawn)),
                if sources.len() == 1 { "it" } else { "them" },
                format_carats(clamp(short.excess)),
            ),
        ));
    }
}

fn group_key(r: &Reexport) -> u32 {
    r.cert
}

fn clamp(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The part of a group whose demands cannot be met.
struct Deficient {
    reexports: Vec<usize>,
    supplies: Vec<usize>,
    /// Carat hundredths demanded beyond what the supplies hold (rounded up).
    excess: u128,
}

const SCALE: u128 = 10_000;

/// Solves the group's flow; `None` when every demand fits.
fn deficient_part(g: &Group, bp: u32) -> Option<Deficient> {
    let r = g.reexports.len();
    let s = g.supplies.len();
    // Nodes: 0 source, 1 sink, 2.. re-exports, 2 + r.. supplies.
    let mut net = FlowNet::new(2 + r + s);
    let cap: Vec<u128> = g
        .supplies
        .iter()
        .map(|x| u128::from(x.carats) * (SCALE + u128::from(bp)))
        .collect();
    let mut demand_total = 0u128;
    for (i, re) in g.reexports.iter().enumerate() {
        let reach: u128 = g.edges[i].iter().map(|&j| cap[j]).sum();
        let demand = (u128::from(re.carats) * SCALE).min(reach);
        demand_total += demand;
        net.add_edge(0, 2 + i, demand);
        for &j in &g.edges[i] {
            net.add_edge(2 + i, 2 + r + j, demand);
        }
    }
    for (j, &c) in cap.iter().enumerate() {
        net.add_edge(2 + r + j, 1, c);
    }
    let flow = net.max_flow(0, 1);
    if flow >= demand_total {
        return None;
    }
    let reach = net.reachable(0);
    let reexports: Vec<usize> = (0..r).filter(|&i| reach[2 + i]).collect();
    let supplies: Vec<usize> = (0..s).filter(|&j| reach[2 + r + j]).collect();
    let missing = demand_total - flow;
    Some(Deficient {
        reexports,
        supplies,
        excess: missing.div_ceil(SCALE),
    })
}

/// A small flow network (Dinic's algorithm) with exact u128 capacities.
struct FlowNet {
    /// Per edge: (to, residual capacity); edge `e ^ 1` is its reverse.
    edges: Vec<(usize, u128)>,
    adj: Vec<Vec<usize>>,
}

impl FlowNet {
    fn new(nodes: usize) -> FlowNet {
        FlowNet {
            edges: Vec::new(),
            adj: vec![Vec::new(); nodes],
        }
    }

    fn add_edge(&mut self, from: usize, to: usize, cap: u128) {
        self.adj[from].push(self.edges.len());
        self.edges.push((to, cap));
        self.adj[to].push(self.edges.len());
        self.edges.push((from, 0));
    }

    fn levels(&self, s: usize) -> Vec<u32> {
        let mut level = vec![u32::MAX; self.adj.len()];
        level[s] = 0;
        let mut queue = VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            for &e in &self.adj[u] {
                let (v, c) = self.edges[e];
                if c > 0 && level[v] == u32::MAX {
                    level[v] = level[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        level
    }

    /// Finds one path from `s` to `t` along level-increasing edges with
    /// room left and pushes what it can carry (0 when there is none);
    /// iterative, so a long chain cannot exhaust the stack.
    fn push(&mut self, s: usize, t: usize, level: &[u32], next: &mut [usize]) -> u128 {
        let mut path: Vec<usize> = Vec::new();
        let mut u = s;
        loop {
            if u == t {
                let f = path.iter().map(|&e| self.edges[e].1).min().unwrap_or(0);
                for &e in &path {
                    self.edges[e].1 -= f;
                    self.edges[e ^ 1].1 += f;
                }
                return f;
            }
            let mut advanced = false;
            while next[u] < self.adj[u].len() {
                let e = self.adj[u][next[u]];
                let (v, c) = self.edges[e];
                if c > 0 && level[v] == level[u].wrapping_add(1) {
                    path.push(e);
                    u = v;
                    advanced = true;
                    break;
                }
                next[u] += 1;
            }
            if !advanced {
                // Dead end: retreat one step and skip the edge that led here.
                let Some(e) = path.pop() else {
                    return 0;
                };
                u = self.edges[e ^ 1].0;
                next[u] += 1;
            }
        }
    }

    fn max_flow(&mut self, s: usize, t: usize) -> u128 {
        let mut flow = 0u128;
        loop {
            let level = self.levels(s);
            if level[t] == u32::MAX {
                return flow;
            }
            let mut next = vec![0usize; self.adj.len()];
            loop {
                let f = self.push(s, t, &level, &mut next);
                if f == 0 {
                    break;
                }
                flow += f;
            }
        }
    }

    /// Nodes reachable from `s` over edges with residual capacity.
    fn reachable(&self, s: usize) -> Vec<bool> {
        let level = self.levels(s);
        level.iter().map(|&l| l != u32::MAX).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::FlowNet;

    #[test]
    fn max_flow_of_a_small_bipartite_network() {
        // Two demands of 40 on one supply of 50: 50 flows.
        let mut n = FlowNet::new(5);
        n.add_edge(0, 2, 40);
        n.add_edge(0, 3, 40);
        n.add_edge(2, 4, 40);
        n.add_edge(3, 4, 40);
        n.add_edge(4, 1, 50);
        assert_eq!(n.max_flow(0, 1), 50);
        // Crossed demands that fit only when split: 30 + 30 over 40 + 20.
        let mut n = FlowNet::new(6);
        n.add_edge(0, 2, 30);
        n.add_edge(0, 3, 30);
        n.add_edge(2, 4, 30);
        n.add_edge(2, 5, 30);
        n.add_edge(3, 4, 30);
        n.add_edge(4, 1, 40);
        n.add_edge(5, 1, 20);
        assert_eq!(n.max_flow(0, 1), 60);
    }
}
