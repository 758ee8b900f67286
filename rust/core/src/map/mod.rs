//! A versioned sparse Merkle prefix tree over 256-bit keys: the KEYTRANS
//! prefix tree, with batch updates, lookups and multi-key proofs at any
//! retained version, in memory or on disk.

mod bulk;
mod check;
mod disk;
mod node;
mod proof;
mod update;
mod versions;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rayon::prelude::*;

pub use crate::prefix::{
    evaluate_prefix_proof, prefix_proof_inclusions, prefix_proof_insert, prefix_proof_len, verify_prefix_proof, Key,
    MapSuite, Value, MAX_PROOF_KEYS, ZERO,
};

use crate::prefix::hex;
use crate::storage::slab::{RawArray, Slab};
use crate::storage::posix::{io_error, Modes};
use disk::{Disk, Record};
use node::{bit, key_cmp, Arena, Leaf, Node, NodeRef, KINDS};
pub use node::TwigCache;
use update::{apply, twig_from, Applied, Op};
use versions::{Version, Versions};

use crate::error::{closed, damaged, invalid, Error, Result};
use crate::suite::Hash;

/// The node and version files of a map kept in files whose owner records
/// what is committed ([`Map::in_files`]).
const FILES: [&str; KINDS + 1] = ["branches", "cherries", "leaves", "versions"];

/// What is committed of a map kept in files ([`Map::in_files`]): the
/// records in use of each file, and the oldest version retained. Its owner
/// stores it, durably, after [`Map::sync`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapHead {
    /// Records in use of the node files, in `FILES` order.
    lens: [u64; KINDS],
    /// Versions made (version 0, the empty map, included).
    versions: u64,
    oldest: u64,
}

impl MapHead {
    pub const LEN: usize = 8 * (KINDS + 2);

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        let fields = self.lens.iter().chain([&self.versions, &self.oldest]);
        for (chunk, n) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&n.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8; Self::LEN]) -> MapHead {
        let n = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        MapHead { lens: [n(0), n(1), n(2)], versions: n(3), oldest: n(4) }
    }

    /// The latest version.
    pub fn version(&self) -> u64 {
        self.versions.saturating_sub(1)
    }
}

/// Whether a map kept in files may be written by this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The one writer (its owner holds the lock that makes it so).
    Writer,
    /// A reader of committed versions, in any process, while the writer runs.
    Reader,
}

/// A versioned prefix tree, in memory or on disk. Version 0 is the empty
/// map; each update or removal makes the next version.
pub struct Map {
    suite: MapSuite,
    arena: Arena,
    versions: Versions,
    /// The oldest version retained.
    oldest: u64,
    /// Nodes that version `v` stopped using (still used by `v - 1`); not
    /// kept for a map in files, which never reuses a slot (a reader in
    /// another process may still walk a pruned version).
    stale: BTreeMap<u64, Vec<NodeRef>>,
    /// The directory of an on-disk map.
    disk: Option<Disk>,
    /// A reader of a map in files, which another process writes.
    reader: bool,
    /// Why the map refuses writes: it was closed.
    broken: Option<String>,
    closed: bool,
}

impl Map {
    /// An empty map in memory.
    pub fn new(suite: MapSuite) -> Map {
        Map::with_arena(suite, Arena::memory())
    }

    fn with_arena(suite: MapSuite, arena: Arena) -> Map {
        Map {
            suite,
            arena,
            versions: Versions::memory(),
            oldest: 0,
            stale: BTreeMap::new(),
            disk: None,
            broken: None,
            closed: false,
            reader: false,
        }
    }

    /// Opens the on-disk map at `dir` (created, with `suite` or the KEYTRANS
    /// default, if `create` is set and there is none). Every version whose
    /// update returned is there; one cut short by a crash is not. `suite`,
    /// if given, must match the stored one.
    pub fn open(dir: &Path, suite: Option<MapSuite>, create: bool) -> Result<Map> {
        let opened = Disk::open(dir, suite, create)?;
        let lens = disk::committed_lens(&opened.records)?;
        let [branches, cherries, leaves] = opened.files;
        let arena = Arena::new(
            Slab::file(leaves, lens[node::Kind::Leaf as usize])?,
            Slab::file(branches, lens[node::Kind::Branch as usize])?,
            Slab::file(cherries, lens[node::Kind::Twig as usize])?,
            true,
        );
        let mut map = Map::with_arena(opened.suite, arena);
        for record in opened.records {
            map.replay(record).map_err(|e| damaged(format!("the journal in {} is damaged: {e}", dir.display())))?;
        }
        map.disk = Some(opened.disk);
        Ok(map)
    }

    /// The map kept in `FILES` in the folder `dir` (which exists; its owner
    /// holds whatever lock makes one writer), at `head` (`None`: create the
    /// files, for a writer). A writer's updates are durable once [`Self::sync`]
    /// returned and its owner stored [`Self::head`]; a reader sees the
    /// versions of the head it was given, then of each [`Self::refresh`].
    pub fn in_files(dir: &Path, suite: MapSuite, head: Option<MapHead>, access: Access) -> Result<Map> {
        let open = |name: &str| -> Result<File> {
            let p = dir.join(name);
            let mut o = OpenOptions::new();
            o.read(true).write(access == Access::Writer).mode(Modes::PRIVATE.file);
            o.create(head.is_none()).truncate(head.is_none());
            let f = o.open(&p).map_err(|e| io_error("open", &p, e))?;
            if head.is_none() {
                // The umask may have taken bits away; the mode is the owner's choice.
                f.set_permissions(Permissions::from_mode(Modes::PRIVATE.file)).map_err(|e| io_error("chmod", &p, e))?;
            }
            Ok(f)
        };
        let [b, c, l, v] = FILES.map(open);
        let (b, c, l, v) = (b?, c?, l?, v?);
        let h = head.unwrap_or_default();
        let len = |n: u64| usize::try_from(n).map_err(|_| damaged("a map head past this machine's memory"));
        let [bl, cl, ll] = [len(h.lens[0])?, len(h.lens[1])?, len(h.lens[2])?];
        let (arena, versions) = match access {
            Access::Writer => (
                Arena::new(Slab::file(l, ll)?, Slab::file(b, bl)?, Slab::file(c, cl)?, true),
                Slab::file(v, len(h.versions)?)?,
            ),
            Access::Reader => (
                Arena::new(Slab::view(l, ll)?, Slab::view(b, bl)?, Slab::view(c, cl)?, true),
                Slab::view(v, len(h.versions)?)?,
            ),
        };
        let mut map = Map::with_arena(suite, arena);
        map.versions = Versions::File(versions);
        map.oldest = h.oldest;
        if head.is_none() {
            map.versions.push(Version::EMPTY)?;
        } else if h.versions == 0 || h.oldest >= h.versions {
            return Err(damaged(format!("a map head of {} versions retaining from {}", h.versions, h.oldest)));
        }
        map.reader = access == Access::Reader;
        Ok(map)
    }

    /// What is committed once [`Self::sync`] returns: for the owner to store.
    pub fn head(&self) -> MapHead {
        let lens = self.arena.lens().map(|n| n as u64);
        MapHead { lens, versions: self.version() + 1, oldest: self.oldest }
    }

    /// The node files and the versions file as bytes (a map in files), in
    /// `FILES` order: what a shared backend ships.
    pub(crate) fn arrays_mut(&mut self) -> Result<[&mut dyn RawArray; 4]> {
        let Versions::File(versions) = &mut self.versions else {
            return Err(invalid("only a map kept in files ships its files"));
        };
        let a = &mut self.arena;
        Ok([&mut a.branches, &mut a.twigs, &mut a.leaves, versions])
    }

    /// A follower takes `head`, whose nodes and versions were appended to
    /// its files through [`Self::arrays_mut`] (checked to be all there).
    pub fn adopt(&mut self, head: &MapHead) -> Result<()> {
        let Versions::File(versions) = &self.versions else {
            return Err(invalid("only a map kept in files has heads"));
        };
        let lens = self.arena.lens().map(|n| n as u64);
        if lens != head.lens || versions.len() as u64 != head.versions || head.oldest >= head.versions {
            return Err(damaged(format!("a map head of {:?} nodes and {} versions is not what was shipped", head.lens, head.versions)));
        }
        self.oldest = head.oldest;
        Ok(())
    }

    /// Makes every version made so far durable (a map in files; a no-op in memory).
    pub fn sync(&self) -> Result<()> {
        self.arena.sync()?;
        match &self.versions {
            Versions::File(v) => v.sync(),
            Versions::Memory(_) => Ok(()),
        }
    }

    /// Goes back to `head`, the last one its owner stored: a writer forgets
    /// the versions made since (their commit failed; their slots are
    /// written again), a reader moves to it (newer or older).
    pub fn reset(&mut self, head: &MapHead) -> Result<()> {
        let Versions::File(versions) = &mut self.versions else {
            return Err(invalid("only a map kept in files has heads"));
        };
        let len = |n: u64| usize::try_from(n).map_err(|_| damaged("a map head past this machine's memory"));
        let lens = [len(head.lens[0])?, len(head.lens[1])?, len(head.lens[2])?];
        if self.reader {
            self.arena.refresh(lens)?;
            versions.refresh(len(head.versions)?)?;
        } else {
            self.arena.truncate(lens);
            versions.truncate(len(head.versions)?);
        }
        self.oldest = head.oldest;
        Ok(())
    }

    /// Redoes what a journal record says, without writing anything.
    fn replay(&mut self, record: Record) -> Result<()> {
        match record {
            Record::Update { version, root, hash, keys, reused, stale, .. } => {
                // Every node the record names is in the committed node files
                // (the root may be empty): later walks and reused slots rely on it.
                let lens = self.arena.lens();
                let stored = |n: &NodeRef| n.stored().is_some_and(|(kind, slot)| (slot as usize) < lens[kind as usize]);
                let in_range = (root == NodeRef::EMPTY || stored(&root)) && stale.iter().all(stored);
                let overdrawn = (0..KINDS).any(|k| reused[k] > self.arena.free[k].len() as u64);
                if version != self.version() + 1 || overdrawn || !in_range {
                    return Err(invalid(format!("version {version} does not follow the versions before it")));
                }
                for (f, r) in self.arena.free.iter_mut().zip(reused) {
                    f.truncate(f.len() - r as usize);
                }
                self.versions.push(Version::new(root, hash, keys))?;
                if !stale.is_empty() {
                    self.stale.insert(version, stale);
                }
                Ok(())
            }
            Record::Prune { before } => {
                if before > self.version() {
                    return Err(invalid(format!("a prune up to {before}, past the latest version")));
                }
                self.forget(before);
                Ok(())
            }
        }
    }

    /// Whether the map lives on disk.
    pub fn is_on_disk(&self) -> bool {
        self.disk.is_some()
    }

    /// Releases the map (and an on-disk map's files and lock); every later
    /// call fails.
    pub fn close(&mut self) {
        self.disk = None;
        self.arena = Arena::memory();
        self.closed = true;
        self.broken = Some("the map is closed".into());
    }

    fn writable(&self) -> Result<()> {
        if self.reader {
            return Err(invalid("a reader of the map does not write"));
        }
        match &self.broken {
            Some(why) => Err(closed(why.clone())),
            None => Ok(()),
        }
    }

    pub fn suite(&self) -> MapSuite {
        self.suite
    }

    /// The latest version.
    pub fn version(&self) -> u64 {
        self.oldest + self.versions.count(self.oldest) - 1
    }

    /// The oldest version still retained.
    pub fn oldest_version(&self) -> u64 {
        self.oldest
    }

    fn at(&self, version: Option<u64>) -> Result<Version> {
        if self.closed {
            return Err(closed("the map is closed"));
        }
        let v = version.unwrap_or(self.version());
        if v < self.oldest || v > self.version() {
            return Err(invalid(format!(
                "version {v} is not retained (versions {}..={} are)",
                self.oldest,
                self.version()
            )));
        }
        Ok(self.versions.get(v, self.oldest))
    }

    /// The root value at `version` (default: the latest).
    pub fn root(&self, version: Option<u64>) -> Result<Hash> {
        Ok(self.at(version)?.hash)
    }

    /// How many keys the map holds at `version`.
    pub fn len(&self, version: Option<u64>) -> Result<u64> {
        Ok(self.at(version)?.keys)
    }

    /// The value of `key` at `version`, if it has one.
    pub fn get(&self, key: &Key, version: Option<u64>) -> Result<Option<Value>> {
        Ok(self.find(self.at(version)?.root, key)?.map(|l| l.value))
    }

    /// The leaf slots of `keys` in the latest version (`None` for a key it
    /// does not hold): a leaf never moves while a version holds it, so a
    /// slot names its key and value for as long as it is retained.
    pub fn leaf_slots(&self, keys: &[Key]) -> Result<Vec<Option<u32>>> {
        let root = self.at(None)?.root;
        keys.par_iter().map(|k| self.find_slot(root, k)).collect()
    }

    /// The key and value in leaf slot `slot`.
    pub fn leaf(&self, slot: u32) -> Result<(Key, Value)> {
        self.arena.leaf(slot).map(|l| (l.key, l.value))
    }

    /// The leaf of `key` under `node` (the root), if it has one.
    fn find(&self, node: NodeRef, key: &Key) -> Result<Option<&Leaf>> {
        self.find_slot(node, key)?.map(|l| self.arena.leaf(l)).transpose()
    }

    /// The leaf slot of `key` under `node` (the root), if it has one. At
    /// most 257 steps: [`Arena::inner`] checks that depths grow along the path.
    fn find_slot(&self, mut node: NodeRef, key: &Key) -> Result<Option<u32>> {
        let mut at = 0;
        loop {
            let Some(inner) = self.arena.inner(node, at)? else {
                return match node.node() {
                    Node::Leaf(l) => Ok(Some(l).filter(|&l| self.arena.leaf(l).is_ok_and(|leaf| leaf.key == *key))),
                    _ => Ok(None),
                };
            };
            node = if bit(key, inner.depth) { inner.right } else { inner.left };
            at = inner.depth + 1;
        }
    }

    /// Sets `keys[i] → values[i]` — inserting new keys, replacing the values
    /// of existing ones — as one new version, which it returns.
    pub fn update(&mut self, keys: &[Key], values: &[Value]) -> Result<u64> {
        if keys.len() != values.len() {
            return Err(invalid(format!("{} keys but {} values", keys.len(), values.len())));
        }
        let suite = self.suite;
        if !keys.is_empty() && self.at(None)?.root == NodeRef::EMPTY {
            return self.publish(keys.len() as u64, 0, |arena, _| bulk::build(suite, arena, keys, values));
        }
        let mut ops = Vec::new();
        ops.reserve_exact(keys.len());
        ops.par_extend(keys.par_iter().zip(values).map(|(key, value)| Leaf { key: *key, value: *value }));
        ops.par_sort_unstable_by(|a, b| key_cmp(&a.key, &b.key));
        check_unique(&ops)?;
        // Saturating: a damaged count past 2^64 is refused by `publish`.
        let twig_from = twig_from(self.at(None)?.keys.saturating_add(ops.len() as u64));
        self.publish(ops.len() as u64, 0, |arena, root| apply(suite, arena, root, &ops, twig_from))
    }

    /// Removes `keys` (each must be present) as one new version, which it returns.
    pub fn remove(&mut self, keys: &[Key]) -> Result<u64> {
        let mut ops = keys.to_vec();
        ops.par_sort_unstable();
        check_unique(&ops)?;
        let root = self.at(None)?.root;
        for k in &ops {
            if self.find(root, k)?.is_none() {
                return Err(invalid(format!("key {} is not in the map", hex(k))));
            }
        }
        let suite = self.suite;
        let twig_from = twig_from(self.at(None)?.keys);
        self.publish(0, ops.len() as u64, |arena, root| apply(suite, arena, root, &ops, twig_from))
    }

    /// Makes the next version from what `change` makes of the latest one's
    /// tree: `added` upserts (some may replace) and `removed` removals.
    fn publish(
        &mut self,
        added: u64,
        removed: u64,
        change: impl FnOnce(&mut Arena, NodeRef) -> Result<Applied>,
    ) -> Result<u64> {
        self.writable()?;
        let latest = self.at(None)?;
        // Lookups found every key to remove; on damaged nodes they may find
        // more than the version holds. (Upserts replace at most one key each.)
        if removed > latest.keys {
            return Err(node::damaged_node(format!("{removed} keys to remove found in a version of {}", latest.keys)));
        }
        let Some(most) = latest.keys.checked_add(added) else {
            return Err(node::damaged_node(format!("a version of {} keys cannot take {added} more", latest.keys)));
        };
        let lens = self.arena.lens();
        // A failed change leaves the arena as it was.
        let applied = change(&mut self.arena, latest.root)?;
        let version = self.version() + 1;
        let keys = most - applied.replaced - removed;
        let mut stale = applied.stale;
        if let Some(disk) = &mut self.disk {
            let record = Record::Update {
                version,
                root: applied.root,
                hash: applied.hash,
                keys,
                lens: self.arena.lens().map(|n| n as u64),
                reused: applied.reused.map(|n| n as u64),
                stale,
            };
            // Nodes durable first, then the record that makes them a version.
            let durable = self.arena.sync().and_then(|()| disk.append(&record));
            if let Err(e) = durable {
                // The new nodes lie in slots no version uses, and the free
                // lists still hold the ones they took: forgetting them
                // leaves the map as it was, ready for the next update.
                self.arena.truncate(lens);
                return Err(e);
            }
            let Record::Update { stale: s, .. } = record else { unreachable!("built as an update") };
            stale = s;
        }
        if let Err(e) = self.versions.push(Version::new(applied.root, applied.hash, keys)) {
            self.arena.truncate(lens);
            return Err(e);
        }
        for (free, n) in self.arena.free.iter_mut().zip(applied.reused) {
            free.truncate(free.len() - n);
        }
        if !stale.is_empty() && matches!(self.versions, Versions::Memory(_)) {
            self.stale.insert(version, stale);
        }
        Ok(version)
    }

    /// The `PrefixProof` for `keys` (1 to 255 of them, present or not) at `version`.
    pub fn prove(&self, keys: &[Key], version: Option<u64>) -> Result<Vec<u8>> {
        self.prove_with(keys, version, &mut TwigCache::default())
    }

    /// [`Self::prove`], reusing the twig values of the proofs before it
    /// that used `twigs` (proofs of one answer, in several versions).
    pub fn prove_with(&self, keys: &[Key], version: Option<u64>, twigs: &mut TwigCache) -> Result<Vec<u8>> {
        proof::prove(self.suite, &self.arena, self.at(version)?.root, keys, twigs)
    }

    /// Forgets every version before `before`, freeing the nodes only they
    /// used. On disk the prune is durable before those slots are reused.
    pub fn prune(&mut self, before: u64) -> Result<()> {
        self.writable()?;
        if before > self.version() {
            return Err(invalid(format!("cannot prune up to version {before}: the latest is {}", self.version())));
        }
        if before <= self.oldest {
            return Ok(());
        }
        if let Some(disk) = &mut self.disk {
            // A failed append changes nothing: the versions stay retained.
            disk.append(&Record::Prune { before })?;
        }
        self.forget(before);
        Ok(())
    }

    fn forget(&mut self, before: u64) {
        while self.oldest < before {
            self.versions.pop_oldest();
            self.oldest += 1;
        }
        // Nodes dropped by version v were used by versions before v only.
        let keep = self.stale.split_off(&(before + 1));
        for (_, nodes) in std::mem::replace(&mut self.stale, keep) {
            for (kind, slot) in nodes.into_iter().filter_map(NodeRef::stored) {
                self.arena.free[kind as usize].push(slot);
            }
        }
        // Highest first, so updates take the lowest slots, densely. Once
        // each: on a damaged tree a node reachable twice goes stale twice,
        // and two new nodes must never share its slot.
        for free in &mut self.arena.free {
            free.par_sort_unstable_by(|a, b| b.cmp(a));
            free.dedup();
        }
    }

    /// Re-reads and re-hashes every node of `version` (default: the latest)
    /// and checks it against the version's root: `Storage` error on any
    /// damage. Returns the number of nodes read. Reads the whole tree.
    pub fn check(&self, version: Option<u64>) -> Result<u64> {
        let v = self.at(version)?;
        check::check(self.suite, &self.arena, v.root, &v.hash)
    }

    /// Bytes of node storage mapped (arena capacity; for an on-disk map,
    /// file pages the kernel caches and evicts as it needs).
    pub fn memory_bytes(&self) -> usize {
        self.arena.bytes()
    }
}

/// The error for a key given twice in one batch.
fn duplicate(key: &Key) -> Error {
    invalid(format!("duplicate key {} in one batch", hex(key)))
}

fn check_unique<O: Op>(sorted: &[O]) -> Result<()> {
    match sorted.windows(2).find(|w| w[0].key() == w[1].key()) {
        Some(w) => Err(duplicate(w[0].key())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
