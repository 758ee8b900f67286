//! What every backend of the storage seam must do, run against each: the
//! in-memory backend and the POSIX one here, and any later backend (a
//! database) by calling these functions from its own tests.

use super::memory::{MemoryObjects, MemoryRecords};
use super::posix::{create_dir, DirObjects, Modes};
use super::records::FileRecords;
use super::slab::Slab;
use super::{Objects, Records};
use crate::error::StorageKind;

/// The [`Objects`] contract on an empty store.
pub fn objects_conform(store: &dyn Objects) {
    let kind = |r: crate::error::Result<Vec<u8>>| r.err().and_then(|e| e.storage_kind());
    assert_eq!(kind(store.get("tile/0/000", 8192)), Some(StorageKind::NotFound), "a missing object");
    assert_eq!(store.list("tile/0").unwrap(), Vec::<String>::new(), "a missing folder lists nothing");
    store.put(vec![("tile/0/000".into(), vec![1; 64]), ("tile/0/001.p/3".into(), vec![2; 96])]).unwrap();
    store.put(vec![]).unwrap();
    assert_eq!(store.get("tile/0/000", 64).unwrap(), vec![1; 64]);
    assert!(store.exists("tile/0/000").unwrap() && !store.exists("tile/0/001").unwrap());
    assert!(!store.exists("tile/0").unwrap(), "a folder is not an object");
    assert_eq!(kind(store.get("tile/0/000", 63)), Some(StorageKind::Damaged), "longer than asked");
    // An unpublished object may be rewritten (a write cut short is redone).
    store.put(vec![("tile/0/000".into(), vec![3; 64])]).unwrap();
    assert_eq!(store.get("tile/0/000", 64).unwrap(), vec![3; 64]);
    store.put(vec![("tile/0/x001/002".into(), vec![4])]).unwrap();
    assert_eq!(store.list("tile/0").unwrap(), ["tile/0/000"], "direct children only");
    assert_eq!(store.list("tile/0/001.p").unwrap(), ["tile/0/001.p/3"]);
    // The head is replaced whole.
    store.put_head("checkpoint", b"size 1\n").unwrap();
    store.put_head("checkpoint", b"size 2, longer\n").unwrap();
    assert_eq!(store.get("checkpoint", 1024).unwrap(), b"size 2, longer\n");
    store.delete("tile/0/001.p/3").unwrap();
    store.delete("tile/0/001.p/3").unwrap(); // twice: nothing there is fine
    assert_eq!(kind(store.get("tile/0/001.p/3", 96)), Some(StorageKind::NotFound));
    assert!(!store.exists("tile/0/001.p/3").unwrap());
    assert_eq!(store.list("tile/0/001.p").unwrap(), Vec::<String>::new());
    assert_eq!(store.get("tile/0/x001/002", 1).unwrap(), [4]);
}

/// The [`Records`] contract: `open` gives a store over what `records`
/// committed so far (a reopening), and `break_next(store)` makes its next
/// append fail as a full disk would.
pub fn records_conform<R: Records>(open: &mut dyn FnMut() -> (R, Vec<Vec<u8>>), break_next: &dyn Fn(&mut R)) {
    let (mut r, found) = open();
    assert!(found.is_empty(), "a new store holds nothing");
    r.append(b"first").unwrap();
    r.append(b"").unwrap();
    r.append(&[7; 5000]).unwrap();
    break_next(&mut r);
    assert_eq!(r.append(b"lost").err().and_then(|e| e.storage_kind()), Some(StorageKind::Io));
    r.append(b"after").unwrap(); // the fault has cleared: the same store appends
    drop(r);
    let (mut r, found) = open();
    assert_eq!(found, [b"first".to_vec(), vec![], vec![7; 5000], b"after".to_vec()], "the failed record left nothing");
    r.append(b"more").unwrap();
    drop(r);
    assert_eq!(open().1.len(), 5);
}

#[test]
fn the_memory_backend_conforms() {
    objects_conform(&MemoryObjects::new());
    let shared = MemoryRecords::new();
    records_conform(&mut || (shared.clone(), shared.records()), &|r: &mut MemoryRecords| r.inject_faults(1));
}

#[test]
fn the_posix_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    for d in
        [dir.path().join("objects"), dir.path().join("objects/.veritree"), dir.path().join("objects/.veritree/tmp")]
    {
        create_dir(&d, Modes::PRIVATE.dir).unwrap();
    }
    objects_conform(&DirObjects::new(&dir.path().join("objects")));
    let path = dir.path().join("journal");
    records_conform(&mut || FileRecords::open(&path).unwrap(), &|r: &mut FileRecords| r.inject_faults(1));
}

/// The slab contract on either backing: records put by slot read back,
/// growth keeps them, forgetting the tail hides it, and a file slab synced
/// and reopened at its committed length holds the same records.
fn slab_conforms(mut slab: Slab<[u8; 32]>) -> Slab<[u8; 32]> {
    assert_eq!((slab.len(), slab.get(0)), (0, None));
    slab.reserve(3).unwrap();
    for i in 0..3u8 {
        slab.put(i as u32, [i; 32]);
    }
    slab.reserve(100_000).unwrap(); // grows (mremap): the records move with it
    for i in 3..100_003u32 {
        slab.put(i, [(i % 251) as u8; 32]);
    }
    assert_eq!(
        (slab.len(), slab.get(2), slab.get(100_002)),
        (100_003, Some(&[2; 32]), Some(&[(100_002 % 251) as u8; 32]))
    );
    slab.put(1, [9; 32]); // an existing slot is rewritten in place
    slab.truncate(100_000);
    assert_eq!((slab.len(), slab.get(100_000)), (100_000, None), "forgotten records are not served");
    slab.sync().unwrap();
    slab
}

#[test]
fn the_slab_conforms_in_memory_and_in_a_file() {
    slab_conforms(Slab::memory());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records");
    let open = || std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).unwrap();
    let written = slab_conforms(Slab::file(open(), 0).unwrap());
    drop(written);
    let reopened: Slab<[u8; 32]> = Slab::file(open(), 100_000).unwrap();
    assert_eq!(
        (reopened.get(0), reopened.get(1), reopened.get(99_999)),
        (Some(&[0; 32]), Some(&[9; 32]), Some(&[(99_999 % 251) as u8; 32]))
    );
    assert!(Slab::<[u8; 32]>::file(open(), 10_000_000).is_err(), "more committed records than the file holds");
}

/// A read-only view of a file another writer grows: it serves the records
/// it was given (never more), follows the writer as it is refreshed, sees
/// records past its mapping through `read_at`, and never writes.
#[test]
fn a_slab_view_follows_its_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records");
    let file = || std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
    let mut writer: Slab<[u8; 32]> = Slab::file(file().unwrap(), 0).unwrap();
    writer.reserve(10).unwrap();
    for i in 0..10u8 {
        writer.put(u32::from(i), [i; 32]);
    }
    let mut view: Slab<[u8; 32]> = Slab::view(std::fs::File::open(&path).unwrap(), 5).unwrap();
    assert_eq!((view.len(), view.get(4), view.get(5)), (5, Some(&[4; 32]), None), "only the records it was given");
    writer.reserve(300_000).unwrap(); // the file grows past the view's mapping
    for i in 10..300_000u32 {
        writer.put(i, [(i % 251) as u8; 32]);
    }
    let mut far = [0u8; 32];
    view.read_at(299_999 * 32, &mut far).unwrap();
    assert_eq!(far, [(299_999 % 251) as u8; 32], "past its mapping, through the file");
    view.refresh(300_000).unwrap();
    assert_eq!((view.len(), view.get(299_999)), (300_000, Some(&[(299_999 % 251) as u8; 32])));
    view.refresh(3).unwrap(); // an older head: fewer records served
    assert_eq!((view.len(), view.get(3)), (3, None));
    assert!(view.refresh(100_000_000).is_err(), "more records than the file holds");
    assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| view.reserve(1))).is_err(), "a view never writes");
}

#[test]
fn the_postgres_backend_conforms() {
    use super::postgres::{testing, PgObjects, PgRecords};
    let Some(server) = testing::server() else { return };
    let url = testing::fresh_schema(&server);
    objects_conform(&PgObjects::connect(&url).unwrap());
    records_conform(&mut || PgRecords::open(&url).unwrap(), &|r: &mut PgRecords| r.inject_faults(1));
}

#[test]
fn a_postgres_lease_fences_its_holder() {
    use super::postgres::{testing, PgObjects};
    let Some(server) = testing::server() else { return };
    let url = testing::fresh_schema(&server);
    let mut first = PgObjects::connect(&url).unwrap();
    first.take_lease("test").unwrap();
    first.put_head("head", b"1").unwrap();
    let mut second = PgObjects::connect(&url).unwrap();
    let kind = |r: crate::error::Result<()>| r.err().and_then(|e| e.storage_kind());
    assert_eq!(kind(second.take_lease("test")), Some(StorageKind::Locked), "one holder at a time");
    assert_eq!(kind(second.put_head("head", b"2")), None, "an unleased store is not fenced");
    // A successor took over while the holder's session looked dead to the
    // server (the epoch moved on): the stale holder writes nothing.
    let mut other = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    other.execute("UPDATE veritree_leases SET epoch = epoch + 1 WHERE name = 'test'", &[]).unwrap();
    assert_eq!(kind(first.put_head("head", b"stale")), Some(StorageKind::Locked));
    assert_eq!(kind(first.put(vec![("tile".into(), vec![1])])), Some(StorageKind::Locked));
    assert_eq!(first.get("head", 8).unwrap(), b"2");
    drop(first); // the session ends: the lease is free
    second.take_lease("test").unwrap();
    second.put_head("head", b"3").unwrap();
    assert_eq!(second.get("head", 8).unwrap(), b"3");
}
