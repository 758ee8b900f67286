//! The user's side: builds requests, verifies every response against the
//! retained view (consistency, monotonic timestamps, freshness, signed
//! head), and keeps the retained state the draft requires — the view and,
//! in contact monitoring mode, a monitoring map per looked-up label. State
//! changes only once a response has verified in full.

use std::collections::BTreeMap;

use super::algorithms::{Params, Walker};
use super::combined::CombinedTreeProof;
use super::commitment::{commitment, update_value, verify_search_key};
use super::ladder;
use super::log_tree::{full_subtrees, root_of_heads};
use super::messages::{
    DistinguishedRequest, FullTreeHead, MonitorRequest, OwnerInitRequest, OwnerInitResponse, OwnerMonitorRequest,
    ProofResponse, SearchRequest, SearchResponse, UpdateRequest, UpdateResponse,
};
use super::search_tree::frontier;
use super::session::{Consumer, LabelMaterial, View};
use super::tree_head::{AuditorTreeHead, Configuration, Mode, SignedHead};
use super::wire::{Reader, Writer};
use crate::error::{clock, failed, invalid, Error, Result};
use crate::suite::Hash;

/// What the user must keep monitoring for one label (contact monitoring).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelMonitor {
    /// Position → the greatest version proven there. Versions grow with
    /// positions and none repeats (see [`LabelMonitor::track`]).
    pub entries: BTreeMap<u64, u32>,
    /// Position → its entry's timestamp, where a verified response showed
    /// it (not for maps saved by an older veritree): how a client back from
    /// a long absence knows which positions the log no longer keeps.
    pub stamps: BTreeMap<u64, u64>,
    /// Search keys and commitments of the versions its ladders look up.
    pub material: LabelMaterial,
}

/// Most entries one `ContactMonitorRequest` carries (`entries<0..2^8-1>`):
/// a larger map is monitored a chunk at a time.
pub const MONITOR_CHUNK: usize = 255;

impl LabelMonitor {
    /// Starts monitoring `version` at `position`. The map keeps, per
    /// position, the greatest version proven there, each version once, and
    /// versions growing with positions: the draft's contact monitoring
    /// refuses to go on where a ladder for a lesser version was given on a
    /// greater one's path (its step 3.1.2), so a map out of that order
    /// would make an honest log refuse every later monitoring request. A
    /// version at or left of a greater one is covered by it (the draft's
    /// step 3.1.1 drops it where their paths meet), so it is not added; a
    /// lesser one right of the new version is dropped for the same reason.
    /// A search for an older version therefore never displaces a newer one.
    fn track(&mut self, position: u64, version: u32, stamp: Option<u64>) {
        if self.entries.iter().any(|(&q, &w)| w == version || (q <= position && w > version)) {
            return;
        }
        self.entries.retain(|&q, &mut w| !(q >= position && w < version));
        self.entries.insert(position, version);
        match stamp {
            Some(t) => self.stamps.insert(position, t),
            None => self.stamps.remove(&position),
        };
        let entries = &self.entries;
        self.stamps.retain(|p, _| entries.contains_key(p));
    }

    /// The entries of the next monitoring request: the leftmost
    /// [`MONITOR_CHUNK`]. Once monitored they sit on the frontier (at most
    /// 64 entries), so each chunk after the first shrinks the rest.
    fn chunk(&self) -> Vec<(u64, u32)> {
        self.entries.iter().take(MONITOR_CHUNK).map(|(&p, &v)| (p, v)).collect()
    }
}

/// What a label's owner keeps: the rightmost distinguished entry it has
/// checked, the greatest version it knows, and the search keys and
/// commitments its ladders look up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    pub start: u64,
    /// The start entry's timestamp: once the log's newest entry is a
    /// maximum lifetime younger, the start has expired and the owner must
    /// initialize again (see [`Client::owner_expired`]).
    pub start_timestamp: u64,
    pub greatest: Option<u32>,
    /// The greatest version from each entry on: (entry, version), ascending;
    /// the first is the start's, then one per update processed.
    pub known: Vec<(u64, u32)>,
    pub material: LabelMaterial,
}

impl Owned {
    /// The greatest version the owner expects at entry `x`.
    fn expected(&self, x: u64) -> Option<u32> {
        self.known.iter().rev().find(|k| k.0 <= x).map(|k| k.1)
    }
}

/// Where owner monitoring stands after a verified response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerProgress {
    /// The rightmost distinguished entry checked so far (the owner's start).
    pub start: u64,
    /// Whether that is the rightmost distinguished entry of the tree the
    /// response carried: if not, the owner asks again.
    pub complete: bool,
}

/// What a verified response leaves to keep: its head, the new view and root.
struct Checked {
    head: FullTreeHead,
    view: View,
    root: Hash,
}

/// A verified search result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub version: u32,
    pub value: Vec<u8>,
    /// The search's terminal log entry.
    pub position: u64,
    /// Whether the label must now be monitored (contact monitoring mode).
    pub monitored: bool,
}

/// A verifying KEYTRANS client.
#[derive(Clone, Debug)]
pub struct Client {
    config: Configuration,
    view: View,
    /// The log root of the retained view.
    root: Hash,
    /// The log's signature over the retained view's size and root (empty
    /// before the first head): what peers gossip to detect split views.
    signature: Vec<u8>,
    /// The last auditor tree head verified (third-party auditing).
    auditor: Option<AuditorTreeHead>,
    monitors: BTreeMap<Vec<u8>, LabelMonitor>,
    owned: BTreeMap<Vec<u8>, Owned>,
    recent: usize,
    /// A probe from [`Client::from_gossip`]: its frontier holds placeholders,
    /// so it can only extend its view (see there).
    probe: bool,
}

impl Client {
    /// A client that has seen nothing of the log with `config`; `recent`
    /// must match the log's definition of recent distinguished entries.
    /// Third-party management is refused: its UpdateValue signatures by the
    /// service operator are not checked yet, and the draft forbids consuming
    /// a value before they are.
    pub fn new(config: Configuration, recent: usize) -> Result<Client> {
        supported(&config)?;
        Ok(Client {
            config,
            view: View::default(),
            root: [0; 32],
            signature: Vec::new(),
            auditor: None,
            monitors: BTreeMap::new(),
            owned: BTreeMap::new(),
            recent,
            probe: false,
        })
    }

    pub fn config(&self) -> &Configuration {
        &self.config
    }

    /// The log's root at `size`, computed from the retained view's subtree
    /// heads, when `size` is where one of them ends (the view's size with
    /// some of its low one bits cleared); None otherwise. Two views of a
    /// growing log rarely meet at one size; this compares them when one's
    /// size ends a subtree of the other's.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        let ends = full_subtrees(self.view.size).iter().position(|&(start, len)| start + len == size)?;
        root_of_heads(size, &self.view.heads[..=ends]).ok()
    }

    /// The signed head of the retained view, for gossip; None before any.
    pub fn signed_head(&self) -> Option<SignedHead> {
        (self.view.size > 0).then(|| SignedHead {
            tree_size: self.view.size,
            root: self.root,
            signature: self.signature.clone(),
        })
    }

    /// What this client tells peers of the log (the split-view gossip): its
    /// signed head and the retained view under it, nothing of the labels
    /// it searched or owns. A peer checks it with [`Client::from_gossip`]
    /// and asks its own directory to prove the view consistent.
    pub fn gossip(&self) -> Result<Vec<u8>> {
        if self.view.size == 0 {
            return Err(invalid("this client has seen no tree head yet"));
        }
        let mut view = self.clone();
        view.owned.clear();
        view.monitors.clear();
        view.save()
    }

    /// A peer's gossip as a probe of the log with `config`: its signed head
    /// verified (VerificationError for a forged one) and the subtree heads
    /// under it, nothing else. Its distinguished request extends that view
    /// to the log's current head, which proves the two consistent.
    pub fn from_gossip(gossip: &[u8], config: &Configuration) -> Result<Client> {
        let peer = Client::restore(gossip)?;
        if &peer.config != config {
            return Err(failed("the gossip is about another log"));
        }
        if !peer.owned.is_empty() || !peer.monitors.is_empty() || peer.view.size == 0 {
            return Err(invalid("gossip carries a view and nothing else"));
        }
        if root_of_heads(peer.view.size, &peer.view.heads)? != peer.root {
            return Err(failed("the gossiped view's subtrees do not make its root"));
        }
        let head = peer.signed_head().expect("non-empty view");
        SignedHead::verified(&head.to_bytes()?, config)?;
        // The signature and root cover the size and the subtree heads only.
        // The frontier's timestamps and prefix roots, the auditor head and
        // `recent` are the peer's word: a peer that changed them would make
        // the honest directory's proof fail, blamed as a split view. So the
        // probe keeps none of them and only extends its view: that reads no
        // retained entry, and, asking for no distinguished entries, its walk
        // reads only frontier entries it holds already, so it follows the
        // log's path whatever they say. Placeholders of 0 keep the proven
        // timestamps in order (all retained entries lie to their left); the
        // check this gives up, that the new ones are no older than the
        // peer's, the peer's own client made.
        let placeholders = frontier(peer.view.size).into_iter().map(|x| (x, 0, [0; 32])).collect();
        let view = View { frontier: placeholders, ..peer.view };
        Ok(Client { view, auditor: None, recent: 0, probe: true, ..peer })
    }

    /// Refuses what a probe cannot verify: anything but a view update.
    fn not_probe(&self) -> Result<()> {
        if self.probe {
            return Err(invalid("a probe from gossip can only extend its view (a distinguished request)"));
        }
        Ok(())
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    pub fn monitors(&self) -> &BTreeMap<Vec<u8>, LabelMonitor> {
        &self.monitors
    }

    fn last(&self) -> Option<u64> {
        (self.view.size > 0).then_some(self.view.size)
    }

    pub fn search_request(&self, label: &[u8], version: Option<u32>) -> Result<Vec<u8>> {
        self.not_probe()?;
        SearchRequest { last: self.last(), label: label.to_vec(), version }.to_bytes()
    }

    /// The monitoring request for a label this client monitors.
    pub fn monitor_request(&self, label: &[u8]) -> Result<Vec<u8>> {
        let m = self.monitors.get(label).ok_or_else(|| invalid("this client does not monitor that label"))?;
        MonitorRequest { last: self.last(), label: label.to_vec(), entries: m.chunk() }.to_bytes()
    }

    /// The labels this client owns, and what it knows of each.
    pub fn owned(&self) -> &BTreeMap<Vec<u8>, Owned> {
        &self.owned
    }

    /// Starts owning `label` from `start`, an unexpired distinguished entry
    /// (from [`Client::verify_distinguished`]).
    pub fn owner_init_request(&self, label: &[u8], start: u64) -> Result<Vec<u8>> {
        self.not_probe()?;
        OwnerInitRequest { last: self.last(), label: label.to_vec(), start }.to_bytes()
    }

    /// The draft's `UpdateRequest` for an owned label: asks to add
    /// `values` as new versions or, with none, for the versions made since
    /// the greatest one the owner knows.
    pub fn update_request(&self, label: &[u8], values: &[Vec<u8>]) -> Result<Vec<u8>> {
        let o = self.owned.get(label).ok_or_else(|| invalid("this client does not own that label"))?;
        let greatest_version = o.greatest;
        UpdateRequest { last: self.last(), label: label.to_vec(), greatest_version, values: values.to_vec() }.to_bytes()
    }

    /// The owner monitoring request for an owned label.
    pub fn owner_monitor_request(&self, label: &[u8]) -> Result<Vec<u8>> {
        let o = self.owned.get(label).ok_or_else(|| invalid("this client does not own that label"))?;
        let req = OwnerMonitorRequest {
            last: self.last(),
            label: label.to_vec(),
            entries: Vec::new(),
            start: o.start,
            greatest_version: o.greatest,
        };
        req.to_bytes()
    }

    /// Asks for the recent distinguished entries after `stop`; a probe
    /// asks for none, whatever `stop` (see [`Client::from_gossip`]).
    pub fn distinguished_request(&self, stop: Option<u64>) -> Vec<u8> {
        let stop = if self.probe { Some(u64::MAX) } else { stop };
        DistinguishedRequest { last: self.last(), stop }.to_bytes()
    }

    /// The last auditor tree head verified, if the log has an auditor.
    pub fn auditor_head(&self) -> Option<&AuditorTreeHead> {
        self.auditor.as_ref()
    }

    /// The log size a response's head claims, after the draft's head checks
    /// that need no root, and the auditor's size whose root the proof must
    /// also yield.
    fn size_of(&self, head: &FullTreeHead, last: Option<u64>) -> Result<(u64, Option<u64>)> {
        if last != self.last() {
            return Err(invalid("the request was not made from this client's current view"));
        }
        match head {
            FullTreeHead::Same => {
                Ok((last.ok_or_else(|| failed("the log answered 'same head' to a first request"))?, None))
            }
            FullTreeHead::Updated { head, auditor } => {
                if last.is_some_and(|l| head.tree_size <= l) {
                    return Err(failed(format!(
                        "the log rolled back or stood still: {} entries after {}",
                        head.tree_size,
                        last.unwrap_or(0)
                    )));
                }
                if head.tree_size == 0 {
                    return Err(failed("a tree head of 0 entries"));
                }
                if let (Some(a), Mode::ThirdPartyAuditing { auditor_start_pos, .. }) = (auditor, &self.config.mode) {
                    if a.tree_size == 0 || a.tree_size > head.tree_size {
                        return Err(failed(format!(
                            "the auditor head covers {} entries of a log of {}",
                            a.tree_size, head.tree_size
                        )));
                    }
                    if self.auditor.as_ref().is_some_and(|prev| prev.tree_size < *auditor_start_pos) {
                        return Err(failed("the auditor started after the head this client last saw"));
                    }
                }
                Ok((head.tree_size, auditor.as_ref().map(|a| a.tree_size)))
            }
        }
    }

    /// The checks that close every response: the signed head over the
    /// computed root, the auditor's head over the root at its size, and the
    /// newest entry's age against the local clock.
    fn check_head(&self, head: &FullTreeHead, root: &Hash, view: &View, also: Option<Hash>, now: u64) -> Result<()> {
        let newest = view.newest_timestamp().expect("a verified view has a frontier");
        match head {
            FullTreeHead::Same if *root != self.root => {
                return Err(failed("the log's root changed under the same tree head"))
            }
            // A probe shown nothing new has only placeholders to date.
            FullTreeHead::Same if self.probe => return Ok(()),
            FullTreeHead::Same => {}
            FullTreeHead::Updated { head, auditor } => {
                head.verify(&self.config, root)?;
                if let (Some(a), Mode::ThirdPartyAuditing { max_auditor_lag, .. }) = (auditor, &self.config.mode) {
                    if newest < a.timestamp || newest - a.timestamp > *max_auditor_lag {
                        return Err(failed(format!(
                            "the auditor's head is {} ms behind the log, more than it may lag",
                            newest.saturating_sub(a.timestamp)
                        )));
                    }
                    a.verify(&self.config, &also.expect("asked for with the auditor head"))?;
                }
            }
        }
        if newest > now.saturating_add(self.config.max_ahead) {
            return Err(clock(format!("the newest log entry is {} ms ahead of this clock", newest - now)));
        }
        if now.saturating_sub(newest) > self.config.max_behind {
            return Err(failed(format!("the newest log entry is {} ms old: a stale tree", now - newest)));
        }
        Ok(())
    }

    fn params(&self, n: u64) -> Params {
        Params { n, rmw: self.config.reasonable_monitoring_window, maximum_lifetime: self.config.maximum_lifetime }
    }

    /// Runs `algorithm` over a received proof, after updating the view
    /// from `last`, and checks all the response shows: the proof's leftovers
    /// and inclusion, the signed heads, the clock. Returns the algorithm's
    /// result and what [`Client::commit`] keeps; changes nothing itself.
    fn check<T>(
        &self,
        head: &FullTreeHead,
        last: Option<u64>,
        proof: &CombinedTreeProof,
        material: &LabelMaterial,
        now: u64,
        algorithm: impl FnOnce(&mut Walker<'_>) -> Result<T>,
    ) -> Result<(T, Checked)> {
        let (n, also) = self.size_of(head, last)?;
        let mut consumer = Consumer::new(proof, material, n, &self.view, also);
        let mut w = Walker::new(&mut consumer, self.params(n));
        w.update_view(last).map_err(blame)?;
        let out = algorithm(&mut w).map_err(blame)?;
        let (root, view, also_root) = consumer.finish().map_err(blame)?;
        self.check_head(head, &root, &view, also_root, now).map_err(blame)?;
        Ok((out, Checked { head: head.clone(), view, root }))
    }

    /// Verifies a search response (for `request`, made by this client) at
    /// local time `now` (ms since the epoch), and retains what it must.
    pub fn verify_search(&mut self, request: &[u8], response: &[u8], now: u64) -> Result<Found> {
        let req = SearchRequest::from_bytes(request)?;
        let resp = SearchResponse::from_bytes(response, &req, &self.config).map_err(blame)?;
        let t = req.version.or(resp.version).expect("one of the two names the version");
        let versions = ladder::base(t);
        if resp.binary_ladder.len() != versions.len() {
            return Err(failed(format!(
                "the binary ladder has {} steps, not {}",
                resp.binary_ladder.len(),
                versions.len()
            )));
        }
        let update = update_value(&resp.value).map_err(blame)?;
        let mut material = LabelMaterial::new();
        for (&v, step) in versions.iter().zip(&resp.binary_ladder) {
            let key = verify_search_key(&self.config.vrf_public_key, &req.label, v, &step.proof).map_err(blame)?;
            let c = match (v == t, step.commitment) {
                (true, Some(_)) => return Err(failed("the ladder carries a commitment for the target version")),
                (true, None) => Some(commitment(&resp.opening, &req.label, t, &update).map_err(blame)?),
                (false, c) => c,
            };
            material.insert(v, (key, c));
        }
        let ((position, rightmost), checked) =
            self.check(&resp.full_tree_head, req.last, &resp.search, &material, now, |w| {
                let position = match req.version {
                    None => w.greatest_version(t)?,
                    Some(_) => w.fixed_version(t)?,
                };
                // The terminal entry's ladder read its timestamp already.
                Ok(((position, w.timestamp(position)?), w.rightmost_distinguished()?))
            })?;
        let (position, stamp) = position;
        let monitored = matches!(self.config.mode, Mode::ContactMonitoring) && rightmost.is_none_or(|d| position > d);
        if monitored {
            let m = self.monitors.entry(req.label.clone()).or_default();
            m.track(position, t, Some(stamp));
            for v in ladder::monitoring(t) {
                m.material.insert(v, material[&v]);
            }
        }
        self.commit(checked);
        Ok(Found { version: t, value: resp.value, position, monitored })
    }

    /// Verifies a contact monitoring response for `request` at time `now`.
    pub fn verify_monitor(&mut self, request: &[u8], response: &[u8], now: u64) -> Result<()> {
        let req = MonitorRequest::from_bytes(request)?;
        let monitor =
            self.monitors.get(&req.label).ok_or_else(|| invalid("this client does not monitor that label"))?;
        if req.entries != monitor.chunk() {
            return Err(invalid("the request is not this client's monitoring map"));
        }
        let resp = ProofResponse::from_bytes(response, &self.config).map_err(blame)?;
        let mut entries: BTreeMap<u64, u32> = req.entries.iter().copied().collect();
        let (moved, checked) =
            self.check(&resp.full_tree_head, req.last, &resp.proof, &monitor.material, now, |w| {
                w.contact_monitor(&mut entries)?;
                // A position the map moved to had a ladder: its timestamp is known.
                let sent: BTreeMap<u64, u32> = req.entries.iter().copied().collect();
                entries
                    .iter()
                    .map(|(&p, &v)| Ok((p, v, if sent.contains_key(&p) { None } else { Some(w.timestamp(p)?) })))
                    .collect::<Result<Vec<_>>>()
            })?;
        let m = self.monitors.get_mut(&req.label).expect("present");
        let old_stamps = m.stamps.clone();
        for (p, _) in &req.entries {
            m.entries.remove(p);
        }
        for (p, v, stamp) in moved {
            m.track(p, v, stamp.or_else(|| old_stamps.get(&p).copied()));
        }
        if m.entries.is_empty() {
            self.monitors.remove(&req.label);
        }
        self.commit(checked);
        Ok(())
    }

    /// Verifies an owner initialization response; returns the label's
    /// greatest version at the starting entry, which the owner then keeps.
    pub fn verify_owner_init(&mut self, request: &[u8], response: &[u8], now: u64) -> Result<Option<u32>> {
        let req = OwnerInitRequest::from_bytes(request)?;
        let resp = OwnerInitResponse::from_bytes(response, &self.config).map_err(blame)?;
        let g = &resp.greatest_versions;
        let mut versions: Vec<u32> = g.iter().flat_map(|&v| ladder::base(v)).chain([0]).collect();
        versions.sort_unstable();
        versions.dedup();
        if resp.binary_ladder.len() != versions.len() {
            return Err(failed(format!("{} ladder steps, not {}", resp.binary_ladder.len(), versions.len())));
        }
        let mut material = LabelMaterial::new();
        for (&v, step) in versions.iter().zip(&resp.binary_ladder) {
            if g.contains(&v) && step.commitment.is_none() {
                return Err(failed(format!("no commitment for version {v}, which the log says exists")));
            }
            let key = verify_search_key(&self.config.vrf_public_key, &req.label, v, &step.proof).map_err(blame)?;
            material.insert(v, (key, step.commitment));
        }
        let (start_timestamp, checked) =
            self.check(&resp.full_tree_head, req.last, &resp.init, &material, now, |w| {
                w.owner_init(req.start, g)?;
                w.timestamp(req.start)
            })?;
        let greatest = g.first().copied();
        let known = greatest.map(|g| (req.start, g)).into_iter().collect();
        self.owned.insert(req.label, Owned { start: req.start, start_timestamp, greatest, known, material });
        self.commit(checked);
        Ok(greatest)
    }

    /// Verifies an owner monitoring response: the distinguished entries
    /// right of the owner's start hold exactly the versions it knows. The
    /// owner's start moves to the rightmost entry checked. The log may stop
    /// early (the draft lets it bound its answer), so the result says
    /// whether the start is now the tree's rightmost distinguished entry;
    /// if not, the owner asks again. A response that neither gets there
    /// nor checks a single entry toward it is refused: the draft's owner
    /// queries "until ... successfully reached the rightmost distinguished
    /// log entry", and a log that stops before the first entry it should
    /// check hides that entry from its owner. (An honest log stops there
    /// only when the entry holds a version the owner has not heard of: the
    /// owner then asks for it with an `UpdateRequest` and monitors again.)
    pub fn verify_owner_monitor(&mut self, request: &[u8], response: &[u8], now: u64) -> Result<OwnerProgress> {
        let req = OwnerMonitorRequest::from_bytes(request)?;
        let owned = self.owned.get(&req.label).ok_or_else(|| invalid("this client does not own that label"))?;
        if (req.start, req.greatest_version) != (owned.start, owned.greatest) || !req.entries.is_empty() {
            return Err(invalid("the request is not this client's owner state"));
        }
        let resp = ProofResponse::from_bytes(response, &self.config).map_err(blame)?;
        let ((moved, rightmost), checked) =
            self.check(&resp.full_tree_head, req.last, &resp.proof, &owned.material, now, |w| {
                let moved = w.owner_monitor(owned.start, &|x| owned.expected(x), &mut |_| false)?;
                let moved = moved.map(|x| Ok((x, w.timestamp(x)?))).transpose()?;
                // Frontier entries only: every one is in the proof already.
                Ok((moved, w.rightmost_distinguished()?))
            })?;
        let (start, start_timestamp) = moved.unwrap_or((owned.start, owned.start_timestamp));
        let complete = rightmost.is_none_or(|r| r <= start);
        if !complete && moved.is_none() {
            return Err(failed(format!(
                "owner monitoring made no progress: it stopped at entry {start}, before the rightmost \
                 distinguished entry {}",
                rightmost.unwrap_or(0)
            )));
        }
        let owned = self.owned.get_mut(&req.label).expect("owned");
        (owned.start, owned.start_timestamp) = (start, start_timestamp);
        self.commit(checked);
        Ok(OwnerProgress { start, complete })
    }

    /// Whether the owner's start for `label` has passed the log's maximum
    /// lifetime in the retained view (the log no longer keeps what owner
    /// monitoring from there needs): the owner then initializes again from
    /// a recent distinguished entry, after hearing of the versions it can
    /// through `UpdateRequest`s. Versions the new start holds beyond those
    /// were made while this client was away and can no longer be checked
    /// one by one.
    pub fn owner_expired(&self, label: &[u8]) -> Result<bool> {
        let o = self.owned.get(label).ok_or_else(|| invalid("this client does not own that label"))?;
        let newest = self.view.newest_timestamp().unwrap_or(0);
        Ok(self.config.maximum_lifetime.is_some_and(|ml| newest.saturating_sub(o.start_timestamp) >= ml))
    }

    /// Stops monitoring the entries of `label`'s map whose positions have
    /// passed the log's maximum lifetime in the retained view, and returns
    /// them as (position, version): the fallback when the log refuses to
    /// monitor them, as it must once the entries their paths cross have
    /// expired. A client away that long can no longer make sure those
    /// versions stayed visible until their owner could see them (the
    /// draft's case of something possibly missed). Positions of maps saved
    /// by an older veritree have no known timestamp and stay.
    pub fn forget_expired(&mut self, label: &[u8]) -> Vec<(u64, u32)> {
        let (Some(ml), Some(newest)) = (self.config.maximum_lifetime, self.view.newest_timestamp()) else {
            return Vec::new();
        };
        let Some(m) = self.monitors.get_mut(label) else { return Vec::new() };
        let gone: Vec<(u64, u32)> = m
            .entries
            .iter()
            .filter(|(p, _)| m.stamps.get(p).is_some_and(|&t| newest.saturating_sub(t) >= ml))
            .map(|(&p, &v)| (p, v))
            .collect();
        for (p, _) in &gone {
            m.entries.remove(p);
            m.stamps.remove(p);
        }
        if m.entries.is_empty() {
            self.monitors.remove(label);
        }
        gone
    }

    /// Judges a log's refusal of a request from this client's view as one
    /// naming more entries than the log serves (`head`: the signed head it
    /// came with). Returns the log's head when it proves a rollback: signed
    /// by the log, and smaller than the head this client verified before.
    /// VerificationError when the refusal proves nothing of the kind (the
    /// head is forged, or not smaller): the log refused a request it should
    /// have answered.
    pub fn judge_behind(&self, head: &[u8]) -> Result<SignedHead> {
        let theirs = SignedHead::verified(head, &self.config).map_err(blame)?;
        if theirs.tree_size >= self.view.size {
            return Err(failed(format!(
                "the log refused a view of {} entries as ahead of it, with a signed head of {}",
                self.view.size, theirs.tree_size
            )));
        }
        Ok(theirs)
    }

    /// Verifies an update response for an owned label (the draft's update
    /// algorithm): the versions it reports were added at its entry, right
    /// of what the owner knew, consistently with the tree before. Returns
    /// them, (version, value), for the application to judge (the log may
    /// list values other than the request's: the draft's answer when the
    /// label moved on first); the owner now expects them, and
    /// contact-monitors their entry if it is not distinguished.
    pub fn verify_update(&mut self, request: &[u8], response: &[u8], now: u64) -> Result<Vec<(u32, Vec<u8>)>> {
        let req = UpdateRequest::from_bytes(request)?;
        let owned = self.owned.get(&req.label).ok_or_else(|| invalid("this client does not own that label"))?;
        if req.greatest_version != owned.greatest {
            return Err(invalid("the request is not this client's owner state"));
        }
        let resp = UpdateResponse::from_bytes(response, &self.config).map_err(blame)?;
        let p = resp.position;
        let settled = owned.known.last().map_or(owned.start, |k| k.0.max(owned.start));
        if p <= settled {
            return Err(failed(format!("new versions at entry {p}, not right of entry {settled}")));
        }
        let values = if resp.values.is_empty() { req.values } else { resp.values };
        if values.is_empty() || values.len() != resp.openings.len() {
            return Err(failed("an update response without matching values and openings"));
        }
        let first = owned.greatest.map_or(Some(0), |g| g.checked_add(1));
        let first = first.filter(|f| f.checked_add(values.len() as u32).is_some());
        let first = first.ok_or_else(|| failed("versions past 2^32 - 1"))?;
        let new: Vec<u32> = (0..values.len() as u32).map(|i| first + i).collect();
        let g_new = *new.last().expect("non-empty");
        let known = owned.greatest.map_or(vec![0], ladder::base);
        let mut versions: Vec<u32> = ladder::base(g_new).into_iter().chain(new.iter().copied()).collect();
        versions.sort_unstable();
        versions.dedup();
        versions.retain(|v| !known.contains(v));
        if resp.binary_ladder.len() != versions.len() {
            return Err(failed(format!("{} ladder steps, not {}", resp.binary_ladder.len(), versions.len())));
        }
        let mut material = owned.material.clone();
        for (&v, step) in versions.iter().zip(&resp.binary_ladder) {
            if step.commitment.is_some() && owned.greatest.is_none_or(|g| v >= g) {
                return Err(failed(format!("a commitment for version {v}, which the owner must compute")));
            }
            let key = verify_search_key(&self.config.vrf_public_key, &req.label, v, &step.proof).map_err(blame)?;
            material.insert(v, (key, step.commitment));
        }
        for ((&v, value), opening) in new.iter().zip(&values).zip(&resp.openings) {
            let c = commitment(opening, &req.label, v, &update_value(value).map_err(blame)?).map_err(blame)?;
            let key = material.get(&v).ok_or_else(|| failed(format!("no VRF proof for new version {v}")))?.0;
            material.insert(v, (key, Some(c)));
        }
        let prev = owned.greatest;
        let ((distinguished, p_stamp), checked) =
            self.check(&resp.full_tree_head, req.last, &resp.update, &material, now, |w| {
                let distinguished = w.update_label(p, prev, settled, &new)?;
                // An undistinguished entry had a ladder: its timestamp is known.
                Ok((distinguished, if distinguished { 0 } else { w.timestamp(p)? }))
            })?;
        let owned = self.owned.get_mut(&req.label).expect("owned");
        owned.greatest = Some(g_new);
        owned.known.push((p, g_new));
        owned.material = material.clone();
        if !distinguished && matches!(self.config.mode, Mode::ContactMonitoring) {
            let m = self.monitors.entry(req.label.clone()).or_default();
            m.track(p, g_new, Some(p_stamp));
            for v in ladder::monitoring(g_new) {
                if let Some(&km) = material.get(&v) {
                    m.material.insert(v, km);
                }
            }
        }
        self.commit(checked);
        Ok(new.into_iter().zip(values).collect())
    }

    /// Verifies a distinguished-heads response; returns the recent
    /// distinguished entries (index, timestamp), ascending.
    pub fn verify_distinguished(&mut self, request: &[u8], response: &[u8], now: u64) -> Result<Vec<(u64, u64)>> {
        let req = DistinguishedRequest::from_bytes(request)?;
        if self.probe && req.stop != Some(u64::MAX) {
            return Err(invalid("a probe from gossip asks for no distinguished entries"));
        }
        let resp = ProofResponse::from_bytes(response, &self.config).map_err(blame)?;
        let (stamped, checked) =
            self.check(&resp.full_tree_head, req.last, &resp.proof, &LabelMaterial::new(), now, |w| {
                let found = w.walk_distinguished(req.stop, self.recent)?;
                found.into_iter().map(|x| Ok((x, w.timestamp(x)?))).collect::<Result<Vec<_>>>()
            })?;
        self.commit(checked);
        Ok(stamped)
    }

    /// Keeps what a verified response showed.
    fn commit(&mut self, checked: Checked) {
        if let FullTreeHead::Updated { head, auditor } = checked.head {
            self.signature = head.signature;
            if let Some(a) = auditor {
                self.auditor = Some(a);
            }
        }
        self.view = checked.view;
        self.root = checked.root;
    }

    /// The retained state, to save and later [`Client::restore`]: the
    /// configuration, the view and the monitoring maps (no secrets). Every
    /// count is 32 bits wide, so any state this client holds round-trips.
    pub fn save(&self) -> Result<Vec<u8>> {
        self.not_probe()?;
        let mut w = Writer::default();
        w.fixed(STATE_MAGIC);
        w.vector(&self.config.to_bytes()?, u32::MAX.into())?;
        w.u64(self.recent as u64).u64(self.view.size).fixed(&self.root);
        w.vector(&self.signature, u16::MAX.into())?;
        match &self.auditor {
            None => w.u8(0),
            Some(a) => {
                w.u8(1);
                a.encode(&mut w)?;
                &mut w
            }
        };
        w.u32(self.view.heads.len() as u32);
        for h in &self.view.heads {
            w.fixed(h);
        }
        w.u32(self.view.frontier.len() as u32);
        for (x, t, r) in &self.view.frontier {
            w.u64(*x).u64(*t).fixed(r);
        }
        w.u32(self.owned.len() as u32);
        for (label, o) in &self.owned {
            w.vector(label, 255)?.u64(o.start).u64(o.start_timestamp);
            match o.greatest {
                None => w.u8(0),
                Some(g) => w.u8(1).u32(g),
            };
            w.u32(o.known.len() as u32);
            for (p, v) in &o.known {
                w.u64(*p).u32(*v);
            }
            write_material(&mut w, &o.material)?;
        }
        w.u32(self.monitors.len() as u32);
        for (label, m) in &self.monitors {
            w.vector(label, 255)?;
            w.u32(m.entries.len() as u32);
            for (p, v) in &m.entries {
                w.u64(*p).u32(*v);
                match m.stamps.get(p) {
                    None => w.u8(0),
                    Some(t) => w.u8(1).u64(*t),
                };
            }
            write_material(&mut w, &m.material)?;
        }
        Ok(w.buf)
    }

    /// A client from [`Client::save`]'s bytes, decoded strictly. The
    /// previous format (`cli4`, one-byte counts, no start timestamps) loads
    /// too: its owned labels count as expired, so the owner initializes
    /// again on its next monitoring, which raises nothing unless versions
    /// were made meanwhile that it can no longer check.
    pub fn restore(state: &[u8]) -> Result<Client> {
        let mut r = Reader::new(state, "client state");
        let magic = r.fixed(STATE_MAGIC.len())?;
        let v4 = magic == STATE_MAGIC_V4;
        if magic != STATE_MAGIC && !v4 {
            return Err(invalid("not a veritree KEYTRANS client state (or one from a newer veritree)"));
        }
        let count = |r: &mut Reader<'_>| if v4 { r.u8().map(u32::from) } else { r.u32() };
        let config = Configuration::from_bytes(r.vector(u32::MAX.into())?)?;
        supported(&config)?;
        let recent = usize::try_from(r.u64()?).map_err(|_| invalid("recent count too large"))?;
        let size = r.u64()?;
        let root = r.array()?;
        let signature = r.vector(u16::MAX.into())?.to_vec();
        let auditor = r.optional(AuditorTreeHead::decode)?;
        let heads = (0..count(&mut r)?).map(|_| r.array()).collect::<Result<_>>()?;
        let frontier = (0..count(&mut r)?).map(|_| Ok((r.u64()?, r.u64()?, r.array()?))).collect::<Result<_>>()?;
        let mut owned = BTreeMap::new();
        for _ in 0..r.u32()? {
            let label = r.vector(255)?.to_vec();
            let start = r.u64()?;
            let start_timestamp = if v4 { 0 } else { r.u64()? };
            let greatest = r.optional(|r| r.u32())?;
            let known = (0..r.u32()?).map(|_| Ok((r.u64()?, r.u32()?))).collect::<Result<_>>()?;
            let material = read_material(&mut r)?;
            owned.insert(label, Owned { start, start_timestamp, greatest, known, material });
        }
        let mut monitors = BTreeMap::new();
        for _ in 0..r.u32()? {
            let label = r.vector(255)?.to_vec();
            let entries: Vec<(u64, u32, Option<u64>)> = (0..count(&mut r)?)
                .map(|_| Ok((r.u64()?, r.u32()?, if v4 { None } else { r.optional(|r| r.u64())? })))
                .collect::<Result<_>>()?;
            // Tracked again: a map saved before `track` kept its order (a
            // repeated version, an older one right of a newer) is one the
            // log refuses; this heals it without losing the newest version.
            let mut m = LabelMonitor { material: read_material(&mut r)?, ..LabelMonitor::default() };
            for (p, v, stamp) in entries.into_iter().rev() {
                m.track(p, v, stamp);
            }
            monitors.insert(label, m);
        }
        r.finish()?;
        let view = View { size, heads, frontier };
        if view.heads.len() != size.count_ones() as usize || (size > 0) == view.frontier.is_empty() {
            return Err(invalid("the client state's view does not fit its size"));
        }
        Ok(Client { config, view, root, signature, auditor, monitors, owned, recent, probe: false })
    }
}

const STATE_MAGIC: &[u8; 16] = b"veritree kt cli5";
const STATE_MAGIC_V4: &[u8; 16] = b"veritree kt cli4";

/// Refuses the deployment modes this client cannot verify.
fn supported(config: &Configuration) -> Result<()> {
    if matches!(config.mode, Mode::ThirdPartyManagement { .. }) {
        return Err(invalid(
            "third-party management is not supported: the service operator's signatures on values are not \
             checked yet, and the draft forbids consuming a value before they are",
        ));
    }
    Ok(())
}

/// What a response carried that is malformed or does not fit (its
/// decoding, an index out of range) is as much a failed verification as a
/// forged proof; clock trouble stays what it is.
fn blame(e: Error) -> Error {
    match e {
        Error::InvalidArgument(m) | Error::OutOfRange(m) => failed(m),
        e => e,
    }
}

fn write_material(w: &mut Writer, material: &LabelMaterial) -> Result<()> {
    let n = u16::try_from(material.len()).map_err(|_| invalid("too many ladder versions to save"))?;
    w.buf.extend_from_slice(&n.to_be_bytes());
    for (v, (k, c)) in material {
        w.u32(*v).fixed(k);
        match c {
            None => w.u8(0),
            Some(c) => w.u8(1).fixed(c),
        };
    }
    Ok(())
}

fn read_material(r: &mut Reader<'_>) -> Result<LabelMaterial> {
    (0..r.u16()?).map(|_| Ok((r.u32()?, (r.array()?, r.optional(|r| r.array())?)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration for state that never meets a log (keys unused).
    fn config() -> Configuration {
        Configuration {
            mode: Mode::ContactMonitoring,
            signature_public_key: vec![1; 32],
            vrf_public_key: vec![2; 32],
            max_ahead: 1,
            max_behind: 1,
            reasonable_monitoring_window: 1,
            maximum_lifetime: Some(1000),
        }
    }

    /// A small obviously-correct model of what a monitoring map must
    /// satisfy after any sequence of tracked (position, version) pairs.
    fn well_formed(m: &LabelMonitor) -> bool {
        let versions: Vec<u32> = m.entries.values().copied().collect();
        versions.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn tracking_keeps_versions_growing_with_positions_and_never_drops_the_newest() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for _ in 0..2000 {
            let mut m = LabelMonitor::default();
            let mut newest: Option<u32> = None;
            for _ in 0..1 + next(12) {
                let (p, v) = (next(40), next(10) as u32);
                let before = m.entries.clone();
                m.track(p, v, None);
                newest = newest.max(Some(v));
                assert!(well_formed(&m), "{before:?} + ({p}, {v}) -> {:?}", m.entries);
                assert!(m.entries.values().any(|&w| Some(w) == newest), "the newest version was dropped");
                // An older version never displaces a newer one.
                for (q, w) in before {
                    assert!(w < v || m.entries.get(&q) == Some(&w), "({q}, {w}) lost to ({p}, {v})");
                }
            }
        }
    }

    #[test]
    fn roots_at_the_ends_of_the_retained_subtrees() {
        use crate::kt::log_tree::LogTree;
        let mut tree = LogTree::default();
        for i in 0..23u8 {
            tree.push([i; 32]);
        }
        let mut c = Client::new(config(), 4).unwrap();
        c.view = View { size: 23, heads: tree.full_subtree_heads(23), frontier: vec![(22, 0, [0; 32])] };
        for size in 0..30 {
            let expected = [16, 20, 22, 23].contains(&size).then(|| tree.root(size).unwrap());
            assert_eq!(c.root_at(size), expected, "size {size}");
        }
    }

    #[test]
    fn large_maps_are_monitored_in_chunks_and_saved_whole() {
        let mut c = Client::new(config(), 4).unwrap();
        let mut m = LabelMonitor::default();
        for i in 0..600u32 {
            m.track(u64::from(i) * 3, i, Some(u64::from(i)));
        }
        assert_eq!(m.entries.len(), 600);
        assert_eq!(m.chunk().len(), MONITOR_CHUNK);
        assert_eq!(m.chunk()[0], (0, 0));
        c.monitors.insert(b"busy".to_vec(), m);
        c.owned
            .insert(b"mine".to_vec(), Owned { start: 7, start_timestamp: 99, greatest: Some(3), ..Owned::default() });
        let back = Client::restore(&c.save().unwrap()).unwrap();
        assert_eq!(back.monitors, c.monitors);
        assert_eq!(back.owned, c.owned);
        let req = MonitorRequest::from_bytes(&back.monitor_request(b"busy").unwrap()).unwrap();
        assert_eq!(req.entries.len(), MONITOR_CHUNK);
    }

    #[test]
    fn the_previous_state_format_loads_with_owners_to_initialize_again() {
        // The cli4 layout, written out: one-byte counts, no start timestamp.
        let mut w = Writer::default();
        w.fixed(STATE_MAGIC_V4);
        w.vector(&config().to_bytes().unwrap(), u32::MAX.into()).unwrap();
        w.u64(4).u64(1).fixed(&[5; 32]);
        w.vector(&[6; 64], u16::MAX.into()).unwrap();
        w.u8(0); // no auditor head
        w.u8(1).fixed(&[7; 32]); // heads
        w.u8(1).u64(0).u64(5000).fixed(&[8; 32]); // frontier
        w.u32(1).vector(b"mine", 255).unwrap().u64(0).u8(1).u32(2).u32(1).u64(0).u32(2);
        w.buf.extend_from_slice(&0u16.to_be_bytes());
        // A map the old client could make and the log refuses: version 1
        // twice, and version 5 left of version 3.
        w.u32(1).vector(b"theirs", 255).unwrap().u8(4);
        for (p, v) in [(1u64, 1u32), (4, 1), (6, 5), (9, 3)] {
            w.u64(p).u32(v);
        }
        w.buf.extend_from_slice(&0u16.to_be_bytes());
        let c = Client::restore(&w.buf).unwrap();
        assert_eq!(c.view.size, 1);
        assert_eq!(c.owned[&b"mine"[..]].greatest, Some(2));
        assert_eq!(c.owned[&b"mine"[..]].known, vec![(0, 2)]);
        let healed: Vec<(u64, u32)> = c.monitors[&b"theirs"[..]].entries.iter().map(|(&p, &v)| (p, v)).collect();
        assert_eq!(healed, vec![(4, 1), (6, 5)], "each version once, growing, the newest kept");
        assert!(c.owner_expired(b"mine").unwrap(), "no start timestamp: initialize again");
        // Cut anywhere, or with a byte more, it is refused with a message.
        for cut in [1, 17, w.buf.len() - 1] {
            let err = Client::restore(&w.buf[..cut]).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        }
        let mut longer = w.buf.clone();
        longer.push(0);
        assert!(Client::restore(&longer).is_err());
        let mut newer = w.buf.clone();
        newer[15] = b'9';
        assert!(matches!(Client::restore(&newer), Err(Error::InvalidArgument(m)) if m.contains("newer veritree")));
    }
}
