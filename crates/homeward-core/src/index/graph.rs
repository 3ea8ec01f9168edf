//! The HNSW graph itself, over flat arrays: contiguous vectors, fixed-width
//! `u32` neighbour lists, squared-L2 kernel chosen once per CPU.
//!
//! Nodes are numbered 0..n in insertion order. Layer 0 lists hold up to
//! `2·m` neighbours, upper lists `m`. Each list is `[count, n1, n2, …]`.
//! Lists are atomics so that a batch can be linked from several threads with
//! one short lock per list update (relaxed loads compile to plain loads, so
//! searches pay nothing for it); everything else is plain data.
//!
//! Construction follows Malkov & Yashunin (2018): level drawn with
//! `⌊−ln U · 1/ln m⌋`, greedy descent on upper layers, beam search of width
//! `ef_construction` per layer, neighbours chosen by the diversity heuristic.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io::{Read, Write};
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};

use rayon::prelude::*;

use super::distance::{sq_kernel, SqDist};

/// Highest layer a node can be drawn on.
pub(crate) const MAX_LEVEL: usize = 16;
/// "No node" (empty graph's entry point).
const NONE: u32 = u32::MAX;
/// Striped locks used while linking a batch in parallel.
const LOCK_STRIPES: usize = 4096;

/// A node and its squared distance to the query.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) d: f32,
    pub(crate) node: u32,
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.d.total_cmp(&o.d).then(self.node.cmp(&o.node))
    }
}

/// Generation-stamped visited marks, one per thread, reused across searches.
struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    const fn new() -> Self {
        Visited {
            marks: Vec::new(),
            epoch: 0,
        }
    }

    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `i`; returns whether it was unmarked.
    #[inline]
    fn insert(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        let fresh = *m != self.epoch;
        *m = self.epoch;
        fresh
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited::new()) };
}

/// Runs `f` with this thread's visited set, reset for `n` nodes.
fn with_visited<R>(n: usize, f: impl FnOnce(&mut Visited) -> R) -> R {
    VISITED.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            v.reset(n);
            f(&mut v)
        }
        // Re-entered from inside a filter callback: use a private set.
        Err(_) => {
            let mut v = Visited::new();
            v.reset(n);
            f(&mut v)
        }
    })
}

#[inline(always)]
fn prefetch(v: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = v.as_ptr() as *const i8;
        // SAFETY: prefetching is a hint with no architectural effect; the
        // second address is used only when it lies inside the vector
        // (512 bytes at 128 dimensions, as before).
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p);
            if v.len() > 64 {
                _mm_prefetch::<_MM_HINT_T0>(p.add(256));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

fn lock(m: &Mutex<()>) -> MutexGuard<'_, ()> {
    // A poisoned stripe only means another insert panicked; the lists it
    // guards are always valid (every entry is a node id), so carry on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The graph. See the module docs.
pub(crate) struct Graph {
    m: usize,
    ef_construction: usize,
    /// Length of every vector (the model's dimension).
    dim: usize,
    dist: SqDist,
    /// Node `i`'s vector is `vectors[i·dim..(i+1)·dim]`.
    vectors: Vec<f32>,
    /// Caller's label (external id) of each node.
    labels: Vec<u32>,
    levels: Vec<u8>,
    /// Start of each node's upper-layer lists in `upper` (0 when level 0).
    upper_off: Vec<u32>,
    upper: Vec<AtomicU32>,
    links0: Vec<AtomicU32>,
    entry: u32,
    max_level: u8,
}

/// Shared state while linking a batch.
struct Linker<'a> {
    g: &'a Graph,
    top: Mutex<(u32, u8)>,
    global: Mutex<()>,
    stripes: Vec<Mutex<()>>,
}

impl Graph {
    /// An empty graph of `dim`-long vectors (`dim` ≥ 1; the caller checks).
    pub(crate) fn new(m: usize, ef_construction: usize, dim: usize) -> Self {
        let dim = dim.max(1);
        Graph {
            m: m.clamp(2, 255),
            ef_construction: ef_construction.max(1),
            dim,
            dist: sq_kernel(dim),
            vectors: Vec::new(),
            labels: Vec::new(),
            levels: Vec::new(),
            upper_off: Vec::new(),
            upper: Vec::new(),
            links0: Vec::new(),
            entry: NONE,
            max_level: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.labels.len()
    }

    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    pub(crate) fn vector(&self, node: u32) -> &[f32] {
        let s = node as usize * self.dim;
        &self.vectors[s..s + self.dim]
    }

    /// Every node's vector, in node order.
    pub(crate) fn vectors(&self) -> std::slice::ChunksExact<'_, f32> {
        self.vectors.chunks_exact(self.dim)
    }

    #[inline]
    pub(crate) fn label(&self, node: u32) -> u32 {
        self.labels[node as usize]
    }

    pub(crate) fn labels(&self) -> &[u32] {
        &self.labels
    }

    fn stride0(&self) -> usize {
        1 + 2 * self.m
    }

    fn stride_up(&self) -> usize {
        1 + self.m
    }

    fn cap(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    /// The list `[count, neighbours…]` of `node` on `level`.
    #[inline]
    fn list(&self, node: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let s = node as usize * self.stride0();
            &self.links0[s..s + self.stride0()]
        } else {
            let s = self.upper_off[node as usize] as usize + (level - 1) * self.stride_up();
            &self.upper[s..s + self.stride_up()]
        }
    }

    #[inline]
    fn neighbours(&self, node: u32, level: usize) -> impl Iterator<Item = u32> + '_ {
        let l = self.list(node, level);
        let n = (l[0].load(Relaxed) as usize).min(l.len() - 1);
        l[1..=n].iter().map(|a| a.load(Relaxed))
    }

    /// Approximate resident size in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.vectors.capacity() * 4
            + self.labels.capacity() * 4
            + self.levels.capacity()
            + self.upper_off.capacity() * 4
            + (self.upper.capacity() + self.links0.capacity()) * 4
    }

    fn draw_level(&self, node: usize) -> u8 {
        // splitmix64 of the node number: reproducible levels.
        let mut z = (node as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let u = ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let ml = 1.0 / (self.m as f64).ln();
        ((-u.ln() * ml) as usize).min(MAX_LEVEL) as u8
    }

    /// Appends vectors as unlinked nodes; returns their node range.
    fn push_nodes(&mut self, vs: &[(u32, &[f32])]) -> Range<u32> {
        let start = self.len();
        let n = vs.len();
        self.vectors.reserve(n * self.dim);
        self.labels.reserve(n);
        self.levels.reserve(n);
        self.upper_off.reserve(n);
        self.links0.reserve(n * self.stride0());
        for (i, (label, v)) in vs.iter().enumerate() {
            let level = self.draw_level(start + i);
            self.vectors.extend_from_slice(v);
            self.labels.push(*label);
            self.levels.push(level);
            if level > 0 {
                self.upper_off.push(self.upper.len() as u32);
                let add = level as usize * self.stride_up();
                self.upper.extend((0..add).map(|_| AtomicU32::new(0)));
            } else {
                self.upper_off.push(0);
            }
        }
        let add = n * self.stride0();
        self.links0.extend((0..add).map(|_| AtomicU32::new(0)));
        start as u32..(start + n) as u32
    }

    /// Adds and links `(label, vector)` pairs, on all rayon threads when
    /// `parallel`. Returns the node range they were given.
    pub(crate) fn add(&mut self, vs: &[(u32, &[f32])], parallel: bool) -> Range<u32> {
        let range = self.push_nodes(vs);
        if range.is_empty() {
            return range;
        }
        let stripes = if parallel { LOCK_STRIPES } else { 1 };
        let linker = Linker {
            g: self,
            top: Mutex::new((self.entry, self.max_level)),
            global: Mutex::new(()),
            stripes: (0..stripes).map(|_| Mutex::new(())).collect(),
        };
        let mut rest = range.clone();
        // The first node of an empty graph becomes its entry point alone.
        if self.entry == NONE {
            linker.link(rest.start);
            rest.start += 1;
        }
        if parallel {
            rest.into_par_iter().for_each(|n| linker.link(n));
        } else {
            rest.for_each(|n| linker.link(n));
        }
        let top = *lock_pair(&linker.top);
        drop(linker);
        (self.entry, self.max_level) = top;
        range
    }

    /// Greedy descent on one upper layer.
    fn greedy(&self, q: &[f32], mut ep: Cand, level: usize) -> Cand {
        loop {
            let mut moved = false;
            for n in self.neighbours(ep.node, level) {
                let d = (self.dist)(q, self.vector(n));
                if d < ep.d {
                    ep = Cand { d, node: n };
                    moved = true;
                }
            }
            if !moved {
                return ep;
            }
        }
    }

    /// Beam search of width `ef` on `level` from `eps`. Only nodes that
    /// `accept` passes enter the result, but every node is walked through, so
    /// a filter never disconnects the graph. Returns the results, unordered.
    fn beam(
        &self,
        q: &[f32],
        eps: &[Cand],
        ef: usize,
        level: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
        visited: &mut Visited,
    ) -> Vec<Cand> {
        let mut cands: BinaryHeap<Reverse<Cand>> = BinaryHeap::with_capacity(ef * 2);
        let mut top: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
        for &e in eps {
            if visited.insert(e.node) {
                cands.push(Reverse(e));
                if accept.is_none_or(|f| f(e.node)) {
                    top.push(e);
                }
            }
        }
        while top.len() > ef {
            top.pop();
        }
        let mut bound = top.peek().map_or(f32::INFINITY, |c| c.d);
        while let Some(Reverse(c)) = cands.pop() {
            if c.d > bound && (top.len() >= ef || accept.is_none()) {
                break;
            }
            let list = self.list(c.node, level);
            let cnt = (list[0].load(Relaxed) as usize).min(list.len() - 1);
            let ns = &list[1..=cnt];
            if let Some(first) = ns.first() {
                prefetch(self.vector(first.load(Relaxed)));
            }
            for (j, a) in ns.iter().enumerate() {
                let n = a.load(Relaxed);
                if let Some(next) = ns.get(j + 1) {
                    prefetch(self.vector(next.load(Relaxed)));
                }
                if !visited.insert(n) {
                    continue;
                }
                let d = (self.dist)(q, self.vector(n));
                if top.len() < ef || d < bound {
                    cands.push(Reverse(Cand { d, node: n }));
                    if accept.is_none_or(|f| f(n)) {
                        top.push(Cand { d, node: n });
                        if top.len() > ef {
                            top.pop();
                        }
                    }
                    if let Some(w) = top.peek() {
                        bound = w.d;
                    }
                }
            }
        }
        top.into_vec()
    }

    /// Diversity heuristic: walk `cands` nearest first and keep one only if it
    /// is nearer to the base than to every neighbour kept so far.
    fn select(&self, cands: &mut [Cand], m: usize) -> Vec<Cand> {
        cands.sort_unstable();
        if cands.len() <= m {
            return cands.to_vec();
        }
        let mut kept: Vec<Cand> = Vec::with_capacity(m);
        for &c in cands.iter() {
            if kept.len() >= m {
                break;
            }
            let v = self.vector(c.node);
            if kept
                .iter()
                .all(|k| (self.dist)(v, self.vector(k.node)) >= c.d)
            {
                kept.push(c);
            }
        }
        kept
    }

    fn write_list(&self, node: u32, level: usize, items: &[Cand]) {
        let l = self.list(node, level);
        let n = items.len().min(l.len() - 1);
        for (slot, c) in l[1..=n].iter().zip(items) {
            slot.store(c.node, Relaxed);
        }
        l[0].store(n as u32, Relaxed);
    }

    /// The `k` nearest nodes accepted by `accept` (squared distances),
    /// nearest first, searching layer 0 with width `ef`.
    pub(crate) fn search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Cand> {
        if self.entry == NONE || k == 0 {
            return Vec::new();
        }
        let mut ep = Cand {
            d: (self.dist)(q, self.vector(self.entry)),
            node: self.entry,
        };
        for level in (1..=self.max_level as usize).rev() {
            ep = self.greedy(q, ep, level);
        }
        let mut res = with_visited(self.len(), |v| self.beam(q, &[ep], ef.max(k), 0, accept, v));
        res.sort_unstable();
        res.truncate(k);
        res
    }

    /// Exact scan of every node `accept` passes (squared distances).
    pub(crate) fn scan(&self, q: &[f32], k: usize, accept: &dyn Fn(u32) -> bool) -> Vec<Cand> {
        let mut top: BinaryHeap<Cand> = BinaryHeap::with_capacity(k + 1);
        if k == 0 {
            return Vec::new();
        }
        for (i, v) in self.vectors().enumerate() {
            let node = i as u32;
            if !accept(node) {
                continue;
            }
            let c = Cand {
                d: (self.dist)(q, v),
                node,
            };
            if top.len() < k {
                top.push(c);
            } else if top.peek().is_some_and(|w| c < *w) {
                top.pop();
                top.push(c);
            }
        }
        top.into_sorted_vec()
    }
}

fn lock_pair(m: &Mutex<(u32, u8)>) -> MutexGuard<'_, (u32, u8)> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Linker<'_> {
    fn stripe(&self, node: u32) -> &Mutex<()> {
        &self.stripes[node as usize % self.stripes.len()]
    }

    /// Links one pushed node into the graph.
    fn link(&self, node: u32) {
        let g = self.g;
        let level = g.levels[node as usize];
        // A node above the current top holds the global lock for its whole
        // insertion, so two new tops cannot race (as hnswlib does).
        let global = lock(&self.global);
        let (entry, top_level) = *lock_pair(&self.top);
        let _global = if level > top_level || entry == NONE {
            Some(global)
        } else {
            drop(global);
            None
        };
        if entry == NONE {
            *lock_pair(&self.top) = (node, level);
            return;
        }
        let q = g.vector(node);
        let mut ep = Cand {
            d: (g.dist)(q, g.vector(entry)),
            node: entry,
        };
        for l in ((level as usize + 1)..=top_level as usize).rev() {
            ep = g.greedy(q, ep, l);
        }
        let mut eps = vec![ep];
        for l in (0..=(level.min(top_level) as usize)).rev() {
            let mut found =
                with_visited(g.len(), |v| g.beam(q, &eps, g.ef_construction, l, None, v));
            found.retain(|c| c.node != node);
            let chosen = g.select(&mut found, g.m);
            {
                let _s = lock(self.stripe(node));
                g.write_list(node, l, &chosen);
            }
            for c in &chosen {
                self.link_back(c.node, node, c.d, l);
            }
            eps = found;
            if eps.is_empty() {
                eps.push(ep);
            }
        }
        if level > top_level {
            *lock_pair(&self.top) = (node, level);
        }
    }

    /// Adds `new` to the list of `e` on `level`, pruning with the heuristic
    /// when the list is full.
    fn link_back(&self, e: u32, new: u32, d: f32, level: usize) {
        let g = self.g;
        let _s = lock(self.stripe(e));
        let list = g.list(e, level);
        let cap = g.cap(level);
        let cnt = (list[0].load(Relaxed) as usize).min(cap);
        if list[1..=cnt].iter().any(|a| a.load(Relaxed) == new) {
            return;
        }
        if cnt < cap {
            list[cnt + 1].store(new, Relaxed);
            list[0].store(cnt as u32 + 1, Relaxed);
            return;
        }
        let ve = g.vector(e);
        let mut cands: Vec<Cand> = list[1..=cnt]
            .iter()
            .map(|a| {
                let n = a.load(Relaxed);
                Cand {
                    d: (g.dist)(ve, g.vector(n)),
                    node: n,
                }
            })
            .collect();
        cands.push(Cand { d, node: new });
        let chosen = g.select(&mut cands, cap);
        g.write_list(e, level, &chosen);
    }
}

// ---- snapshot files ----

/// Fixed part of the graph file: n, m, entry, max level, upper length.
const GRAPH_HEAD: usize = 24;

fn to_u32s(a: &[AtomicU32]) -> Vec<u32> {
    a.iter().map(|x| x.load(Relaxed)).collect()
}

fn read_vec<T: bytemuck::Pod + bytemuck::Zeroable>(
    r: &mut impl Read,
    n: usize,
) -> std::io::Result<Vec<T>> {
    let mut v = vec![T::zeroed(); n];
    r.read_exact(bytemuck::cast_slice_mut(&mut v))?;
    Ok(v)
}

impl Graph {
    /// Writes the links (native byte order; the snapshot header records it).
    pub(crate) fn write_graph(&self, w: &mut impl Write) -> std::io::Result<()> {
        let head = [
            self.len() as u32,
            self.m as u32,
            self.entry,
            u32::from(self.max_level),
        ];
        w.write_all(bytemuck::cast_slice(&head))?;
        w.write_all(&(self.upper.len() as u64).to_ne_bytes())?;
        w.write_all(&self.levels)?;
        let pad = (4 - self.levels.len() % 4) % 4;
        w.write_all(&[0u8; 3][..pad])?;
        w.write_all(bytemuck::cast_slice(&self.upper_off))?;
        w.write_all(bytemuck::cast_slice(&to_u32s(&self.upper)))?;
        for chunk in self.links0.chunks(1 << 20) {
            w.write_all(bytemuck::cast_slice(&to_u32s(chunk)))?;
        }
        Ok(())
    }

    /// Writes the vectors, then the labels.
    pub(crate) fn write_vectors(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(bytemuck::cast_slice(&self.vectors))?;
        w.write_all(bytemuck::cast_slice(&self.labels))
    }

    /// Reads what [`Graph::write_graph`] and [`Graph::write_vectors`]
    /// wrote, given the two files' lengths; `Err` on any inconsistency
    /// (nothing is allocated before the sizes add up, nothing panics).
    pub(crate) fn read(
        graph: &mut impl Read,
        graph_len: u64,
        vectors: &mut impl Read,
        vectors_len: u64,
        ef_construction: usize,
        dim: usize,
    ) -> Result<Graph, ReadError> {
        let mut head = [0u8; GRAPH_HEAD];
        graph.read_exact(&mut head)?;
        let word = |i: usize| u32::from_ne_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (n, m, entry, max_level) = (word(0) as usize, word(4) as usize, word(8), word(12));
        let upper_len = u64::from_ne_bytes(head[16..24].try_into().unwrap_or([0xFF; 8])) as usize;
        if !(2..=255).contains(&m)
            || max_level as usize > MAX_LEVEL
            || upper_len > u32::MAX as usize
        {
            return Err(ReadError::Bad("graph parameters out of range".into()));
        }
        let n64 = n as u64;
        let want_graph = GRAPH_HEAD as u64
            + n64.div_ceil(4) * 4
            + 4 * (n64 + upper_len as u64 + n64 * (1 + 2 * m as u64));
        // n < 2^32 and dim < 2^32: the product fits in a u128, never wraps.
        let want_vectors = u128::from(n64) * (dim as u128 + 1) * 4;
        if dim == 0 || want_graph != graph_len || want_vectors != u128::from(vectors_len) {
            return Err(ReadError::Bad(format!(
                "file sizes {graph_len}/{vectors_len} do not fit {n} nodes"
            )));
        }
        let mut g = Graph::new(m, ef_construction, dim);
        g.levels = read_vec::<u8>(graph, n)?;
        let mut pad = [0u8; 3];
        graph.read_exact(&mut pad[..(4 - n % 4) % 4])?;
        g.upper_off = read_vec::<u32>(graph, n)?;
        g.upper = read_vec::<u32>(graph, upper_len)?
            .into_iter()
            .map(AtomicU32::new)
            .collect();
        let links: Vec<u32> = read_vec(graph, n.saturating_mul(g.stride0()))?;
        g.links0 = links.into_iter().map(AtomicU32::new).collect();
        g.vectors = read_vec::<f32>(vectors, n.saturating_mul(dim))?;
        g.labels = read_vec::<u32>(vectors, n)?;
        g.entry = if n == 0 { NONE } else { entry };
        g.max_level = max_level as u8;
        g.validate()?;
        Ok(g)
    }

    /// Checks every index the search would follow.
    fn validate(&self) -> Result<(), ReadError> {
        let n = self.len();
        let bad = |what: String| Err(ReadError::Bad(what));
        if n > 0 && (self.entry as usize >= n || self.levels[self.entry as usize] != self.max_level)
        {
            return bad(format!("entry point {} invalid", self.entry));
        }
        let su = self.stride_up();
        for (i, (&lv, &off)) in self.levels.iter().zip(&self.upper_off).enumerate() {
            if lv > self.max_level {
                return bad(format!("node {i} above the top layer"));
            }
            if lv > 0 && off as usize + lv as usize * su > self.upper.len() {
                return bad(format!("node {i} upper lists out of range"));
            }
        }
        let lists = self
            .links0
            .chunks_exact(self.stride0())
            .map(|l| (l, 2 * self.m))
            .chain(self.upper.chunks_exact(su).map(|l| (l, self.m)));
        for (l, cap) in lists {
            let cnt = l[0].load(Relaxed) as usize;
            if cnt > cap || l[1..=cnt].iter().any(|a| a.load(Relaxed) as usize >= n) {
                return bad("a neighbour list is out of range".into());
            }
        }
        Ok(())
    }
}

/// Why a graph could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    Bad(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Embedding, DIM};

    fn points(n: usize, seed: u64) -> Vec<Embedding> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                let mut v = [0f32; DIM];
                for x in v.iter_mut() {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    *x = ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
                }
                v
            })
            .collect()
    }

    #[test]
    fn lists_stay_within_capacity_and_point_at_nodes() {
        let pts = points(600, 1);
        let refs: Vec<(u32, &[f32])> = pts
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, &v[..]))
            .collect();
        let mut g = Graph::new(6, 40, DIM);
        g.add(&refs[..1], false);
        g.add(&refs[1..], true);
        assert_eq!(g.len(), 600);
        assert!(g.validate().is_ok());
        // Nearly every node is reachable on layer 0 from the entry point.
        // Parallel insertion order depends on scheduling, so reachability is
        // checked on a graph built in order (deterministic).
        let mut g = Graph::new(6, 40, DIM);
        g.add(&refs, false);
        assert!(g.validate().is_ok());
        let mut seen = vec![false; 600];
        let mut stack = vec![g.entry];
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n as usize], true) {
                stack.extend(g.neighbours(n, 0));
            }
        }
        let reached = seen.iter().filter(|s| **s).count();
        assert!(reached >= 595, "{reached} of 600 reachable");
    }

    #[test]
    fn read_refuses_out_of_range_links() {
        let pts = points(50, 2);
        let refs: Vec<(u32, &[f32])> = pts
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32, &v[..]))
            .collect();
        let mut g = Graph::new(4, 20, DIM);
        g.add(&refs, false);
        let (mut gb, mut vb) = (Vec::new(), Vec::new());
        g.write_graph(&mut gb).unwrap();
        g.write_vectors(&mut vb).unwrap();
        let (gl, vl) = (gb.len() as u64, vb.len() as u64);
        assert!(Graph::read(&mut &gb[..], gl, &mut &vb[..], vl, 20, DIM).is_ok());
        // Point the last neighbour slot of the last node far outside.
        let last = gb.len() - 4;
        gb[last..].copy_from_slice(&9999u32.to_ne_bytes());
        let cnt_at = gb.len() - 4 * (1 + 2 * 4);
        gb[cnt_at..cnt_at + 4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(matches!(
            Graph::read(&mut &gb[..], gl, &mut &vb[..], vl, 20, DIM),
            Err(ReadError::Bad(_))
        ));
        // Truncated vectors: refused by size before reading.
        assert!(matches!(
            Graph::read(&mut &gb[..], gl, &mut &vb[..100], 100, 20, DIM),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            Graph::read(&mut &gb[..], gl, &mut &vb[..100], vl, 20, DIM),
            Err(ReadError::Io(_))
        ));
        // The same files read as another dimension: refused by size.
        assert!(matches!(
            Graph::read(&mut &gb[..], gl, &mut &vb[..], vl, 20, 512),
            Err(ReadError::Bad(_))
        ));
    }

    #[test]
    fn a_graph_of_any_dimension_finds_its_own_vectors_and_reads_back() {
        for dim in [1usize, 7, 129, 512] {
            let mut s = 9u64;
            let pts: Vec<Vec<f32>> = (0..300)
                .map(|_| {
                    (0..dim)
                        .map(|_| {
                            s = s
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
                        })
                        .collect()
                })
                .collect();
            let refs: Vec<(u32, &[f32])> = pts
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u32, &v[..]))
                .collect();
            let mut g = Graph::new(8, 64, dim);
            g.add(&refs, false);
            assert_eq!(g.dim(), dim);
            assert_eq!(g.vector(17), &pts[17][..]);
            if dim > 1 {
                let found = g.search(&pts[17], 1, 64, None);
                assert_eq!(found[0].node, 17, "dim {dim}");
            }
            let (mut gb, mut vb) = (Vec::new(), Vec::new());
            g.write_graph(&mut gb).unwrap();
            g.write_vectors(&mut vb).unwrap();
            let (gl, vl) = (gb.len() as u64, vb.len() as u64);
            assert_eq!(vl, 300 * (dim as u64 + 1) * 4);
            let back = Graph::read(&mut &gb[..], gl, &mut &vb[..], vl, 64, dim).unwrap();
            assert_eq!(back.vector(299), &pts[299][..]);
        }
    }
}
