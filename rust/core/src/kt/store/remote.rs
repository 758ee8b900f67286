//! A directory shared through an [`Objects`] store (PostgreSQL), written by
//! one publisher and followed by any number of servers on any hosts.
//!
//! Every array of a [`Store`] only grows past its head (the VRF proofs that
//! publishing leaves for later are the one write in place), so a
//! publication is the bytes it appended to each array, and those proofs.
//! The publisher ships each one as an immutable object,
//! `kt/delta/<serial>` ([`Delta`]), then replaces the head object `kt/head`
//! (the [`Head`] of the local format, whose index fields mean nothing
//! there). `kt/config` holds the directory's configuration.
//!
//! Each server keeps a local copy, a directory in files in a folder of its
//! own (a cache: it is made anew when the server starts), and *follows*:
//! it applies the deltas from its serial to the remote head's in order,
//! indexes the version records they added (the label index is local, never
//! shipped), and only then takes the head, so it never answers from a head
//! whose data it does not hold. A publisher taking over follows first, then
//! publishes from where the last one stopped.
//!
//! Order of a publication: the local arrays are made durable, the delta and
//! then the remote head are written (the publication happens there), then
//! the local head. A failed remote write is undone locally, as a failed
//! local commit is; a failed local head after the remote one took the
//! publication leaves the local copy behind the remote, and the publisher
//! refuses to go on (a new one starts from the remote).

use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::{Head, Store, Stored, CONFIG_MAX, HEAD_MAX, REREAD};
use crate::error::{damaged, invalid, not_found, Result, StorageKind};
use crate::storage::slab::RawArray;
use crate::storage::Objects;

const HEAD: &str = "kt/head";
const CONFIG: &str = "kt/config";
const CONFIG_MAGIC: &[u8; 16] = b"veritree kt db2\n";
/// A database of format 2 directories' deltas (see `CONFIG_MAGIC_2` in
/// the store): refused with a message that says so.
const CONFIG_MAGIC_1: &[u8; 16] = b"veritree kt db1\n";
const DELTA_MAGIC: &[u8; 16] = b"veritree kt delt";
/// Largest delta read: a publication of 10^6 versions of 1 KiB values.
const DELTA_MAX: usize = 2 << 30;

/// The store's arrays in shipping order: the map's node and versions files,
/// the log tree's heads, the entries, their record starts, the version records.
pub(super) const ARRAYS: usize = 8;
const RECORDS: usize = 7;

fn delta_name(serial: u64) -> String {
    format!("kt/delta/{serial:020}")
}

/// What a directory shared through `objects` keeps beside its local copy.
pub(super) struct Remote {
    objects: Box<dyn Objects>,
    /// Bytes of each array the remote holds: a publisher ships the rest.
    shipped: [usize; ARRAYS],
    publisher: bool,
    /// When a follower last read the remote head.
    read: Instant,
    /// Why a publisher stopped (its local copy fell behind the remote).
    broken: Option<String>,
    /// The local copy's temporary folder, removed with the store (none: the
    /// caller named a folder).
    _scratch: Option<tempfile::TempDir>,
}

/// Where a local copy goes: the folder `cache`, or a new private temporary one.
fn local(cache: Option<&Path>) -> Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    match cache {
        Some(dir) => Ok((dir.to_path_buf(), None)),
        None => {
            let t = tempfile::Builder::new()
                .prefix("veritree-kt-")
                .tempdir()
                .map_err(|e| crate::error::io(format!("a temporary folder for the directory's local copy: {e}")))?;
            Ok((t.path().join("kt"), Some(t)))
        }
    }
}

/// One publication: its head, and byte writes to the arrays (array, offset,
/// bytes), each at an array's end or, for VRF proofs, inside the records.
struct Delta<'a> {
    head: Head,
    writes: Vec<(usize, usize, &'a [u8])>,
}

impl Delta<'_> {
    /// `MAGIC ‖ head (u32 length ‖ bytes) ‖ writes (u32 count, each u8 array
    /// ‖ u64 offset ‖ u64 length ‖ bytes) ‖ SHA-256 of all before`.
    fn encode(&self) -> Vec<u8> {
        let head = self.head.encode();
        let body: usize = self.writes.iter().map(|w| 17 + w.2.len()).sum();
        let mut out = Vec::with_capacity(16 + 4 + head.len() + 4 + body + 32);
        out.extend_from_slice(DELTA_MAGIC);
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(&(self.writes.len() as u32).to_le_bytes());
        for &(array, at, bytes) in &self.writes {
            out.push(array as u8);
            out.extend_from_slice(&(at as u64).to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    fn decode(b: &[u8]) -> Result<Delta<'_>> {
        let bad = || damaged("a shipped delta of the directory is damaged");
        if b.len() < 16 + 32 || &b[..16] != DELTA_MAGIC {
            return Err(bad());
        }
        let (body, sum) = b.split_at(b.len() - 32);
        if Sha256::digest(body)[..] != sum[..] {
            return Err(bad());
        }
        let mut rest = &body[16..];
        let mut take = |n: usize| -> Result<&[u8]> {
            let (first, after) = rest.split_at_checked(n).ok_or_else(bad)?;
            rest = after;
            Ok(first)
        };
        let u32_of = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
        let u64_of = |b: &[u8]| usize::try_from(u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let n = u32_of(take(4)?);
        let head = Head::decode(take(n)?)?;
        let count = u32_of(take(4)?);
        let mut writes = Vec::new();
        for _ in 0..count {
            let array = take(1)?[0] as usize;
            let at = u64_of(take(8)?).map_err(|_| bad())?;
            let len = u64_of(take(8)?).map_err(|_| bad())?;
            if array >= ARRAYS {
                return Err(bad());
            }
            writes.push((array, at, take(len)?));
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        Ok(Delta { head, writes })
    }
}

impl Store {
    /// Whether `objects` holds a directory.
    pub fn shared_exists(objects: &dyn Objects) -> Result<bool> {
        objects.exists(HEAD)
    }

    /// A new directory in `objects` (which holds none), with its local copy
    /// in `cache` (missing, or an empty folder; none: a temporary folder).
    /// The caller holds the lease that makes it the publisher.
    pub fn create_shared(objects: Box<dyn Objects>, cache: Option<&Path>, config: &[u8], recent: u64) -> Result<Store> {
        if objects.exists(HEAD)? {
            return Err(invalid("the database already holds a key directory; open it without create"));
        }
        let (dir, scratch) = local(cache)?;
        let mut store = Store::create(&dir, config, recent)?;
        let mut c = CONFIG_MAGIC.to_vec();
        c.extend_from_slice(&recent.to_le_bytes());
        c.extend_from_slice(config);
        // The head appears last: its existence marks a directory.
        objects.put(vec![(CONFIG.to_string(), c)])?;
        objects.put_head(HEAD, &store.head.encode())?;
        let shipped = store.raw_lens();
        store.remote =
            Some(Remote { objects, shipped, publisher: true, read: Instant::now(), broken: None, _scratch: scratch });
        Ok(store)
    }

    /// The directory in `objects`, its local copy made in `cache` (as for
    /// [`Self::create_shared`]) and brought to the remote head: as its
    /// publisher (the caller holds the lease) or a follower.
    pub fn open_shared(objects: Box<dyn Objects>, cache: Option<&Path>, publisher: bool) -> Result<(Store, Stored)> {
        if !objects.exists(HEAD)? {
            return Err(not_found("no KEYTRANS directory in the database (pass create=True to make one)"));
        }
        let c = objects.get(CONFIG, CONFIG_MAX as usize)?;
        if c.len() >= 16 && &c[..16] == CONFIG_MAGIC_1 {
            return Err(invalid("the database holds a directory of format 2, which this version of veritree does not read"));
        }
        if c.len() < 24 || &c[..16] != CONFIG_MAGIC {
            return Err(damaged("the database holds no directory config this version reads"));
        }
        let recent = u64::from_le_bytes(c[16..24].try_into().expect("8 bytes"));
        let (dir, scratch) = local(cache)?;
        let mut store = Store::create(&dir, &c[24..], recent)?;
        let shipped = store.raw_lens();
        store.remote = Some(Remote { objects, shipped, publisher, read: Instant::now(), broken: None, _scratch: scratch });
        store.follow()?;
        Ok((store, Stored { config: c[24..].to_vec(), recent }))
    }

    pub(super) fn is_follower(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| !r.publisher)
    }

    /// How far the shared store (a replica) is behind its primary, in ms;
    /// `None` without one.
    pub fn replica_lag_ms(&self) -> Result<Option<u64>> {
        match &self.remote {
            Some(r) => r.objects.replica_lag_ms(),
            None => Ok(None),
        }
    }

    /// Whether a follower has not read the remote head for [`REREAD`].
    pub(super) fn follower_stale(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| !r.publisher && r.read.elapsed() > REREAD)
    }

    /// The arrays as bytes, in shipping order.
    fn arrays_mut(&mut self) -> Result<[&mut dyn RawArray; ARRAYS]> {
        let [b, c, l, v] = self.map.arrays_mut()?;
        Ok([b, c, l, v, self.log.store_mut().slab_mut(), &mut self.entries, &mut self.starts, self.labels.records_mut()])
    }

    fn raw_lens(&mut self) -> [usize; ARRAYS] {
        self.arrays_mut().map(|a| a.map(|a| a.raw().len())).unwrap_or_default()
    }

    /// A publisher writes `head` to the remote: the arrays' new bytes and
    /// `proofs` (completed VRF proofs: where they lie in the records) as its delta,
    /// then the head. Nothing without a remote.
    pub(super) fn ship(&mut self, head: &Head, proofs: &[(u64, [u8; crate::vrf::PROOF_LEN])]) -> Result<()> {
        let Some(remote) = &self.remote else { return Ok(()) };
        if let Some(why) = &remote.broken {
            return Err(invalid(format!("this publisher stopped: {why}; open the directory again")));
        }
        let shipped = remote.shipped;
        let bytes = {
            let arrays = self.arrays_mut()?;
            let mut writes: Vec<(usize, usize, &[u8])> = Vec::new();
            for (i, a) in arrays.iter().enumerate() {
                if a.raw().len() > shipped[i] {
                    writes.push((i, shipped[i], &a.raw()[shipped[i]..]));
                }
            }
            writes.extend(proofs.iter().map(|(at, p)| (RECORDS, *at as usize, &p[..])));
            Delta { head: head.clone(), writes }.encode()
        };
        let lens = self.raw_lens();
        let remote = self.remote.as_mut().expect("checked above");
        remote.objects.put(vec![(delta_name(head.serial), bytes)])?;
        remote.objects.put_head(HEAD, &head.encode())?;
        remote.shipped = lens;
        Ok(())
    }

    /// A publisher whose local head failed after the remote took it stops.
    pub(super) fn shipped_but_failed(&mut self, e: &crate::error::Error) {
        if let Some(r) = self.remote.as_mut() {
            r.broken = Some(format!("its local copy failed after publishing ({e})"));
        }
    }

    /// A follower takes every publication up to the remote head; returns
    /// whether there was one. On error the local copy stays at its head.
    pub(super) fn follow(&mut self) -> Result<bool> {
        let Some(remote) = self.remote.as_mut() else { return Ok(false) };
        let head = Head::decode(&remote.objects.get(HEAD, HEAD_MAX as usize)?)?;
        remote.read = Instant::now();
        if head.serial < self.head.serial {
            return Err(damaged(format!(
                "the database's directory went back from publication {} to {}",
                self.head.serial, head.serial
            )));
        }
        let moved = head.serial > self.head.serial;
        while self.head.serial < head.serial {
            let serial = self.head.serial + 1;
            let remote = self.remote.as_ref().expect("checked above");
            let bytes = remote.objects.get(&delta_name(serial), DELTA_MAX).map_err(|e| match e.storage_kind() {
                Some(StorageKind::NotFound) => damaged(format!("publication {serial} of the directory is missing")),
                _ => e,
            })?;
            let delta = Delta::decode(&bytes)?;
            if delta.head.serial != serial {
                return Err(damaged(format!("the delta of publication {serial} holds publication {}", delta.head.serial)));
            }
            if let Err(e) = self.apply(delta) {
                self.reset()?;
                return Err(e);
            }
        }
        let lens = self.raw_lens();
        if let Some(r) = self.remote.as_mut() {
            r.shipped = lens;
        }
        Ok(moved)
    }

    /// Applies one delta and takes its head.
    fn apply(&mut self, delta: Delta<'_>) -> Result<()> {
        let d = delta.head;
        {
            let mut arrays = self.arrays_mut()?;
            for (array, at, bytes) in delta.writes {
                let a = &mut arrays[array];
                match a.raw().len() {
                    len if at == len => a.extend_raw(bytes)?,
                    _ if array == RECORDS => a.write_raw(at, bytes)?,
                    len => return Err(damaged(format!("a shipped write at {at} of an array of {len} bytes"))),
                }
            }
        }
        let mut make_index = self.index_maker();
        let fresh = self.labels.index_shipped(d.labels.records, &mut make_index)?;
        self.log.store_mut().adopt(d.entries)?;
        let local = self.labels.head();
        let labels = super::LabelsHead { records: d.labels.records, labels: local.labels + fresh, proved: d.labels.proved, ..local };
        if labels.labels != d.labels.labels
            || self.entries.len() as u64 != d.entries
            || self.starts.len() as u64 != d.entries
            || self.labels.records_len() as u64 != d.labels.records
        {
            return Err(damaged(format!("the delta of publication {} does not fill its head", d.serial)));
        }
        self.map.adopt(&d.map)?;
        let head = Head { serial: d.serial, entries: d.entries, map: d.map, labels, auditor: d.auditor };
        self.publish_local(head)
    }
}
