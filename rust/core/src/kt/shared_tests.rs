//! A directory shared through an objects store (`store::remote`): followers
//! answer as the publisher, byte for byte; a new publisher goes on where the
//! last stopped; damaged or failed writes are refused and undone.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::client::Client;
use super::directory::Directory;
use super::store_tests::grow;
use super::tests::START;
use crate::error::{io, Result, StorageKind};
use crate::storage::memory::MemoryObjects;
use crate::storage::Objects;

/// A shared store whose `fail`-th write from now fails, as a lost database would.
#[derive(Clone, Default)]
struct Flaky {
    objects: Arc<MemoryObjects>,
    fail: Arc<AtomicU32>,
}

impl Flaky {
    fn failing(&self) -> Result<()> {
        match self.fail.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(1) => Err(io("the database went away")),
            _ => Ok(()),
        }
    }
}

impl Objects for Flaky {
    fn get(&self, name: &str, max_len: usize) -> Result<Vec<u8>> {
        self.objects.get(name, max_len)
    }
    fn put(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        self.failing()?;
        self.objects.put(objects)
    }
    fn put_head(&self, name: &str, data: &[u8]) -> Result<()> {
        self.failing()?;
        self.objects.put_head(name, data)
    }
    fn exists(&self, name: &str) -> Result<bool> {
        self.objects.exists(name)
    }
    fn delete(&self, name: &str) -> Result<()> {
        self.objects.delete(name)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.objects.list(prefix)
    }
}

fn open(objects: Box<dyn Objects>, cache: &Path, create: bool, reader: bool) -> Result<Directory> {
    let (config, signing, vrf) = super::tests::keys(7, None);
    Directory::open_shared(objects, Some(cache), config, signing, vrf, 4, create, reader)
}

/// Every answer (or error) to a fixed set of requests, as bytes.
fn answers(d: &Directory) -> Vec<std::result::Result<Vec<u8>, String>> {
    let c = Client::new(d.config().clone(), 4).unwrap();
    let mut out = Vec::new();
    for label in ["user0", "user3", "user6", "bulk0", "bulk2999", "nobody"] {
        for version in [None, Some(1)] {
            out.push(d.search(&c.search_request(label.as_bytes(), version).unwrap()).map_err(|e| e.to_string()));
        }
    }
    out.push(d.distinguished(&c.distinguished_request(None)).map_err(|e| e.to_string()));
    out
}

#[test]
fn a_follower_answers_as_its_publisher_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Flaky::default();
    let mut d = open(Box::new(shared.clone()), &tmp.path().join("publisher"), true, false).unwrap();
    // 3000 labels at once: each server's own label index grows.
    grow(&mut d, 0, 12, 3000);
    let mut f = open(Box::new(shared.clone()), &tmp.path().join("follower"), false, true).unwrap();
    assert!(f.is_reader() && !d.is_reader());
    assert_eq!(f.size(), 12);
    assert_eq!(answers(&f), answers(&d));
    assert!(f.stage(b"user0", b"x").is_err(), "a follower never publishes");
    // More entries, proofs completed later: the follower takes them when it refreshes.
    grow(&mut d, 12, 20, 0);
    assert!(d.fill_proofs(500).unwrap() > 0);
    assert_eq!(f.size(), 12, "it answers from its head until it refreshes");
    assert!(f.refresh().unwrap());
    assert!(!f.refresh().unwrap(), "nothing new");
    assert_eq!(f.size(), 20);
    assert_eq!(answers(&f), answers(&d));
    // A new follower starts from everything at once.
    let g = open(Box::new(shared.clone()), &tmp.path().join("late"), false, true).unwrap();
    assert_eq!(answers(&g), answers(&d));
    // A verifying client accepts the follower's answers.
    let mut c = Client::new(f.config().clone(), 4).unwrap();
    let req = c.search_request(b"user6", None).unwrap();
    assert_eq!(c.verify_search(&req, &f.search(&req).unwrap(), START + 19_005).unwrap().version, 1);
}

#[test]
fn a_new_publisher_goes_on_where_the_last_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Flaky::default();
    let mut first = open(Box::new(shared.clone()), &tmp.path().join("a"), true, false).unwrap();
    grow(&mut first, 0, 10, 50);
    let mut f = open(Box::new(shared.clone()), &tmp.path().join("f"), false, true).unwrap();
    drop(first);
    let mut second = open(Box::new(shared.clone()), &tmp.path().join("b"), true, false).unwrap();
    assert_eq!(second.size(), 10, "create on an existing directory opens it");
    grow(&mut second, 10, 15, 0);
    assert!(f.refresh().unwrap());
    assert_eq!(f.size(), 15);
    assert_eq!(answers(&f), answers(&second));
    let mut c = Client::new(f.config().clone(), 4).unwrap();
    let req = c.search_request(b"user3", None).unwrap();
    assert_eq!(c.verify_search(&req, &f.search(&req).unwrap(), START + 14_005).unwrap().version, 1);
}

#[test]
fn a_failed_remote_write_publishes_nothing_and_is_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Flaky::default();
    let mut d = open(Box::new(shared.clone()), &tmp.path().join("p"), true, false).unwrap();
    grow(&mut d, 0, 6, 10);
    let before = answers(&d);
    // The delta fails; then the delta lands but the head fails.
    d.stage(b"user0", b"lost").unwrap();
    for fail in [1, 2] {
        shared.fail.store(fail, Ordering::SeqCst);
        assert_eq!(d.publish(START + 6000).unwrap_err().storage_kind(), Some(StorageKind::Io));
        assert_eq!((d.size(), d.staged()), (6, 1), "nothing published; the update stays staged");
        assert_eq!(answers(&d), before);
        let f = open(Box::new(shared.clone()), &tmp.path().join(format!("f{fail}")), false, true).unwrap();
        assert_eq!(answers(&f), before, "the database holds the last head");
    }
    assert_eq!(d.publish(START + 6000).unwrap(), 6);
    let f = open(Box::new(shared.clone()), &tmp.path().join("after"), false, true).unwrap();
    assert_eq!(answers(&f), answers(&d));
}

#[test]
fn a_damaged_or_missing_publication_is_refused_and_the_follower_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let shared = Flaky::default();
    let mut d = open(Box::new(shared.clone()), &tmp.path().join("p"), true, false).unwrap();
    grow(&mut d, 0, 4, 10);
    let mut f = open(Box::new(shared.clone()), &tmp.path().join("f"), false, true).unwrap();
    let before = answers(&f);
    grow(&mut d, 4, 6, 0);
    let name = "kt/delta/00000000000000000006";
    let good = shared.objects.get(name, 1 << 20).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 1;
    let broken: [Option<Vec<u8>>; 3] = [Some(bad), Some(good[..good.len() - 1].to_vec()), None];
    for b in broken {
        match b {
            Some(b) => shared.objects.put(vec![(name.into(), b)]).unwrap(),
            None => shared.objects.delete(name).unwrap(),
        }
        let e = f.refresh().unwrap_err();
        assert_eq!(e.storage_kind(), Some(StorageKind::Damaged), "{e}");
        assert_eq!(f.size(), 4, "still at its head");
        assert_eq!(answers(&f), before);
    }
    shared.objects.put(vec![(name.into(), good)]).unwrap();
    assert!(f.refresh().unwrap());
    assert_eq!(answers(&f), answers(&d));
    // A head that goes back is refused, not followed.
    let old = open(Box::new(shared.clone()), &tmp.path().join("g"), false, true).unwrap();
    drop(old);
    let head = shared.objects.get("kt/head", 1 << 16).unwrap();
    grow(&mut d, 6, 7, 0);
    assert!(f.refresh().unwrap());
    shared.objects.put_head("kt/head", &head).unwrap();
    assert_eq!(f.refresh().unwrap_err().storage_kind(), Some(StorageKind::Damaged));
    assert_eq!(f.size(), 7);
}

#[test]
fn on_postgres_a_second_publisher_waits_for_the_lease() {
    use crate::storage::postgres::{testing, PgObjects};
    let Some(server) = testing::server() else { return };
    let url = testing::fresh_schema(&server);
    let tmp = tempfile::tempdir().unwrap();
    let leased = || -> Result<PgObjects> {
        let mut o = PgObjects::connect(&url)?;
        o.take_lease("kt")?;
        Ok(o)
    };
    let mut d = open(Box::new(leased().unwrap()), &tmp.path().join("a"), true, false).unwrap();
    grow(&mut d, 0, 8, 100);
    assert_eq!(leased().err().and_then(|e| e.storage_kind()), Some(StorageKind::Locked));
    let mut f = open(Box::new(PgObjects::connect(&url).unwrap()), &tmp.path().join("f"), false, true).unwrap();
    assert_eq!(answers(&f), answers(&d));
    drop(d);
    let mut d = open(Box::new(leased().unwrap()), &tmp.path().join("b"), false, false).unwrap();
    grow(&mut d, 8, 10, 0);
    assert!(f.refresh().unwrap());
    assert_eq!(answers(&f), answers(&d));
}
