//! The map against a recursive definition of the KEYTRANS prefix tree.

use std::collections::BTreeMap;

use super::*;

/// The root straight from the definition: a node with one key is its leaf,
/// with none a zero stand-in, otherwise a parent of its two halves.
fn reference_root(suite: MapSuite, entries: &BTreeMap<Key, Value>) -> Hash {
    fn node(suite: MapSuite, items: &[(&Key, &Value)], depth: usize) -> Hash {
        match items {
            [] => ZERO,
            [(k, v)] => suite.leaf_hash(k, v),
            _ => {
                let split = items.partition_point(|(k, _)| !bit(k, depth));
                suite.parent_hash(&node(suite, &items[..split], depth + 1), &node(suite, &items[split..], depth + 1))
            }
        }
    }
    let items: Vec<_> = entries.iter().collect();
    node(suite, &items, 0)
}

fn update(map: &mut Map, entries: &[(Key, Value)]) {
    let (keys, values): (Vec<Key>, Vec<Value>) = entries.iter().copied().unzip();
    map.update(&keys, &values).unwrap();
}

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` random keys, each with a random value.
    fn entries(&mut self, n: usize) -> Vec<(Key, Value)> {
        (0..n).map(|_| (self.key(false), self.key(false))).collect()
    }

    /// A key from a small space when `narrow`, so prefixes collide a lot.
    fn key(&mut self, narrow: bool) -> Key {
        let mut k = [0u8; 32];
        if narrow {
            let x = self.next() % 64;
            k[0] = (x as u8) << 2;
            k[31] = (x >> 3) as u8;
        } else {
            for c in k.chunks_mut(8) {
                c.copy_from_slice(&self.next().to_le_bytes());
            }
        }
        k
    }
}

#[test]
fn random_batches_match_the_definition_at_every_version() {
    for suite in MapSuite::ALL {
        for narrow in [true, false] {
            let mut rng = Rng(0x9e3779b97f4a7c15 ^ narrow as u64);
            let mut map = Map::new(suite);
            let mut history = vec![BTreeMap::new()];
            for round in 0..60 {
                let mut model: BTreeMap<Key, Value> = history.last().unwrap().clone();
                if round % 3 == 2 && !model.is_empty() {
                    let keys: Vec<Key> = model.keys().copied().filter(|_| rng.next().is_multiple_of(3)).collect();
                    for k in &keys {
                        model.remove(k);
                    }
                    map.remove(&keys).unwrap();
                } else {
                    let n = 1 + (rng.next() % if round == 7 { 20_000 } else { 40 }) as usize;
                    let mut batch = BTreeMap::new();
                    for _ in 0..n {
                        let k = rng.key(narrow && round != 7);
                        batch.insert(k, rng.key(false));
                    }
                    let entries: Vec<(Key, Value)> = batch.into_iter().collect();
                    model.extend(entries.iter().copied());
                    update(&mut map, &entries);
                }
                history.push(model);
            }
            for (v, model) in history.iter().enumerate() {
                assert_eq!(map.root(Some(v as u64)).unwrap(), reference_root(suite, model), "{suite:?} v{v}");
                assert_eq!(map.len(Some(v as u64)).unwrap(), model.len() as u64);
            }
            // Proofs for present and absent keys verify at every version.
            for (v, model) in history.iter().enumerate().step_by(7) {
                let present: Vec<Key> = model.keys().copied().take(5).collect();
                let mut keys = present.clone();
                keys.extend((0..5).map(|_| rng.key(narrow)).filter(|k| !model.contains_key(k)));
                keys.sort();
                keys.dedup();
                let values: Vec<Option<Value>> = keys.iter().map(|k| model.get(k).copied()).collect();
                let proof = map.prove(&keys, Some(v as u64)).unwrap();
                let root = map.root(Some(v as u64)).unwrap();
                verify_prefix_proof(suite, &root, &keys, &values, &proof).unwrap();
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i] ^= 1;
                    assert!(verify_prefix_proof(suite, &root, &keys, &values, &bad).is_err(), "byte {i}");
                }
                assert!(verify_prefix_proof(suite, &root, &keys, &values, &proof[..proof.len() - 1]).is_err());
                let mut padded = proof.clone();
                padded.push(0);
                assert!(verify_prefix_proof(suite, &root, &keys, &values, &padded).is_err());
            }
            // Pruning keeps later versions intact and frees the rest.
            let latest = map.version();
            map.prune(latest - 5).unwrap();
            assert!(map.root(Some(latest - 6)).is_err());
            for v in latest - 5..=latest {
                assert_eq!(map.root(Some(v)).unwrap(), reference_root(suite, &history[v as usize]));
            }
            let entries: Vec<(Key, Value)> =
                (0..300).map(|_| (rng.key(narrow), rng.key(false))).collect::<BTreeMap<_, _>>().into_iter().collect();
            let mut model = history.last().unwrap().clone();
            model.extend(entries.iter().copied());
            update(&mut map, &entries);
            assert_eq!(map.root(None).unwrap(), reference_root(suite, &model));
            for v in latest - 5..=latest {
                assert_eq!(map.root(Some(v)).unwrap(), reference_root(suite, &history[v as usize]), "after reuse");
            }
        }
    }
}

#[test]
fn large_batches_build_in_parallel_and_agree() {
    let suite = MapSuite::KeytransSha256;
    let mut rng = Rng(7);
    let entries: Vec<(Key, Value)> = rng.entries(50_000);
    let mut parallel = Map::new(suite);
    update(&mut parallel, &entries);
    let model: BTreeMap<Key, Value> = entries.iter().copied().collect();
    assert_eq!(parallel.root(None).unwrap(), reference_root(suite, &model));
    let more: Vec<(Key, Value)> = (0..20_000)
        .map(|i| if i % 2 == 0 { (entries[i].0, rng.key(false)) } else { (rng.key(false), rng.key(false)) })
        .collect();
    update(&mut parallel, &more);
    let mut model2 = model.clone();
    model2.extend(more.iter().copied());
    assert_eq!(parallel.root(None).unwrap(), reference_root(suite, &model2));
    assert_eq!(parallel.root(Some(1)).unwrap(), reference_root(suite, &model));
    assert_eq!(parallel.len(None).unwrap(), model2.len() as u64);
}

/// The first batch of an empty map is built by its own path ([`super::bulk`]):
/// it makes the very tree the general update path makes (same root, same
/// node count, same proofs), for every shape of key set, in any input order.
#[test]
fn builds_from_scratch_match_the_update_path() {
    let mut rng = Rng(99);
    // Keys sharing their first byte, or their first 64 bits, fall in one
    // bucket of the sort's first pass (then sorted by the next bytes, or
    // by comparison).
    let shared = |rng: &mut Rng, bytes: usize| {
        let mut k = rng.key(false);
        k[..bytes].fill(0xA5);
        k
    };
    for suite in MapSuite::ALL {
        for n in [1, 2, 3, 17, 1000, 40_000] {
            for shape in 0..4 {
                let mut entries: Vec<(Key, Value)> = (0..n)
                    .map(|_| {
                        let k = match shape {
                            0 => rng.key(false),
                            1 => rng.key(n <= 64),
                            2 => shared(&mut rng, 1),
                            _ => shared(&mut rng, 8),
                        };
                        (k, rng.key(false))
                    })
                    .collect::<BTreeMap<_, _>>()
                    .into_iter()
                    .collect();
                if shape == 1 {
                    entries.reverse();
                }
                let mut bulk = Map::new(suite);
                update(&mut bulk, &entries);
                // The general path: one key first, then the rest into that tree.
                let mut general = Map::new(suite);
                update(&mut general, &entries[..1]);
                update(&mut general, &entries[1..]);
                let model: BTreeMap<Key, Value> = entries.iter().copied().collect();
                let what = format!("{suite:?} n={n} shape {shape}");
                assert_eq!(bulk.root(None).unwrap(), reference_root(suite, &model), "{what}");
                assert_eq!(bulk.root(None).unwrap(), general.root(None).unwrap(), "{what}");
                assert_eq!(bulk.check(None).unwrap(), general.check(None).unwrap(), "{what}: node count");
                assert_eq!(bulk.len(None).unwrap(), model.len() as u64);
                for (k, v) in entries.iter().step_by(1 + n / 50) {
                    assert_eq!(bulk.get(k, None).unwrap(), Some(*v));
                    let absent = rng.key(false);
                    assert_eq!(bulk.prove(&[*k, absent], None).unwrap(), general.prove(&[*k, absent], None).unwrap());
                }
            }
        }
    }
}

/// A failed first batch (a duplicate key) leaves the map as it was; a map
/// emptied by removals is built again from scratch beside its old versions.
#[test]
fn builds_from_scratch_refuse_duplicates_and_rebuild_emptied_maps() {
    let suite = MapSuite::KeytransSha256;
    let mut rng = Rng(5);
    let entries: Vec<(Key, Value)> = rng.entries(30_000);
    let mut map = Map::new(suite);
    let (mut keys, mut values): (Vec<Key>, Vec<Value>) = entries.iter().copied().unzip();
    keys.push(keys[12_345]);
    values.push([7; 32]);
    let err = map.update(&keys, &values).unwrap_err().to_string();
    assert!(err.contains("duplicate key") && err.contains(&hex(&keys[12_345])), "{err}");
    assert_eq!((map.version(), map.len(None).unwrap(), map.arena.lens()), (0, 0, [0; KINDS]));
    update(&mut map, &entries);
    let model: BTreeMap<Key, Value> = entries.iter().copied().collect();
    assert_eq!(map.root(None).unwrap(), reference_root(suite, &model));
    map.remove(&entries.iter().map(|e| e.0).collect::<Vec<_>>()).unwrap();
    assert_eq!(map.root(None).unwrap(), ZERO);
    let again: Vec<(Key, Value)> = rng.entries(20_000);
    update(&mut map, &again);
    let model2: BTreeMap<Key, Value> = again.iter().copied().collect();
    assert_eq!(map.root(None).unwrap(), reference_root(suite, &model2));
    // n leaves and n - 1 branches each.
    assert_eq!((map.check(None).unwrap(), map.check(Some(1)).unwrap()), (2 * 20_000 - 1, 2 * 30_000 - 1));
    assert_eq!(map.root(Some(1)).unwrap(), reference_root(suite, &model), "the first tree is intact");
}

#[test]
fn edge_shapes() {
    let suite = MapSuite::KeytransSha256;
    let mut map = Map::new(suite);
    assert_eq!(map.root(None).unwrap(), ZERO);
    let a = [0u8; 32];
    let mut b = [0u8; 32];
    b[31] = 1;
    map.update(&[a], &[[1; 32]]).unwrap();
    assert_eq!(map.root(None).unwrap(), suite.leaf_hash(&a, &[1; 32]));
    // An empty map answers with a depth-0 stand-in; one key with a depth-0 leaf.
    let proof = map.prove(&[b], Some(0)).unwrap();
    assert_eq!(proof, [1, 3, 0, 0, 0]);
    verify_prefix_proof(suite, &ZERO, &[b], &[None], &proof).unwrap();
    let proof = map.prove(&[a, b], None).unwrap();
    verify_prefix_proof(suite, &map.root(None).unwrap(), &[a, b], &[Some([1; 32]), None], &proof).unwrap();
    // Keys differing in the last bit put leaves at depth 256: not encodable.
    map.update(&[b], &[[2; 32]]).unwrap();
    assert!(map.prove(&[a], None).is_err());
    let mut model = BTreeMap::from([(a, [1; 32]), (b, [2; 32])]);
    assert_eq!(map.root(None).unwrap(), reference_root(suite, &model));
    map.remove(&[a]).unwrap();
    model.remove(&a);
    assert_eq!(map.root(None).unwrap(), reference_root(suite, &model));
    assert!(map.remove(&[a]).is_err(), "absent key");
    assert!(map.update(&[a, a], &[[1; 32], [2; 32]]).is_err(), "duplicate");
    assert!(map.update(&[a], &[]).is_err(), "lengths");
    assert_eq!(map.version(), 3, "failed calls make no version");
    assert!(map.prove(&[], None).is_err());
    assert!(map.prune(4).is_err());
}

/// A slot named twice in a version's stale nodes (a node reachable twice on
/// a damaged tree) is freed once: two new nodes never share it.
#[test]
fn pruning_frees_a_slot_named_twice_once() {
    let mut rng = Rng(77);
    let mut map = Map::new(MapSuite::KeytransSha256);
    update(&mut map, &rng.entries(50));
    update(&mut map, &rng.entries(50));
    let stale = map.stale.get_mut(&2).expect("the second batch replaced nodes");
    let twice = *stale.iter().find(|n| !n.is_leaf()).expect("a replaced inner node");
    stale.push(twice);
    map.prune(2).unwrap();
    let (kind, slot) = twice.stored().unwrap();
    let free = &map.arena.free[kind as usize];
    assert_eq!(free.iter().filter(|&&s| s == slot).count(), 1, "freed once");
    let mut unique = free.clone();
    unique.dedup();
    assert_eq!(&unique, free, "no slot is free twice");
    // The freed slots are reused by one new node each: the tree still checks out.
    update(&mut map, &rng.entries(200));
    map.check(None).unwrap();
}

/// A write that fails (the disk full as the journal record is appended,
/// half of it written) leaves the on-disk map as it was, allocator and all,
/// and the same map takes the operation once the fault clears: through
/// upserts that reuse freed slots, removals and prunes, it ends where a
/// map that never failed does, and reopens there.
#[test]
fn a_failed_write_leaves_the_map_as_it_was_and_the_next_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    let mut rng = Rng(0xfa11);
    let mut mem = Map::new(MapSuite::KeytransSha256);
    let mut disk = Map::open(&path, None, true).unwrap();
    let mut present: Vec<Key> = Vec::new();
    let mut reused = false;
    for round in 0..30 {
        let entries: Vec<(Key, Value)> = if round == 0 {
            rng.entries(2_000)
        } else {
            // Mostly replacements, so that leaves go stale and slots free up.
            (0..300).map(|_| (present[(rng.next() % present.len() as u64) as usize], rng.key(false))).collect()
        };
        let entries: Vec<(Key, Value)> = entries.into_iter().collect::<BTreeMap<_, _>>().into_iter().collect();
        let gone: Vec<Key> = if round % 7 == 3 { present.drain(..5).collect() } else { Vec::new() };
        let before = mem.version().saturating_sub(1);
        let state =
            |m: &Map| (m.version(), m.oldest_version(), m.root(None).unwrap(), m.arena.free.clone(), m.arena.lens());
        let journal = std::fs::read(path.join("journal")).unwrap();
        let was = state(&disk);
        disk.disk.as_mut().unwrap().inject_faults(1);
        let failed = match round % 3 {
            0 if !gone.is_empty() => disk.remove(&gone),
            1 if before > disk.oldest_version() => disk.prune(before).map(|()| 0),
            _ => {
                let (k, v): (Vec<Key>, Vec<Value>) = entries.iter().copied().unzip();
                disk.update(&k, &v)
            }
        };
        let err = failed.unwrap_err();
        assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("No space"), "{err}");
        assert!(state(&disk) == was, "round {round}: a failed write changed the map");
        assert_eq!(std::fs::read(path.join("journal")).unwrap(), journal, "round {round}: the record is cut off");
        if !gone.is_empty() {
            assert_eq!(mem.remove(&gone).unwrap(), disk.remove(&gone).unwrap());
        }
        mem.prune(before).unwrap();
        disk.prune(before).unwrap();
        present.extend(entries.iter().map(|e| e.0).filter(|k| mem.get(k, None).unwrap().is_none()));
        update(&mut mem, &entries);
        let free: usize = disk.arena.free.iter().map(Vec::len).sum();
        update(&mut disk, &entries);
        reused |= disk.arena.free.iter().map(Vec::len).sum::<usize>() < free;
        assert_eq!(disk.root(None).unwrap(), mem.root(None).unwrap(), "round {round}");
    }
    assert!(reused, "the rounds reused freed slots");
    let (free, lens) = (disk.arena.free.clone(), disk.arena.lens());
    drop(disk);
    let disk = Map::open(&path, None, false).unwrap();
    assert_eq!((disk.version(), disk.root(None).unwrap()), (mem.version(), mem.root(None).unwrap()));
    assert_eq!((&disk.arena.free, disk.arena.lens()), (&free, lens), "reopening restores the allocator");
    disk.check(None).unwrap();
}

/// A map's directory and files are owner-only; an existing map whose
/// directory others can reach is refused, with the fix in the message.
#[test]
fn an_on_disk_map_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut map = Map::open(&path, None, true).unwrap();
    update(&mut map, &Rng(7).entries(10));
    let mode = |name: &str| std::fs::metadata(path.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(""), 0o700, "the empty folder it was created in is made owner-only");
    for name in ["journal", "lock", "branches", "cherries", "leaves"] {
        assert_eq!(mode(name), 0o600, "{name}");
    }
    drop(map);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o705)).unwrap();
    let err = Map::open(&path, None, false).err().unwrap();
    assert!(matches!(err, Error::Storage(_)) && err.to_string().contains("chmod 700"), "{err}");
}

/// Random upserts, removals and prunes on a map in memory and one on disk,
/// reopened after every step: they agree on every retained version, and
/// reopening restores the disk map's allocator exactly.
#[test]
fn on_disk_map_replays_to_the_in_memory_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    for suite in MapSuite::ALL {
        let _ = std::fs::remove_dir_all(&path);
        let mut rng = Rng(0x5eed ^ suite.id() as u64);
        let mut mem = Map::new(suite);
        let mut disk = Map::open(&path, Some(suite), true).unwrap();
        let mut present: Vec<Key> = Vec::new();
        let mut reused = false;
        for round in 0..40 {
            match round % 5 {
                3 if present.len() > 4 => {
                    let gone: Vec<Key> = present.drain(..3).collect();
                    assert_eq!(mem.remove(&gone).unwrap(), disk.remove(&gone).unwrap());
                }
                4 => {
                    let before = mem.version() - rng.next() % 3;
                    mem.prune(before).unwrap();
                    disk.prune(before).unwrap();
                }
                _ => {
                    let n = 1 + (rng.next() % if round == 6 { 10_000 } else { 30 }) as usize;
                    let mut batch = BTreeMap::new();
                    for _ in 0..n {
                        // Replace old keys too, so leaves go stale.
                        let k = if !present.is_empty() && rng.next().is_multiple_of(4) {
                            present[(rng.next() % present.len() as u64) as usize]
                        } else {
                            rng.key(round % 2 == 0)
                        };
                        batch.insert(k, rng.key(false));
                    }
                    let entries: Vec<(Key, Value)> = batch.into_iter().collect();
                    present.extend(entries.iter().map(|e| e.0).filter(|k| mem.get(k, None).unwrap().is_none()));
                    update(&mut mem, &entries);
                    let free: usize = disk.arena.free.iter().map(Vec::len).sum();
                    update(&mut disk, &entries);
                    reused |= disk.arena.free.iter().map(Vec::len).sum::<usize>() < free;
                }
            }
            let (free, lens) = (disk.arena.free.clone(), disk.arena.lens());
            drop(disk);
            disk = Map::open(&path, None, false).unwrap();
            assert_eq!((disk.oldest_version(), disk.version()), (mem.oldest_version(), mem.version()));
            assert_eq!(disk.arena.free, free, "allocator replayed");
            assert_eq!(disk.arena.lens(), lens);
            for v in mem.oldest_version()..=mem.version() {
                assert_eq!(disk.root(Some(v)).unwrap(), mem.root(Some(v)).unwrap());
                assert_eq!(disk.len(Some(v)).unwrap(), mem.len(Some(v)).unwrap());
                let probe: Vec<Key> = present.iter().take(20).copied().chain([rng.key(false)]).collect();
                assert_eq!(disk.prove(&probe, Some(v)).unwrap(), mem.prove(&probe, Some(v)).unwrap());
            }
        }
        assert!(reused, "the disk map reused freed slots at least once");
    }
}

#[test]
fn on_disk_map_cuts_a_torn_record_and_refuses_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    let keys = [[1u8; 32], [2u8; 32]];
    let mut map = Map::open(&path, None, true).unwrap();
    map.update(&keys[..1], &[[7; 32]]).unwrap();
    let root = map.root(None).unwrap();
    map.update(&keys[1..], &[[8; 32]]).unwrap();
    drop(map);
    let journal = path.join("journal");
    let whole = std::fs::read(&journal).unwrap();
    let first_end = {
        let len = u32::from_le_bytes(whole[32..36].try_into().unwrap()) as usize;
        32 + 4 + len + 16
    };
    // A crash mid-append: the last record is cut at every possible byte.
    for cut in first_end..whole.len() {
        std::fs::write(&journal, &whole[..cut]).unwrap();
        let map = Map::open(&path, None, false).unwrap();
        assert_eq!((map.version(), map.root(None).unwrap()), (1, root), "cut at {cut}");
        drop(map);
        assert_eq!(std::fs::metadata(&journal).unwrap().len(), first_end as u64, "the torn tail is cut off");
    }
    // What was cut is kept beside the journal (the last cut: all but one byte).
    let kept = path.join(format!("journal.cut-{first_end}"));
    assert_eq!(std::fs::read(&kept).unwrap(), &whole[first_end..whole.len() - 1]);
    std::fs::remove_file(&kept).unwrap();
    // The file grew but its data never landed: zeros, cut and not kept.
    let mut zeros = whole[..first_end].to_vec();
    zeros.resize(whole.len(), 0);
    std::fs::write(&journal, &zeros).unwrap();
    assert_eq!(Map::open(&path, None, false).unwrap().version(), 1);
    assert!(!kept.exists());
    // A whole last record that fails its checksum (torn, or rotted after it
    // was durable) is cut too, and kept for an operator to look at.
    let mut rotted = whole.clone();
    *rotted.last_mut().unwrap() ^= 1;
    std::fs::write(&journal, &rotted).unwrap();
    assert_eq!(Map::open(&path, None, false).unwrap().version(), 1);
    assert_eq!(std::fs::read(&kept).unwrap(), &rotted[first_end..]);
    // A flipped byte in a record that others follow is damage.
    let mut bad = whole.clone();
    bad[40] ^= 1;
    bad.extend_from_slice(&whole[first_end..]);
    std::fs::write(&journal, &bad).unwrap();
    assert!(matches!(Map::open(&path, None, false), Err(Error::Storage(m)) if m.contains("damaged")));
    std::fs::write(&journal, b"not a map").unwrap();
    assert!(matches!(Map::open(&path, None, false), Err(Error::Storage(_))));
}

/// A journal cut inside its header, after the start of its magic, is
/// damage to report, not a panic (found by the `map_journal` fuzz target).
#[test]
fn a_journal_cut_inside_its_magic_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    drop(Map::open(&path, None, true).unwrap());
    let whole = std::fs::read(path.join("journal")).unwrap();
    for cut in 0..32 {
        std::fs::write(path.join("journal"), &whole[..cut]).unwrap();
        let opened = Map::open(&path, None, false);
        assert!(matches!(opened, Err(Error::Storage(m)) if m.contains("journal")), "cut at {cut}");
    }
}

/// Node file lengths whose bytes overflow are damage, not an overflow: in
/// a journal record (checksum and all; found by the `map_journal` fuzz
/// target) and in a head of a map kept in files, for its writer and readers.
/// A map at `path` with one update, whose journal's record then has the
/// u64 at `at` set to `value` under a valid checksum.
fn one_update_with(path: &Path, at: usize, value: u64) {
    use crate::storage::records::{frame, unframe};
    let mut map = Map::open(path, None, true).unwrap();
    map.update(&[[1; 32]], &[[2; 32]]).unwrap();
    drop(map);
    let journal = std::fs::read(path.join("journal")).unwrap();
    let mut record = unframe(&journal[32..]).unwrap().0[0].to_vec();
    record[at..at + 8].copy_from_slice(&value.to_le_bytes());
    let mut damaged = journal[..32].to_vec();
    damaged.extend(frame(&record).unwrap());
    std::fs::write(path.join("journal"), damaged).unwrap();
}

#[test]
fn node_file_lengths_past_memory_are_damaged() {
    let past = 1u64 << 58; // times a leaf's 64 bytes: 2^64
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    // The leaves file's length: after the tag, version, root, hash, key count and two lengths.
    one_update_with(&path, 69, past);
    assert!(matches!(Map::open(&path, None, false), Err(Error::Storage(m)) if m.contains("records")));

    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    drop(Map::in_files(&files, MapSuite::KeytransSha256, None, Access::Writer).unwrap());
    let mut head = [0u8; MapHead::LEN];
    head[16..24].copy_from_slice(&past.to_le_bytes());
    head[24..32].copy_from_slice(&1u64.to_le_bytes());
    for access in [Access::Writer, Access::Reader] {
        let opened = Map::in_files(&files, MapSuite::KeytransSha256, Some(MapHead::decode(&head)), access);
        assert!(matches!(opened, Err(Error::Storage(m)) if m.contains("records")), "{access:?}");
    }
}

#[test]
fn a_key_count_past_2_64_is_damage_when_keys_are_added() {
    // Found by `map_journal` built with overflow checks: a version whose
    // key count (framed again under a valid checksum) is u64::MAX overflowed
    // the next update's count.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    // The key count: after the tag, version, root and hash.
    one_update_with(&path, 45, u64::MAX);
    let mut map = Map::open(&path, None, false).unwrap();
    for keys in [&[[3; 32]][..], &[[1; 32]], &[[3; 32], [4; 32]]] {
        let values = vec![[5; 32]; keys.len()];
        let e = map.update(keys, &values).unwrap_err();
        assert!(matches!(&e, Error::Storage(m) if m.contains("cannot take")), "{e}");
    }
    assert_eq!(map.get(&[1; 32], None).unwrap(), Some([2; 32]), "a refused update changes nothing");
}

#[test]
fn on_disk_map_locks_checks_its_suite_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    assert!(matches!(Map::open(&path, None, false), Err(Error::Storage(_))));
    let mut map = Map::open(&path, Some(MapSuite::Blake3), true).unwrap();
    assert!(matches!(Map::open(&path, None, false), Err(Error::Storage(m)) if m.contains("another process")));
    map.update(&[[3; 32]], &[[4; 32]]).unwrap();
    map.close();
    assert!(matches!(map.root(None), Err(Error::Storage(_))));
    assert!(matches!(map.update(&[[5; 32]], &[[6; 32]]), Err(Error::Storage(_))));
    assert!(matches!(Map::open(&path, Some(MapSuite::KeytransSha256), false), Err(Error::InvalidArgument(_))));
    let map = Map::open(&path, None, false).unwrap();
    assert_eq!((map.suite(), map.get(&[3; 32], None).unwrap()), (MapSuite::Blake3, Some([4; 32])));
}

#[test]
fn check_finds_every_kind_of_damage_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m");
    let mut rng = Rng(77);
    let keys: Vec<Key> =
        (0..500).map(|i| rng.key(i % 2 == 0)).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let values: Vec<Value> = keys.iter().map(|_| rng.key(false)).collect();
    {
        let mut map = Map::open(&path, None, true).unwrap();
        map.update(&keys, &values).unwrap();
        // A path-compressed tree of n leaves has n - 1 branches (twigs
        // included); a fresh one's twigs are its cherries (branches over two
        // leaves), and random keys make about a third of branches cherries.
        assert_eq!(map.check(None).unwrap(), 2 * keys.len() as u64 - 1);
        let [branches, cherries, leaves] = map.arena.lens();
        assert_eq!((branches + cherries, leaves), (keys.len() - 1, keys.len()));
        assert!((100..250).contains(&cherries), "{cherries} cherries");
        assert_eq!(map.check(Some(0)).unwrap(), 0);
        let mem = {
            let mut m = Map::new(MapSuite::KeytransSha256);
            m.update(&keys, &values).unwrap();
            m
        };
        assert_eq!(mem.check(None).unwrap(), 2 * keys.len() as u64 - 1);
    }
    let damage = |file: &str, at: usize, xor: u8| {
        let p = path.join(file);
        let mut bytes = std::fs::read(&p).unwrap();
        bytes[at] ^= xor;
        std::fs::write(&p, &bytes).unwrap();
    };
    let branch = size_of::<node::Branch>();
    // A value byte of a leaf, a stored branch hash, a child reference (made
    // to point far past the end, or at another kind), a branch depth, and a
    // cherry's leaf reference and depth.
    for (file, at, xor) in [
        ("leaves", 40, 1),
        ("branches", 3 * branch + 5, 1),
        ("branches", 2 * branch + 35, 0x20),
        ("branches", 2 * branch + 39, 0x40),
        ("branches", branch + 44, 3),
        ("cherries", 9 + 7, 0x20),
        ("cherries", 2 * 9 + 8, 1),
    ] {
        damage(file, at, xor);
        let map = Map::open(&path, None, false).unwrap();
        let err = map.check(None).unwrap_err();
        assert!(matches!(&err, Error::Storage(m) if m.contains("damaged")), "{file}@{at}: {err}");
        drop(map);
        damage(file, at, xor);
        assert!(Map::open(&path, None, false).unwrap().check(None).is_ok(), "{file}@{at} restored");
    }
}

/// Whether `r` is what a walk may give on damaged nodes: a result, or a
/// `Storage` error naming the damage.
fn ok_or_damaged<T>(r: &Result<T>) -> bool {
    match r {
        Ok(_) => true,
        Err(Error::Storage(m)) => m.contains("damaged node file"),
        Err(_) => false,
    }
}

/// Damaged child references, kind tags, leaf slots and depth bytes in each
/// node file: lookups, proofs, updates, removals, pruning and `check` give
/// `Storage` errors (or answers whose proofs do not verify), never a panic
/// or an endless walk — including references back to an ancestor or to
/// the node itself. Each case runs in a thread with a deadline.
#[test]
fn walks_refuse_damaged_references_without_panics_or_loops() {
    use std::sync::mpsc;
    use std::time::Duration;

    use node::{Branch, Inner, Kind, Twig, TwigChild};

    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let mut rng = Rng(4242);
    // Narrow keys make chains (single-child parents), wide ones a deep tree.
    let first: BTreeMap<Key, Value> = (0..600).map(|i| (rng.key(i % 3 == 0), rng.key(false))).collect();
    let mut model = first.clone();
    let mut second_keys: Vec<Key> = first.keys().step_by(4).copied().collect();
    second_keys.extend((0..100).map(|_| rng.key(false)));
    let second: BTreeMap<Key, Value> = second_keys.into_iter().map(|k| (k, rng.key(false))).collect();
    model.extend(second.iter().map(|(k, v)| (*k, *v)));
    let (root, lens) = {
        let mut map = Map::open(&pristine, None, true).unwrap();
        update(&mut map, &first.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
        update(&mut map, &second.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
        (map.at(None).unwrap().root, map.arena.lens())
    };
    let [n_branches, n_twigs, n_leaves] = lens.map(|n| n as u32);

    // The tree's shape: every inner node with its parent, depth first.
    let map = Map::open(&pristine, None, false).unwrap();
    let mut nodes: Vec<(NodeRef, Option<NodeRef>, Inner)> = Vec::new();
    let mut stack = vec![(root, None)];
    while let Some((n, parent)) = stack.pop() {
        if let Some(inner) = map.arena.inner(n, 0).unwrap() {
            nodes.push((n, parent, inner));
            stack.extend([(inner.left, Some(n)), (inner.right, Some(n))]);
        }
    }
    drop(map);
    let slot = |n: NodeRef| n.stored().unwrap().1 as usize;
    let kind = |n: NodeRef| n.stored().unwrap().0;
    let depth_of = |n: NodeRef| nodes.iter().find(|x| x.0 == n).unwrap().2.depth;
    // A branch below the root with a branch child; a cherry (a twig over two
    // leaves); a twig over a twig, made by the second update.
    let &(b, _, b_inner) = nodes
        .iter()
        .find(|(n, p, i)| p.is_some() && kind(*n) == Kind::Branch && kind(i.left) == Kind::Branch)
        .expect("a branch with a branch child");
    let (c, c_inner) = (b_inner.left, nodes.iter().find(|x| x.0 == b_inner.left).unwrap().2);
    let &(cherry, cherry_parent, _) = nodes
        .iter()
        .find(|(n, _, i)| kind(*n) == Kind::Twig && i.left.is_leaf() && i.right.is_leaf())
        .unwrap();
    let &(twig, twig_parent, twig_inner) = nodes
        .iter()
        .find(|(n, p, i)| kind(*n) == Kind::Twig && p.is_some() && kind(i.left) == Kind::Twig)
        .expect("a twig over a twig");

    let branch_at = |n: NodeRef, field: usize| ("branches", slot(n) * size_of::<Branch>() + field);
    let cherry_at = |n: NodeRef, field: usize| ("cherries", slot(n) * size_of::<Twig>() + field);
    let (left, right, rep, depth) = (
        std::mem::offset_of!(Branch, left),
        std::mem::offset_of!(Branch, right),
        std::mem::offset_of!(Branch, rep),
        std::mem::offset_of!(Branch, depth),
    );
    let (c_left, c_right, c_depth) =
        (std::mem::offset_of!(Twig, left), std::mem::offset_of!(Twig, right), std::mem::offset_of!(Twig, depth));
    let child = |n: NodeRef| bytemuck::bytes_of(&TwigChild::new(n)).to_vec();
    let word = |r: NodeRef| bytemuck::bytes_of(&r).to_vec();
    let u32le = |x: u32| x.to_le_bytes().to_vec();
    let byte = |d: usize| vec![d as u8];
    // The root may be a branch or a twig (over two stored hashes).
    let (root_left, root_depth, root_itself) = match kind(root) {
        Kind::Branch => (branch_at(root, left), branch_at(root, depth), word(root)),
        _ => (cherry_at(root, c_left), cherry_at(root, c_depth), child(root)),
    };
    let cases: Vec<(&str, (&str, usize), Vec<u8>)> = vec![
        (
            "branch child: branch slot past the end",
            branch_at(b, left),
            word(NodeRef::new(Kind::Branch, n_branches + 7)),
        ),
        ("branch child: cherry slot past the end", branch_at(b, right), word(NodeRef::new(Kind::Twig, n_twigs))),
        ("branch child: leaf slot past the end", branch_at(b, left), word(NodeRef::leaf(n_leaves))),
        ("branch child: the unused kind tag", branch_at(b, left), u32le(0xC000_0005)),
        ("branch child: the empty reference", branch_at(b, right), word(NodeRef::EMPTY)),
        ("branch child: the branch itself", branch_at(b, left), word(b)),
        ("branch child: its parent", branch_at(c, right), word(b)),
        ("branch child: the root", branch_at(c, left), word(root)),
        ("branch child: another kind, in range", branch_at(b, left), word(NodeRef::new(Kind::Twig, 0))),
        ("root child: the root", root_left, root_itself),
        ("branch rep: past the leaf file", branch_at(b, rep), u32le(n_leaves + 3)),
        ("branch rep: u32::MAX", branch_at(b, rep), u32le(u32::MAX)),
        ("branch depth: back to its parent's", branch_at(c, depth), byte(b_inner.depth)),
        ("branch depth: zero", branch_at(c, depth), byte(0)),
        ("branch depth: 255, above its children", branch_at(b, depth), byte(255)),
        ("root depth: 255", root_depth, byte(255)),
        ("branch depth: one more (a wrong split)", branch_at(c, depth), byte(c_inner.depth + 1)),
        ("cherry leaf: past the end", cherry_at(cherry, c_left), u32le(n_leaves)),
        ("cherry leaf: u32::MAX", cherry_at(cherry, c_right), u32le(u32::MAX)),
        ("cherry leaf: another leaf", cherry_at(cherry, c_right), u32le(0)),
        ("cherry depth: its parent's", cherry_at(cherry, c_depth), byte(depth_of(cherry_parent.unwrap()))),
        ("cherry depth: zero", cherry_at(cherry, c_depth), byte(0)),
        ("cherry depth: 255", cherry_at(cherry, c_depth), byte(255)),
        ("twig child: itself", cherry_at(twig, c_left), child(twig)),
        ("twig child: its parent", cherry_at(twig_inner.left, c_left), child(twig)),
        ("twig child: the root", cherry_at(twig, c_right), child(root)),
        ("twig child: a twig slot past the end", cherry_at(twig, c_left), child(NodeRef::new(Kind::Twig, n_twigs))),
        ("twig child: a branch slot past the end", cherry_at(twig, c_right), child(NodeRef::new(Kind::Branch, n_branches))),
        ("twig child: the unused tag", cherry_at(twig, c_left), u32le(0xC000_0001)),
        ("twig child: another twig, in range", cherry_at(twig, c_left), child(NodeRef::new(Kind::Twig, 0))),
        ("twig depth: its parent's", cherry_at(twig, c_depth), byte(depth_of(twig_parent.unwrap()))),
        ("twig depth: one more (a wrong split)", cherry_at(twig, c_depth), byte(twig_inner.depth + 1)),
        ("leaf key: one bit", ("leaves", 5 * 64 + 3), byte(0x11)),
        ("leaf value: one bit", ("leaves", 9 * 64 + 40), byte(0x01)),
    ];

    let keys: Vec<Key> = model
        .keys()
        .copied()
        .chain((0..50).map(|_| rng.key(true)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let big: Vec<(Key, Value)> = (0..update::PAR_MIN_OPS + 100)
        .map(|_| (rng.key(false), rng.key(false)))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .collect();
    for (i, (what, (file, at), bytes)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("case{i}"));
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&path).unwrap();
        for name in ["journal", "branches", "cherries", "leaves"] {
            std::fs::copy(pristine.join(name), path.join(name)).unwrap();
        }
        let node_file = path.join(file);
        let mut contents = std::fs::read(&node_file).unwrap();
        let changed = contents[at..at + bytes.len()] != bytes[..];
        contents[at..at + bytes.len()].copy_from_slice(&bytes);
        std::fs::write(&node_file, &contents).unwrap();
        assert!(changed, "{what}: the damage changes the file");

        let (keys, model, big) = (keys.clone(), model.clone(), big.clone());
        let (done, wait) = mpsc::channel();
        std::thread::spawn(move || {
            let mut map = Map::open(&path, None, false).unwrap();
            let latest = map.version();
            let root = map.root(None).unwrap();
            let checked = map.check(None);
            assert!(matches!(&checked, Err(Error::Storage(m)) if m.contains("damaged")), "check: {checked:?}");
            let mut errors = 0;
            for v in [latest, latest - 1] {
                for k in &keys {
                    let got = map.get(k, Some(v));
                    assert!(ok_or_damaged(&got), "get: {got:?}");
                    errors += got.is_err() as usize;
                }
            }
            // A damaged depth can put leaves at depth 256, which a proof
            // cannot encode: refused as for any such tree.
            let provable = |r: &Result<Vec<u8>>| {
                ok_or_damaged(r) || matches!(r, Err(Error::InvalidArgument(m)) if m.contains("depth 256"))
            };
            for chunk in keys.chunks(50) {
                let proof = map.prove(chunk, None);
                assert!(provable(&proof), "prove: {proof:?}");
                errors += proof.is_err() as usize;
            }
            // A proof from damaged nodes never shows a value that was not written.
            for k in &keys {
                let (Ok(got), single) = (map.get(k, None), map.prove(&[*k], None)) else { continue };
                assert!(provable(&single), "prove: {single:?}");
                if let Ok(single) = single {
                    let ok = verify_prefix_proof(map.suite(), &root, &[*k], &[got], &single).is_ok();
                    assert!(!ok || got == model.get(k).copied(), "{} verified with a wrong value", hex(k));
                }
            }
            // Small and large batches (a large one is planned across cores).
            let small: Vec<(Key, Value)> =
                keys.iter().step_by(37).map(|k| (*k, [7; 32])).collect::<BTreeMap<_, _>>().into_iter().collect();
            for batch in [&small, &big] {
                let (ks, vs): (Vec<Key>, Vec<Value>) = batch.iter().copied().unzip();
                let r = map.update(&ks, &vs);
                assert!(ok_or_damaged(&r), "update: {r:?}");
                errors += r.is_err() as usize;
            }
            let gone: Vec<Key> = model.keys().step_by(29).copied().collect();
            let r = map.remove(&gone);
            // A lookup that lands on the wrong leaf says the key is absent.
            assert!(ok_or_damaged(&r) || matches!(&r, Err(Error::InvalidArgument(m)) if m.contains("not in the map")));
            errors += r.is_err() as usize;
            map.prune(map.version()).unwrap();
            let _ = map.check(None);
            done.send(errors).unwrap();
        });
        match wait.recv_timeout(Duration::from_secs(60)) {
            Ok(errors) => {
                let soft = what.starts_with("leaf") || what.contains("in range") || what.contains("another leaf");
                assert!(soft || what.contains("one more") || errors > 0, "{what}: no walk saw the damage");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: a walk did not end"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: a walk panicked (see above)"),
        }
    }
}

/// Inserting through a proof (what a KEYTRANS auditor does) gives the root
/// the engine gets by inserting the same leaves, from the root before.
#[test]
fn insertion_through_a_proof_matches_the_engine() {
    let mut rng = Rng(91);
    for round in 0..60 {
        let mut map = Map::new(MapSuite::KeytransSha256);
        let before: BTreeMap<Key, Value> =
            (0..(round * 7) % 50).map(|i| (rng.key(i % 3 == 0), rng.key(false))).collect();
        if !before.is_empty() {
            update(&mut map, &before.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>());
        }
        let mut added: BTreeMap<Key, Value> = BTreeMap::new();
        while added.len() < 1 + round % 9 {
            // Neighbours of present keys too: insertions beside an existing leaf.
            let k = match before.keys().nth(rng.next() as usize % before.len().max(1)) {
                Some(near) if rng.next().is_multiple_of(2) => {
                    let mut k = *near;
                    // Not the last bit: leaves at depth 256 have no PrefixProof encoding.
                    k[31] ^= 2 << (rng.next() % 7);
                    k
                }
                _ => rng.key(round % 2 == 0),
            };
            if !before.contains_key(&k) {
                added.insert(k, rng.key(false));
            }
        }
        let leaves: Vec<(Key, Value)> = added.into_iter().collect();
        let keys: Vec<Key> = leaves.iter().map(|l| l.0).collect();
        let proof = map.prove(&keys, None).unwrap();
        let (old, new) = prefix_proof_insert(MapSuite::KeytransSha256, &leaves, &proof).unwrap();
        assert_eq!(old, map.root(None).unwrap());
        update(&mut map, &leaves);
        assert_eq!(new, map.root(None).unwrap(), "round {round}");
        // Out of order, or a key that is present: refused.
        if leaves.len() > 1 {
            let mut swapped = leaves.clone();
            swapped.swap(0, 1);
            assert!(prefix_proof_insert(MapSuite::KeytransSha256, &swapped, &proof).is_err());
        }
        let again = map.prove(&keys, None).unwrap();
        assert!(prefix_proof_insert(MapSuite::KeytransSha256, &leaves, &again).is_err());
    }
}

/// Timings of the read and write hot paths (run by hand, in release):
/// `cargo test --release -p veritree-core --lib map::tests::hot_path_timings -- --ignored --nocapture`.
/// Best of several runs: a 10^6-key build, 10^4 gets (half present), and
/// 200 proofs of 50 keys each.
#[test]
#[ignore]
fn hot_path_timings() {
    use std::time::Instant;
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(9);
    let best = |runs: usize, f: &mut dyn FnMut()| {
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::MAX, f64::min)
    };
    let mut rng = Rng(12345);
    let n = 1_000_000;
    let keys: Vec<Key> = (0..n).map(|_| rng.key(false)).collect();
    let values: Vec<Value> = (0..n).map(|_| rng.key(false)).collect();
    let probes: Vec<Key> =
        (0..10_000).map(|i| if i % 2 == 0 { keys[(rng.next() % n as u64) as usize] } else { rng.key(false) }).collect();
    let groups: Vec<Vec<Key>> = (0..200).map(|g| probes[g * 50..g * 50 + 50].to_vec()).collect();
    for suite in MapSuite::ALL {
        let mut map = Map::new(suite);
        let build = best(3, &mut || {
            map = Map::new(suite);
            map.update(&keys, &values).unwrap();
        });
        let get = best(runs, &mut || {
            let found = probes.iter().filter(|k| map.get(k, None).unwrap().is_some()).count();
            assert_eq!(found, probes.len() / 2);
        });
        let prove = best(runs, &mut || {
            let bytes: usize = groups.iter().map(|g| map.prove(g, None).unwrap().len()).sum();
            assert!(bytes > 0);
        });
        println!(
            "{suite:?}: build 10^6 keys {:.3} s; 10^4 gets {:.2} ms; 200 50-key proofs {:.2} ms",
            build,
            get * 1e3,
            prove * 1e3
        );
    }
}
