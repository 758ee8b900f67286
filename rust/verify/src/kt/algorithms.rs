//! The draft's algorithms over the combined tree — updating a view,
//! greatest- and fixed-version search, contact monitoring, walking
//! distinguished entries — written once over a [`Source`] of timestamps and
//! prefix-tree lookups. The server runs them against its own data to record
//! a `CombinedTreeProof`; the client runs them against a received proof to
//! consume and check it. Both sides therefore agree on every element and
//! its order by construction (the draft's appendix "CombinedTreeProof
//! Implementation").

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::search_tree::{frontier, left, path_to, right, root, update_view_entries};
use crate::error::{failed, Error, Result};

/// Versions are `uint32`: a ladder lookup past the last one counts as absent.
const VERSIONS: u64 = 1 << 32;

/// Where an algorithm's data comes from.
pub trait Source {
    /// Entry `x`'s timestamp.
    fn timestamp(&mut self, x: u64) -> Result<u64>;
    /// Opens one series of lookups (one `PrefixProof`) in entry `x`'s prefix tree.
    fn open(&mut self, x: u64) -> Result<()>;
    /// The next lookup of the open series: whether `version` of the label
    /// is in that prefix tree.
    fn lookup(&mut self, version: u32) -> Result<bool>;
    /// Closes the open series.
    fn close(&mut self) -> Result<()>;
    /// Whether every prefix proof is used up: a received proof ends where
    /// the log chose to stop (owner monitoring); a recorder never is.
    fn exhausted(&self) -> bool;
}

/// The log parameters the algorithms depend on (milliseconds).
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Log size.
    pub n: u64,
    /// Reasonable monitoring window.
    pub rmw: u64,
    pub maximum_lifetime: Option<u64>,
}

/// Runs the algorithms of one response over a source.
pub struct Walker<'s> {
    src: &'s mut dyn Source,
    p: Params,
    /// Lookups made in this response: (version, entry) → present.
    proven: BTreeMap<(u32, u64), bool>,
    /// The target version of the ladder each entry gave in this response.
    ladders: HashMap<u64, u32>,
}

fn misbehaved(why: String) -> Error {
    failed(format!("the log misbehaved: {why}"))
}

impl<'s> Walker<'s> {
    pub fn new(src: &'s mut dyn Source, p: Params) -> Walker<'s> {
        debug_assert!(p.n > 0);
        Walker { src, p, proven: BTreeMap::new(), ladders: HashMap::new() }
    }

    pub fn timestamp(&mut self, x: u64) -> Result<u64> {
        self.src.timestamp(x)
    }

    fn newest(&mut self) -> Result<u64> {
        self.src.timestamp(self.p.n - 1)
    }

    /// Whether entry `x` has passed the log's maximum lifetime.
    pub fn expired(&mut self, x: u64) -> Result<bool> {
        let Some(lifetime) = self.p.maximum_lifetime else { return Ok(false) };
        Ok(self.newest()?.saturating_sub(self.timestamp(x)?) >= lifetime)
    }

    /// Whether entry `x` is distinguished: every step from the root to it
    /// spans at least the RMW. Reads the timestamps of its ancestors, up to
    /// the first that is not distinguished.
    pub fn distinguished(&mut self, x: u64) -> Result<bool> {
        let (mut lo, mut hi, mut node) = (0, self.newest()?, root(self.p.n));
        loop {
            if hi.saturating_sub(lo) < self.p.rmw {
                return Ok(false);
            }
            if node == x {
                return Ok(true);
            }
            let t = self.timestamp(node)?;
            let next = if x < node { left(node) } else { right(node, self.p.n) };
            if x < node {
                hi = t;
            } else {
                lo = t;
            }
            node = next.expect("x lies below node");
        }
    }

    /// The rightmost distinguished entry: it lies on the frontier.
    pub fn rightmost_distinguished(&mut self) -> Result<Option<u64>> {
        let (mut lo, hi, mut x, mut found) = (0, self.newest()?, root(self.p.n), None);
        while hi.saturating_sub(lo) >= self.p.rmw {
            found = Some(x);
            lo = self.timestamp(x)?;
            match right(x, self.p.n) {
                Some(r) => x = r,
                None => break,
            }
        }
        Ok(found)
    }

    /// Updating the view from `old` entries (None: a first view): the
    /// timestamps of the new entries on the old rightmost entry's path, then
    /// of the rest of the frontier.
    pub fn update_view(&mut self, old: Option<u64>) -> Result<()> {
        for x in update_view_entries(old, self.p.n)? {
            self.timestamp(x)?;
        }
        Ok(())
    }

    /// One lookup of a ladder at `x`; with `omit`, a version already proven
    /// present to the left (or absent to the right) in this response is not
    /// looked up again.
    fn look(&mut self, x: u64, v: u32, omit: bool) -> Result<bool> {
        if omit {
            let mut earlier = self.proven.range((v, 0)..=(v, u64::MAX));
            if let Some((&(_, e), &present)) =
                earlier.find(|(&(_, e), &present)| (present && e < x) || (!present && e > x))
            {
                debug_assert_ne!(e, x);
                return Ok(present);
            }
        }
        let present = self.src.lookup(v)?;
        self.proven.insert((v, x), present);
        Ok(present)
    }

    /// A search binary ladder at `x` for target `t`: how the greatest
    /// version there compares with `t`. The ladder stops at its first
    /// decisive lookup (present above `t`, or absent at or below it).
    pub fn search_ladder(&mut self, x: u64, t: u32, omit: bool) -> Result<Ordering> {
        self.timestamp(x)?;
        self.src.open(x)?;
        let decisive = |v: u64, present: bool| match (present, v > u64::from(t)) {
            (true, true) => Some(Ordering::Greater),
            (false, false) => Some(Ordering::Less),
            _ => None,
        };
        let mut lower = 0;
        let mut upper = VERSIONS;
        let mut outcome = None;
        // 0, 1, 3, 7, ... until one is absent; then a binary search.
        for k in 0..=32 {
            let v = (1u64 << k) - 1;
            if v >= VERSIONS {
                break;
            }
            let present = self.look(x, v as u32, omit)?;
            outcome = decisive(v, present);
            if outcome.is_some() {
                break;
            }
            if present {
                lower = v;
            } else {
                upper = v;
                break;
            }
        }
        while outcome.is_none() && lower + 1 < upper {
            let m = (lower + upper) / 2;
            let present = self.look(x, m as u32, omit)?;
            outcome = decisive(m, present);
            if present {
                lower = m;
            } else {
                upper = m;
            }
        }
        self.src.close()?;
        self.ladders.insert(x, t);
        // No decisive lookup: version t is present and t + 1 absent.
        Ok(outcome.unwrap_or(Ordering::Equal))
    }

    /// A monitoring ladder at `x` for version `t`: every lookup present.
    fn monitoring_ladder(&mut self, x: u64, t: u32) -> Result<()> {
        self.timestamp(x)?;
        self.src.open(x)?;
        for v in super::ladder::monitoring(t) {
            if !self.look(x, v, false)? {
                return Err(misbehaved(format!("version {v} is missing from entry {x}, which must hold version {t}")));
            }
        }
        self.src.close()?;
        self.ladders.insert(x, t);
        Ok(())
    }

    /// Greatest-version search for a label whose claimed greatest version
    /// is `t`: ladders down the frontier from the rightmost distinguished
    /// entry. Returns the terminal entry (the leftmost inspected holding `t`).
    pub fn greatest_version(&mut self, t: u32) -> Result<u64> {
        let front = frontier(self.p.n);
        for &x in &front {
            self.timestamp(x)?;
        }
        let start = self.rightmost_distinguished()?.unwrap_or(front[0]);
        let mut terminal = None;
        for x in front.into_iter().filter(|&x| x >= start) {
            match self.search_ladder(x, t, true)? {
                Ordering::Greater => {
                    return Err(misbehaved(format!("entry {x} holds a version above the claimed greatest {t}")))
                }
                Ordering::Less if x == self.p.n - 1 => {
                    return Err(misbehaved(format!("the newest entry lacks the claimed greatest version {t}")))
                }
                Ordering::Equal if terminal.is_none() => terminal = Some(x),
                _ => {}
            }
        }
        Ok(terminal.expect("the newest entry holds t"))
    }

    /// Fixed-version search for version `t`: a binary search over the
    /// implicit tree for the first entry holding it, stopping early where
    /// `t` is the greatest. Returns the terminal entry.
    pub fn fixed_version(&mut self, t: u32) -> Result<u64> {
        let n = self.p.n;
        let mut x = root(n);
        let mut inspected: Vec<(u64, Ordering)> = Vec::new();
        let mut any_expired = false;
        loop {
            let next = if self.expired(x)? {
                any_expired = true;
                right(x, n)
            } else {
                let outcome = self.search_ladder(x, t, true)?;
                inspected.push((x, outcome));
                match outcome {
                    Ordering::Less => right(x, n),
                    Ordering::Greater => left(x),
                    Ordering::Equal => return self.found_greatest(x, t),
                }
            };
            match next {
                Some(y) => x = y,
                None => break,
            }
        }
        // Step 6: the leftmost inspected entry that holds more than `t`.
        let Some(&(y, _)) = inspected.iter().filter(|(_, o)| *o == Ordering::Greater).min_by_key(|(e, _)| *e) else {
            return Err(failed(format!("version {t} of the label does not exist")));
        };
        if any_expired {
            let mut anchored = false;
            for &(e, _) in inspected.iter().filter(|(e, _)| *e < y) {
                anchored |= self.distinguished(e)?;
            }
            if !anchored {
                return Err(failed(format!("version {t} of the label has expired")));
            }
        }
        self.timestamp(y)?;
        self.src.open(y)?;
        let present = self.src.lookup(t)?;
        self.src.close()?;
        if !present {
            return Err(failed(format!("version {t} of the label does not exist")));
        }
        Ok(y)
    }

    /// Step 5 of fixed-version search: `t` is the greatest at `x`.
    fn found_greatest(&mut self, x: u64, t: u32) -> Result<u64> {
        let path = path_to(x, self.p.n);
        let mut any_expired = false;
        for &a in &path {
            any_expired |= self.expired(a)?;
        }
        if !any_expired || self.distinguished(x)? {
            return Ok(x);
        }
        for a in path.into_iter().filter(|&a| a < x) {
            if !self.expired(a)? && self.distinguished(a)? {
                return Ok(x);
            }
        }
        Err(failed(format!("version {t} of the label has expired")))
    }

    /// Contact monitoring: moves each (position → version) entry of a
    /// label's monitoring map up its direct path, proving with monitoring
    /// ladders that the new entries there still hold the version, until it
    /// reaches a distinguished entry; then drops entries at distinguished
    /// positions.
    pub fn contact_monitor(&mut self, map: &mut BTreeMap<u64, u32>) -> Result<()> {
        let n = self.p.n;
        let entries: Vec<(u64, u32)> = map.iter().rev().map(|(&p, &v)| (p, v)).collect();
        'entries: for (pos, version) in entries {
            if pos >= n {
                return Err(failed(format!("monitored position {pos} is past the log's {n} entries")));
            }
            if self.distinguished(pos)? {
                continue;
            }
            let mut list = Vec::new();
            for a in path_to(pos, n).into_iter().rev().filter(|&a| a > pos) {
                list.push(a);
                if self.distinguished(a)? {
                    break;
                }
            }
            let mut at = pos;
            for y in list {
                if let Some(&given) = self.ladders.get(&y) {
                    if given > version {
                        map.remove(&at);
                        continue 'entries;
                    }
                    return Err(misbehaved(format!("entry {y} was asked twice for versions up to {version}")));
                }
                self.monitoring_ladder(y, version)?;
                map.remove(&at);
                map.insert(y, version);
                at = y;
            }
        }
        let positions: Vec<u64> = map.keys().copied().collect();
        for p in positions {
            if self.distinguished(p)? {
                map.remove(&p);
            }
        }
        Ok(())
    }

    /// The entries owner initialization inspects from `start` (which must be
    /// distinguished and unexpired): `start`, then the entries on its direct
    /// path to its left, nearest first, up to the first expired one.
    pub fn owner_entries(&mut self, start: u64) -> Result<Vec<u64>> {
        let n = self.p.n;
        if start >= n {
            return Err(failed(format!("start {start} is past the log's {n} entries")));
        }
        for a in path_to(start, n) {
            self.timestamp(a)?;
        }
        if !self.distinguished(start)? || self.expired(start)? {
            return Err(failed(format!("start {start} is not an unexpired distinguished entry")));
        }
        let mut out = vec![start];
        for a in path_to(start, n).into_iter().rev().filter(|&a| a < start) {
            if self.expired(a)? {
                break;
            }
            out.push(a);
        }
        Ok(out)
    }

    /// Owner initialization: at each entry of [`Walker::owner_entries`],
    /// a full search ladder shows the label's greatest version there —
    /// `greatest[i]` (non-increasing), or no version past its end.
    pub fn owner_init(&mut self, start: u64, greatest: &[u32]) -> Result<()> {
        let entries = self.owner_entries(start)?;
        if greatest.len() > entries.len() || greatest.windows(2).any(|w| w[1] > w[0]) {
            return Err(misbehaved("greatest versions that do not fit the entries inspected".into()));
        }
        for (i, x) in entries.into_iter().enumerate() {
            let want = if i < greatest.len() { Ordering::Equal } else { Ordering::Less };
            if self.search_ladder(x, greatest.get(i).copied().unwrap_or(0), false)? != want {
                return Err(misbehaved(format!("entry {x} does not hold the greatest version claimed")));
            }
        }
        Ok(())
    }

    /// Owner monitoring: full search ladders at the distinguished entries
    /// right of `start`, each showing the version the owner expects there
    /// (`expected(x)`; None: the label did not exist yet). Stops where the
    /// proof ends (client) or `stop(x)` says so (server). Returns the
    /// rightmost entry checked.
    pub fn owner_monitor(
        &mut self,
        start: u64,
        expected: &dyn Fn(u64) -> Option<u32>,
        stop: &mut dyn FnMut(u64) -> bool,
    ) -> Result<Option<u64>> {
        let mut checked = None;
        self.owner_step(root(self.p.n), start, expected, stop, &mut checked)?;
        Ok(checked)
    }

    fn owner_step(
        &mut self,
        x: u64,
        start: u64,
        expected: &dyn Fn(u64) -> Option<u32>,
        stop: &mut dyn FnMut(u64) -> bool,
        checked: &mut Option<u64>,
    ) -> Result<()> {
        if !self.distinguished(x)? {
            return Ok(());
        }
        if x <= start {
            if let Some(r) = right(x, self.p.n) {
                self.owner_step(r, start, expected, stop, checked)?;
            }
            return Ok(());
        }
        if let Some(l) = left(x) {
            self.owner_step(l, start, expected, stop, checked)?;
        }
        if self.src.exhausted() || stop(x) {
            return Ok(());
        }
        let want = expected(x);
        let outcome = self.search_ladder(x, want.unwrap_or(0), false)?;
        if outcome != if want.is_some() { Ordering::Equal } else { Ordering::Less } {
            return Err(misbehaved(format!("entry {x} does not hold the version its owner expects")));
        }
        *checked = Some(x);
        if let Some(r) = right(x, self.p.n) {
            self.owner_step(r, start, expected, stop, checked)?;
        }
        Ok(())
    }

    /// Updating a label (the draft's update algorithm), as its owner
    /// checks it: versions `new` (ascending, the last the new greatest)
    /// were added at entry `p`; before them the greatest was `prev`. First
    /// a greatest-version search for `prev` in the tree before `p`, then
    /// lookups at `p` for the new versions. Returns whether `p` is
    /// distinguished (if not, the owner must also contact-monitor it).
    ///
    /// Deviation from the draft, step 2.1: it skips entries at or left of
    /// the owner's start or of `prev`'s entry, but an `UpdateRequest`
    /// tells the log neither the start nor (after owner initialization)
    /// does the owner know `prev`'s entry. So every entry is inspected,
    /// and one at or left of `settled` (whichever of the two the checker
    /// knows) may hold less than `prev`: the lookups do not depend on what
    /// either side knows, only the check does, and it is never weaker.
    /// Second deviation: at a distinguished `p` every new version is looked
    /// up too (see below).
    pub fn update_label(&mut self, p: u64, prev: Option<u32>, settled: u64, new: &[u32]) -> Result<bool> {
        let g_new = *new.last().ok_or_else(|| failed("an update adds at least one version"))?;
        if p >= self.p.n {
            return Err(failed(format!("entry {p} is past the log's {} entries", self.p.n)));
        }
        if p > 0 {
            let mut started = false;
            for x in frontier(p) {
                started = started || !self.distinguished(x)?;
                if !started || self.expired(x)? {
                    continue;
                }
                let outcome = self.search_ladder(x, prev.unwrap_or(0), true)?;
                let fine = match prev {
                    None => outcome == Ordering::Less,
                    Some(_) if x <= settled => outcome != Ordering::Greater,
                    Some(_) => outcome == Ordering::Equal,
                };
                if !fine {
                    return Err(misbehaved(format!("entry {x} disagrees with the label's previous greatest version")));
                }
            }
        }
        let distinguished = self.distinguished(p)?;
        if !distinguished && self.search_ladder(p, g_new, true)? != Ordering::Equal {
            return Err(misbehaved(format!("entry {p} does not hold version {g_new} as the greatest")));
        }
        // At a distinguished entry the draft leaves the new versions to
        // owner monitoring, but their values reach the owner now: each is
        // looked up here (a deviation, one prefix proof more), so a value
        // the log never committed to is refused before anyone acts on it.
        let laddered = if distinguished { Vec::new() } else { super::ladder::base(g_new) };
        let extra: Vec<u32> = new.iter().copied().filter(|v| !laddered.contains(v)).collect();
        if !extra.is_empty() {
            self.timestamp(p)?;
            self.src.open(p)?;
            for v in extra {
                if !self.src.lookup(v)? {
                    return Err(misbehaved(format!("version {v} is missing from entry {p}, which added it")));
                }
            }
            self.src.close()?;
        }
        Ok(distinguished)
    }

    /// Walks the `recent` rightmost unexpired distinguished entries, right
    /// to left, stopping at `stop`; returns them in ascending order.
    pub fn walk_distinguished(&mut self, stop: Option<u64>, recent: usize) -> Result<Vec<u64>> {
        let hi = self.newest()?;
        let mut out = Vec::new();
        self.walk(root(self.p.n), 0, hi, stop, recent, &mut out)?;
        out.reverse();
        Ok(out)
    }

    fn walk(&mut self, x: u64, lo: u64, hi: u64, stop: Option<u64>, recent: usize, out: &mut Vec<u64>) -> Result<()> {
        if hi.saturating_sub(lo) < self.p.rmw {
            return Ok(());
        }
        let t = self.timestamp(x)?;
        if let Some(r) = right(x, self.p.n) {
            self.walk(r, t, hi, stop, recent, out)?;
        }
        if stop.is_some_and(|s| x <= s) || out.len() >= recent || self.expired(x)? {
            return Ok(());
        }
        out.push(x);
        if let Some(l) = left(x) {
            self.walk(l, lo, t, stop, recent, out)?;
        }
        Ok(())
    }
}
