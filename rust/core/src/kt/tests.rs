//! End to end: a directory and clients over many entries, honest and not.

use ed25519_dalek::SigningKey;

use super::client::Client;
use super::combined::CombinedTreeProof;
use super::directory::Directory;
use super::tree_head::{Configuration, Mode};
use crate::error::Error;
use crate::map::{prefix_proof_len, Map, MapSuite};
use crate::vrf::VrfSecretKey;

pub(super) const START: u64 = 1_700_000_000_000;
const RMW: u64 = 10_000;

/// Keys made from `seed` and the configuration naming them.
pub(super) fn keys(seed: u8, lifetime: Option<u64>) -> (Configuration, SigningKey, VrfSecretKey) {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    let vrf = VrfSecretKey::from_seed(&[seed.wrapping_add(1); 32]).unwrap();
    let config = Configuration {
        mode: Mode::ContactMonitoring,
        signature_public_key: signing.verifying_key().as_bytes().to_vec(),
        vrf_public_key: vrf.public_key().to_vec(),
        max_ahead: 60_000,
        max_behind: 24 * 3600 * 1000,
        reasonable_monitoring_window: RMW,
        maximum_lifetime: lifetime,
    };
    (config, signing, vrf)
}

pub(super) fn directory(seed: u8, lifetime: Option<u64>) -> Directory {
    let (config, signing, vrf) = keys(seed, lifetime);
    Directory::new(config, signing, vrf, 4).unwrap()
}

/// Publishes entries `from..to`, one per second; label `i % 5` gets a new
/// version at entry i when `i % 3 == 0`.
pub(super) fn grow(d: &mut Directory, from: u64, to: u64) {
    for i in from..to {
        if i % 3 == 0 {
            d.stage(format!("user{}", i % 5).as_bytes(), format!("keys of user{} at {i}", i % 5).as_bytes()).unwrap();
        }
        assert_eq!(d.publish(START + 1000 * i).unwrap(), i);
    }
}

pub(super) fn now(d: &Directory) -> u64 {
    START + 1000 * (d.size() - 1) + 5
}

/// The rightmost distinguished entry, through `c`'s distinguished request.
pub(super) fn rightmost_distinguished(c: &mut Client, d: &Directory) -> u64 {
    let req = c.distinguished_request(None);
    c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(d)).unwrap().last().unwrap().0
}

#[test]
fn honest_searches_monitoring_and_walks_verify() {
    let mut d = directory(1, None);
    grow(&mut d, 0, 40);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    for round in 0..6 {
        for u in 0..5 {
            let label = format!("user{u}");
            let greatest = d.greatest_version(label.as_bytes()).unwrap().unwrap();
            let req = c.search_request(label.as_bytes(), None).unwrap();
            let found = c.verify_search(&req, &d.search(&req).unwrap(), now(&d)).unwrap();
            assert_eq!(found.version, greatest);
            for v in 0..=greatest {
                let req = c.search_request(label.as_bytes(), Some(v)).unwrap();
                let found = c.verify_search(&req, &d.search(&req).unwrap(), now(&d)).unwrap();
                assert_eq!(found.version, v);
                assert!(String::from_utf8(found.value).unwrap().starts_with(&format!("keys of {label} at ")));
            }
        }
        let labels: Vec<Vec<u8>> = c.monitors().keys().cloned().collect();
        for label in labels {
            let req = c.monitor_request(&label).unwrap();
            c.verify_monitor(&req, &d.monitor(&req).unwrap(), now(&d)).unwrap();
        }
        let req = c.distinguished_request(None);
        let recent = c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(&d)).unwrap();
        assert!(!recent.is_empty() && recent.len() <= 4, "round {round}: {recent:?}");
        // Saved and restored, the client goes on from where it was.
        c = Client::restore(&c.save().unwrap()).unwrap();
        grow(&mut d, 40 + 25 * round, 65 + 25 * round);
    }
    // Monitoring ends once a distinguished entry covers each version.
    grow(&mut d, 190, 400);
    for _ in 0..3 {
        let labels: Vec<Vec<u8>> = c.monitors().keys().cloned().collect();
        for label in labels {
            let req = c.monitor_request(&label).unwrap();
            c.verify_monitor(&req, &d.monitor(&req).unwrap(), now(&d)).unwrap();
        }
        let n = d.size();
        grow(&mut d, n, n + 30);
    }
    assert!(c.monitors().is_empty(), "{:?}", c.monitors());
}

#[test]
fn a_fork_or_a_rollback_is_caught() {
    let (mut honest, mut fork) = (directory(2, None), directory(2, None));
    grow(&mut honest, 0, 20);
    grow(&mut fork, 0, 20);
    let mut c = Client::new(honest.config().clone(), 4).unwrap();
    let req = c.search_request(b"user1", None).unwrap();
    c.verify_search(&req, &honest.search(&req).unwrap(), now(&honest)).unwrap();
    // Same keys, different history from entry 20 on: a split view.
    honest.stage(b"user1", b"honest keys").unwrap();
    fork.stage(b"user1", b"attacker keys").unwrap();
    honest.publish(START + 20_000).unwrap();
    fork.publish(START + 20_000).unwrap();
    let req = c.search_request(b"user1", None).unwrap();
    let found = c.verify_search(&req, &honest.search(&req).unwrap(), now(&honest)).unwrap();
    assert_eq!(found.value, b"honest keys");
    // A client that saw the honest head rejects the fork's next answer.
    grow(&mut fork, 21, 22);
    let req2 = c.search_request(b"user1", None).unwrap();
    let err = c.verify_search(&req2, &fork.search(&req2).unwrap(), now(&fork)).unwrap_err();
    assert!(matches!(err, Error::Verification(_)), "{err}");
    // A client that never saw the honest log accepts the fork (split views
    // are caught by comparing heads with others), and it, too, refuses the
    // honest log afterwards.
    let mut o = Client::new(fork.config().clone(), 4).unwrap();
    let req = o.search_request(b"user1", None).unwrap();
    let seen = o.verify_search(&req, &fork.search(&req).unwrap(), now(&fork)).unwrap();
    assert_eq!(seen.version, fork.greatest_version(b"user1").unwrap().unwrap());
    grow(&mut honest, 21, 23);
    let req = o.search_request(b"user1", None).unwrap();
    let r = o.verify_search(&req, &honest.search(&req).unwrap(), now(&honest));
    assert!(r.is_err(), "{r:?} {:?}", o.view());
    // A log that shrank (rolled back) cannot even answer for the view.
    let mut stale = directory(2, None);
    grow(&mut stale, 0, 20);
    assert!(stale.search(&req).is_err(), "the server refuses a view it never published");
}

#[test]
fn every_tampered_byte_is_refused_without_touching_state() {
    let mut d = directory(3, None);
    grow(&mut d, 0, 30);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.search_request(b"user2", None).unwrap();
    c.verify_search(&req, &d.search(&req).unwrap(), now(&d)).unwrap();
    grow(&mut d, 30, 45);
    let saved = c.save().unwrap();
    for (req, resp) in [
        {
            let r = c.search_request(b"user2", None).unwrap();
            let s = d.search(&r).unwrap();
            (r, s)
        },
        {
            let r = c.search_request(b"user2", Some(0)).unwrap();
            let s = d.search(&r).unwrap();
            (r, s)
        },
    ] {
        for i in 0..resp.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = resp.clone();
                bad[i] ^= bit;
                let mut t = c.clone();
                assert!(t.verify_search(&req, &bad, now(&d)).is_err(), "byte {i} bit {bit:#x} went unnoticed");
                assert_eq!(t.save().unwrap(), saved, "a failed verification changed the state");
            }
        }
        for cut in 0..resp.len() {
            assert!(c.clone().verify_search(&req, &resp[..cut], now(&d)).is_err());
        }
        assert!(c.clone().verify_search(&req, &[resp.clone(), vec![0]].concat(), now(&d)).is_err());
        c.clone().verify_search(&req, &resp, now(&d)).unwrap();
    }
}

#[test]
fn stale_and_future_heads_are_refused() {
    let mut d = directory(4, None);
    grow(&mut d, 0, 10);
    let c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.search_request(b"user0", None).unwrap();
    let resp = d.search(&req).unwrap();
    let newest = START + 9_000;
    assert!(c.clone().verify_search(&req, &resp, newest + 24 * 3600 * 1000 + 1).is_err(), "stale");
    assert!(c.clone().verify_search(&req, &resp, newest - 60_001).is_err(), "from the future");
    c.clone().verify_search(&req, &resp, newest).unwrap();
}

#[test]
fn expired_entries_are_skipped_with_a_maximum_lifetime() {
    let mut d = directory(5, Some(3 * RMW));
    grow(&mut d, 0, 200);
    // Prefix trees of expired entries are gone: entries 0..=169 are 30 s or
    // more older than entry 199.
    assert_eq!(d.oldest_tree(), 170);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    for u in 0..5 {
        let label = format!("user{u}");
        let greatest = d.greatest_version(label.as_bytes()).unwrap().unwrap();
        let req = c.search_request(label.as_bytes(), None).unwrap();
        assert_eq!(c.verify_search(&req, &d.search(&req).unwrap(), now(&d)).unwrap().version, greatest);
        // The newest version is found; the oldest has long expired.
        let req = c.search_request(label.as_bytes(), Some(greatest)).unwrap();
        c.verify_search(&req, &d.search(&req).unwrap(), now(&d)).unwrap();
        let req = c.search_request(label.as_bytes(), Some(0)).unwrap();
        assert!(d.search(&req).is_err(), "version 0 of {label} expired");
    }
}

/// The draft's worked example (appendix "CombinedTreeProof
/// Implementation"): 13 entries, a user who saw 4, a greatest-version
/// search for a label at version 2, entry 11 the rightmost distinguished.
#[test]
fn the_drafts_combined_tree_proof_example() {
    use super::combined::CombinedTreeProof;
    use super::log_tree::LogTree;
    use super::messages::{SearchRequest, SearchResponse};
    use crate::map::prefix_proof_inclusions;

    let mut d = directory(6, None);
    let stamp = |i: u64| if i == 12 { START + 17_000 } else { START + 1000 * i };
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    for i in 0..13 {
        if i < 3 {
            d.stage(b"label", format!("v{i}").as_bytes()).unwrap();
        }
        d.publish(stamp(i)).unwrap();
        if i == 3 {
            let req = c.search_request(b"label", None).unwrap();
            c.verify_search(&req, &d.search(&req).unwrap(), stamp(3)).unwrap();
            assert_eq!(c.view().size, 4);
        }
    }
    let req = c.search_request(b"label", None).unwrap();
    let resp_bytes = d.search(&req).unwrap();
    let resp = SearchResponse::from_bytes(&resp_bytes, &SearchRequest::from_bytes(&req).unwrap(), d.config()).unwrap();
    let CombinedTreeProof { timestamps, prefix_proofs, prefix_roots, inclusion } = &resp.search;
    assert_eq!(timestamps, &[stamp(7), stamp(11), stamp(12)]);
    assert_eq!(prefix_proof_inclusions(&prefix_proofs[0]).unwrap(), [true, true, false, true], "0, 1, 3, 2 at 11");
    assert_eq!(prefix_proof_inclusions(&prefix_proofs[1]).unwrap(), [false], "only 3 at 12");
    assert_eq!(prefix_proofs.len(), 2);
    assert_eq!(prefix_roots, &[d.entries()[7].prefix_root]);
    let mut log = LogTree::default();
    for e in d.entries() {
        log.push(e.leaf_value());
    }
    // Heads of leaves 4-5, leaf 6, leaves 8-9, leaf 10.
    let expected = log.prove(13, &[7, 11, 12], 4, None).unwrap();
    assert_eq!(inclusion, &expected);
    assert_eq!(inclusion.len(), 4);
    assert_eq!(inclusion[1], d.entries()[6].leaf_value());
    assert_eq!(inclusion[3], d.entries()[10].leaf_value());
    let found = c.verify_search(&req, &resp_bytes, stamp(12)).unwrap();
    assert_eq!((found.version, found.value.as_slice(), found.position), (2, &b"v2"[..], 11));
    assert_eq!(c.view().frontier.iter().map(|f| f.0).collect::<Vec<_>>(), [7, 11, 12]);
}

mod auditing {
    use ed25519_dalek::SigningKey;

    use super::super::auditor::{Auditor, AuditorUpdate};
    use super::super::client::Client;
    use super::super::directory::Directory;
    use super::super::tree_head::{Configuration, Mode};
    use super::{RMW, START};
    use crate::map::{Map, MapSuite};
    use crate::vrf::VrfSecretKey;

    const LAG: u64 = 30_000;

    pub(super) fn setup(seed: u8) -> (Directory, Auditor) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let auditor = SigningKey::from_bytes(&[seed.wrapping_add(7); 32]);
        let vrf = VrfSecretKey::from_seed(&[seed.wrapping_add(1); 32]).unwrap();
        let config = Configuration {
            mode: Mode::ThirdPartyAuditing {
                max_auditor_lag: LAG,
                auditor_start_pos: 0,
                auditor_public_key: auditor.verifying_key().as_bytes().to_vec(),
            },
            signature_public_key: signing.verifying_key().as_bytes().to_vec(),
            vrf_public_key: vrf.public_key().to_vec(),
            max_ahead: 60_000,
            max_behind: 24 * 3600 * 1000,
            reasonable_monitoring_window: RMW,
            maximum_lifetime: None,
        };
        (Directory::new(config.clone(), signing, vrf, 4).unwrap(), Auditor::new(config, auditor).unwrap())
    }

    /// Feeds the auditor every entry it has not seen and installs its head.
    pub(super) fn audit(d: &mut Directory, a: &mut Auditor) {
        let mut head = None;
        while a.size() < d.size() {
            head = Some(a.process(&d.auditor_update(a.size()).unwrap()).unwrap());
        }
        if let Some(h) = head {
            let mut w = super::super::wire::Writer::default();
            h.encode(&mut w).unwrap();
            d.set_auditor_head(&w.buf).unwrap();
        }
    }

    #[test]
    fn audited_directory_serves_verified_answers() {
        let (mut d, mut a) = setup(11);
        let mut c = Client::new(d.config().clone(), 4).unwrap();
        for i in 0..30u64 {
            // A batch above 255 leaves becomes several entries.
            let n = if i == 5 { 600 } else { (i % 4) as usize };
            for j in 0..n {
                d.stage(format!("user{}", (i as usize * 31 + j) % 700).as_bytes(), format!("keys {i}").as_bytes())
                    .unwrap();
            }
            let before = d.size();
            d.publish(START + 1000 * i).unwrap();
            assert_eq!(d.size() - before, if n > 255 { n.div_ceil(255) as u64 } else { 1 });
            let req = c.search_request(b"user31", None).unwrap();
            assert!(d.search(&req).is_err() || a.size() > 0, "no answer before the auditor has signed");
            audit(&mut d, &mut a);
            let newest = d.entries().last().unwrap().timestamp;
            if d.greatest_version(b"user31").unwrap().is_some() {
                let found = c.verify_search(&req, &d.search(&req).unwrap(), newest).unwrap();
                assert_eq!(Some(found.version), d.greatest_version(b"user31").unwrap());
                assert_eq!(c.auditor_head().unwrap().tree_size, d.size());
            }
        }
        // A log that runs ahead of its auditor by more than the allowed lag
        // is refused; caught up, it is accepted again.
        for i in 30..70u64 {
            d.publish(START + 1000 * i).unwrap();
        }
        let req = c.search_request(b"user31", None).unwrap();
        let newest = START + 69_000;
        let err = c.clone().verify_search(&req, &d.search(&req).unwrap(), newest).unwrap_err();
        assert!(err.to_string().contains("auditor"), "{err}");
        audit(&mut d, &mut a);
        c.verify_search(&req, &d.search(&req).unwrap(), newest).unwrap();
        c = Client::restore(&c.save().unwrap()).unwrap();
        assert_eq!(c.auditor_head().unwrap().tree_size, d.size());
    }

    #[test]
    fn the_auditor_refuses_changed_values_forks_and_disorder() {
        let (mut d, mut a) = setup(12);
        for i in 0..4u64 {
            d.stage(format!("user{i}").as_bytes(), b"keys").unwrap();
            d.publish(START + 1000 * i).unwrap();
        }
        audit(&mut d, &mut a);
        let honest = AuditorUpdate::from_bytes(&{
            d.stage(b"user9", b"keys").unwrap();
            d.publish(START + 5000).unwrap();
            d.auditor_update(4).unwrap()
        })
        .unwrap();
        // The same leaves under an older timestamp.
        let mut old = honest.clone();
        old.timestamp = START;
        assert!(a.process(&old.to_bytes().unwrap()).is_err());
        // A value changed in place: an existing key "added" again, proven
        // against the previous tree (where it is present).
        let mut m = Map::new(MapSuite::KeytransSha256);
        let key = honest.added[0].0;
        m.update(&[key], &[[1; 32]]).unwrap();
        let replaced = AuditorUpdate {
            timestamp: START + 5000,
            added: vec![(key, [2; 32])],
            proof: m.prove(&[key], None).unwrap(),
        };
        let err = a.process(&replaced.to_bytes().unwrap()).unwrap_err();
        assert!(err.to_string().contains("present"), "a present key cannot be added: {err}");
        // A proof against another tree (a fork) does not match the auditor's state.
        let forked =
            AuditorUpdate { proof: Map::new(MapSuite::KeytransSha256).prove(&[key], None).unwrap(), ..honest.clone() };
        assert!(a.process(&forked.to_bytes().unwrap()).is_err(), "not the previous tree");
        // Unsorted or repeated leaves.
        let mut twice = honest.clone();
        twice.added.push(twice.added[0]);
        assert!(a.process(&twice.to_bytes().unwrap()).is_err());
        // Refusals change nothing: the honest update still goes through.
        assert_eq!(a.size(), 4);
        a.process(&honest.to_bytes().unwrap()).unwrap();
        assert_eq!(a.size(), 5);
        // Malformed bytes: every truncation and a trailing byte.
        let b = honest.to_bytes().unwrap();
        for cut in 0..b.len() {
            assert!(AuditorUpdate::from_bytes(&b[..cut]).is_err());
        }
        assert!(AuditorUpdate::from_bytes(&[b.clone(), vec![0]].concat()).is_err());
    }
}

/// With an auditor, a log that shows some users another tree (a split view,
/// a hidden version, a value changed in place) cannot get that tree signed,
/// and without an auditor head it has no answer clients accept.
#[test]
fn a_split_view_cannot_borrow_the_auditors_signature() {
    use super::messages::{FullTreeHead, SearchRequest, SearchResponse};

    let (mut honest, mut auditor) = auditing::setup(21);
    let (mut fork, _) = auditing::setup(21);
    for (d, changed) in [(&mut honest, 12), (&mut fork, 5)] {
        for i in 0..12u64 {
            let value = if i == changed { "another key".to_string() } else { format!("alice keys {i}") };
            d.stage(b"alice", value.as_bytes()).unwrap();
            d.publish(START + 1000 * i).unwrap();
        }
    }
    // Same keys and labels, another tree: the fork shows version 5 with another value.
    auditing::audit(&mut honest, &mut auditor);
    let c = Client::new(fork.config().clone(), 4).unwrap();
    let req = c.search_request(b"alice", None).unwrap();
    let honest_resp = SearchResponse::from_bytes(
        &honest.search(&req).unwrap(),
        &SearchRequest::from_bytes(&req).unwrap(),
        honest.config(),
    )
    .unwrap();
    let FullTreeHead::Updated { auditor: signed, .. } = &honest_resp.full_tree_head else { panic!("a new head") };
    // The fork cannot install the honest head (it signs another root)...
    let mut w = super::wire::Writer::default();
    signed.clone().unwrap().encode(&mut w).unwrap();
    assert!(fork.set_auditor_head(&w.buf).is_err());
    assert!(fork.search(&req).is_err(), "and has no auditor head of its own to serve");
    // The honest answer verifies.
    c.clone().verify_search(&req, &honest_resp.to_bytes().unwrap(), START + 11_000).unwrap();
}

/// An owner initializes from a distinguished entry, then monitors: its
/// start moves right over distinguished entries holding what it knows, and
/// stops before an entry holding a version it does not know.
#[test]
fn owners_initialize_and_monitor_their_labels() {
    let mut d = directory(31, None);
    grow(&mut d, 0, 60);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.distinguished_request(None);
    let recent = c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(&d)).unwrap();
    let start = recent.last().unwrap().0;
    for label in [&b"user1"[..], b"nobody"] {
        let req = c.owner_init_request(label, start).unwrap();
        let resp = d.owner_init(&req).unwrap();
        // Every flipped byte is refused, and changes nothing.
        let saved = c.save().unwrap();
        for i in (0..resp.len()).step_by(3) {
            let mut bad = resp.clone();
            bad[i] ^= 0x10;
            assert!(c.clone().verify_owner_init(&req, &bad, now(&d)).is_err(), "byte {i}");
        }
        assert_eq!(c.save().unwrap(), saved);
        let greatest = c.verify_owner_init(&req, &resp, now(&d)).unwrap();
        // `grow` gives user1 a version at entries 6, 21, 36, 51.
        let made = (0..=start).filter(|i| i % 15 == 6).count() as u32;
        let expected = if label == b"user1" { made.checked_sub(1) } else { None };
        assert_eq!(greatest, expected);
    }
    // Other labels change; user1 stays as it was: monitoring moves right.
    let mut starts = vec![start];
    for _ in 0..6 {
        let n = d.size();
        for i in n..n + 15 {
            d.stage(format!("other{i}").as_bytes(), b"keys").unwrap();
            d.publish(START + 1000 * i).unwrap();
        }
        for label in [&b"user1"[..], b"nobody"] {
            let req = c.owner_monitor_request(label).unwrap();
            let moved = c.verify_owner_monitor(&req, &d.owner_monitor(&req).unwrap(), now(&d)).unwrap();
            if label == b"user1" {
                starts.push(moved.start);
            }
        }
        c = Client::restore(&c.save().unwrap()).unwrap();
    }
    assert!(starts.windows(2).all(|w| w[0] <= w[1]) && starts.last() > starts.first(), "{starts:?}");
    // A version the owner did not make: the log never gets it vouched for.
    let n = d.size();
    d.stage(b"user1", b"someone else's key").unwrap();
    d.publish(START + 1000 * n).unwrap();
    let unknown_at = n;
    for i in n + 1..n + 60 {
        d.publish(START + 1000 * i).unwrap();
    }
    // The log stops before the entry holding it (it answers at most 16
    // ladders a time): the owner moves up to it, then is refused an answer
    // that makes no progress, which is how it learns to ask what is new.
    let mut stalled = None;
    for _ in 0..40 {
        let req = c.owner_monitor_request(b"user1").unwrap();
        match c.verify_owner_monitor(&req, &d.owner_monitor(&req).unwrap(), now(&d)) {
            Ok(p) => assert!(p.start < unknown_at && !p.complete, "{p:?} passed the unknown version at {unknown_at}"),
            Err(e) => {
                stalled = Some(e);
                break;
            }
        }
    }
    let stalled = stalled.expect("owner monitoring never stalled at the unknown version");
    assert!(matches!(&stalled, Error::Verification(m) if m.contains("no progress")), "{stalled}");
    // An owner state that claims more than the log holds is refused.
    assert!(d
        .owner_monitor(&{
            let mut r =
                super::messages::OwnerMonitorRequest::from_bytes(&c.owner_monitor_request(b"user1").unwrap()).unwrap();
            r.greatest_version = Some(99);
            r.to_bytes().unwrap()
        })
        .is_err());
}

/// Owners add versions through `UpdateRequest`s and verify where the log
/// put them, whether the entry is distinguished or not, one or several
/// versions at a time; they learn of versions someone else added; and
/// monitoring goes on over the new versions.
#[test]
fn owners_update_their_labels() {
    let mut d = directory(41, None);
    grow(&mut d, 0, 60);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.distinguished_request(None);
    let recent = c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(&d)).unwrap();
    let start = recent.last().unwrap().0;
    for label in [&b"user1"[..], b"newbie"] {
        let req = c.owner_init_request(label, start).unwrap();
        c.verify_owner_init(&req, &d.owner_init(&req).unwrap(), now(&d)).unwrap();
    }
    let (mut distinguished, mut monitored) = (0, 0);
    let mut clock = START + 1000 * 59;
    for round in 0..8u64 {
        let label = if round % 2 == 0 { &b"user1"[..] } else { b"newbie" };
        let values: Vec<Vec<u8>> = (0..1 + round % 3).map(|k| format!("{round}.{k}").into_bytes()).collect();
        let req = c.update_request(label, &values).unwrap();
        assert!(d.update(&req).unwrap().is_none(), "staged, not answered");
        assert!(d.update(&req).unwrap().is_none(), "a retry waits for the same entry");
        let more = c.update_request(label, &[b"more".to_vec()]).unwrap();
        assert!(d.update(&more).is_err(), "a second batch while one waits");
        // Other labels change around it; gaps of 1 s leave recent entries
        // undistinguished, gaps of 30 s make them distinguished.
        let gap = if round % 4 < 2 { 1000 } else { 30_000 };
        for i in 0..3 + round {
            d.stage(format!("other{round}.{i}").as_bytes(), b"keys").unwrap();
            clock += gap;
            d.publish(clock).unwrap();
        }
        let at = clock + 5;
        let resp = d.update(&req).unwrap().expect("published");
        // Every flipped byte is refused and changes nothing, values added at
        // a distinguished entry too (the draft leaves those to owner
        // monitoring; veritree looks them up at once).
        let saved = c.save().unwrap();
        for i in (0..resp.len()).step_by(5) {
            let mut bad = resp.clone();
            bad[i] ^= 0x04;
            assert!(c.clone().verify_update(&req, &bad, at).is_err(), "byte {i} of {}", resp.len());
        }
        assert_eq!(c.save().unwrap(), saved);
        let got = c.verify_update(&req, &resp, at).unwrap();
        assert_eq!(got.iter().map(|g| g.1.clone()).collect::<Vec<_>>(), values);
        assert_eq!(got.last().unwrap().0, d.greatest_version(label).unwrap().unwrap());
        // The owner's monitoring keeps verifying with the new versions.
        let req = c.owner_monitor_request(label).unwrap();
        c.verify_owner_monitor(&req, &d.owner_monitor(&req).unwrap(), at).unwrap();
        // An undistinguished entry joins the owner's contact monitoring.
        let p = super::messages::UpdateResponse::from_bytes(&resp, d.config()).unwrap().position;
        if !c.monitors().get(label).is_some_and(|m| m.entries.contains_key(&p)) {
            distinguished += 1;
        }
        if let Some(m) = c.monitors().get(label) {
            monitored += m.entries.len();
            let req = c.monitor_request(label).unwrap();
            c.verify_monitor(&req, &d.monitor(&req).unwrap(), at).unwrap();
        }
        c = Client::restore(&c.save().unwrap()).unwrap();
    }
    assert!(distinguished > 0, "no update landed on a distinguished entry");
    assert!(monitored > 0, "no update landed on an undistinguished entry");
    // Someone else adds two versions, in two entries: the owner hears of
    // each, in order, with its value.
    for evil in [&b"evil 1"[..], b"evil 2"] {
        d.stage(b"newbie", evil).unwrap();
        clock += 60_000;
        d.publish(clock).unwrap();
    }
    let mut heard = Vec::new();
    while let Ok(Some(resp)) = d.update(&c.update_request(b"newbie", &[]).unwrap()) {
        let req = c.update_request(b"newbie", &[]).unwrap();
        heard.extend(c.verify_update(&req, &resp, clock + 5).unwrap().into_iter().map(|g| g.1));
    }
    assert_eq!(heard, vec![b"evil 1".to_vec(), b"evil 2".to_vec()]);
    // A greatest version the label never had is refused.
    let mut r = super::messages::UpdateRequest::from_bytes(&c.update_request(b"newbie", &[]).unwrap()).unwrap();
    r.greatest_version = Some(999);
    assert!(d.update(&r.to_bytes().unwrap()).is_err());
}

/// An update response that puts the new versions at or left of what the
/// owner already verified, or that hides a version made in between, fails.
#[test]
fn an_update_the_owner_did_not_see_in_order_is_refused() {
    let mut d = directory(43, None);
    grow(&mut d, 0, 30);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let req = c.distinguished_request(None);
    let recent = c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(&d)).unwrap();
    let req = c.owner_init_request(b"user1", recent.last().unwrap().0).unwrap();
    c.verify_owner_init(&req, &d.owner_init(&req).unwrap(), now(&d)).unwrap();
    let req = c.update_request(b"user1", &[b"mine".to_vec()]).unwrap();
    let before = d.greatest_version(b"user1").unwrap().unwrap();
    assert_eq!(d.update(&req).unwrap(), None, "staged");
    // A retry of the same request waits for the same entry, staging nothing
    // more; other values meanwhile are refused.
    assert_eq!(d.update(&req).unwrap(), None, "the same request again");
    let other = c.update_request(b"user1", &[b"other".to_vec()]).unwrap();
    assert!(d.update(&other).unwrap_err().to_string().contains("already waiting"));
    d.publish(START + 1000 * d.size()).unwrap();
    assert_eq!(d.greatest_version(b"user1").unwrap(), Some(before + 1), "one version made, not two");
    let resp = d.update(&req).unwrap().unwrap();
    // The same answer with an earlier position.
    let mut parsed = super::messages::UpdateResponse::from_bytes(&resp, d.config()).unwrap();
    parsed.position = 3;
    assert!(c.clone().verify_update(&req, &parsed.to_bytes().unwrap(), now(&d)).is_err());
    // Two values claimed where one was made.
    let mut parsed = super::messages::UpdateResponse::from_bytes(&resp, d.config()).unwrap();
    parsed.values.push(b"more".to_vec());
    parsed.openings.push([0; 16]);
    assert!(c.clone().verify_update(&req, &parsed.to_bytes().unwrap(), now(&d)).is_err());
    c.verify_update(&req, &resp, now(&d)).unwrap();
}

/// Clients gossip their signed heads: the same log gives equal roots at
/// equal sizes; a fork signed with the log's key gives two signed heads of
/// one size with different roots (evidence); forged heads are refused.
#[test]
fn gossiped_heads_expose_a_split_view() {
    use super::tree_head::SignedHead;
    let (mut honest, mut fork) = (directory(5, None), directory(5, None));
    grow(&mut honest, 0, 12);
    grow(&mut fork, 0, 12);
    honest.stage(b"user1", b"honest keys").unwrap();
    fork.stage(b"user1", b"attacker keys").unwrap();
    honest.publish(START + 12_000).unwrap();
    fork.publish(START + 12_000).unwrap();
    let head_of = |d: &Directory| {
        let mut c = Client::new(d.config().clone(), 4).unwrap();
        assert!(c.signed_head().is_none());
        let req = c.search_request(b"user0", None).unwrap();
        c.verify_search(&req, &d.search(&req).unwrap(), now(d)).unwrap();
        let restored = Client::restore(&c.save().unwrap()).unwrap();
        assert_eq!(restored.signed_head(), c.signed_head());
        c.signed_head().unwrap()
    };
    let (a, b, e) = (head_of(&honest), head_of(&honest), head_of(&fork));
    let config = honest.config();
    let parse = |h: &SignedHead| SignedHead::verified(&h.to_bytes().unwrap(), config);
    assert_eq!(parse(&a).unwrap(), b);
    let evil = parse(&e).unwrap();
    assert_eq!(evil.tree_size, a.tree_size);
    assert_ne!(evil.root, a.root, "a split view: one key signed two roots for one size");
    // A head with a changed root, size or signature, or bad bytes, fails.
    let bytes = a.to_bytes().unwrap();
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x20;
        assert!(SignedHead::verified(&bad, config).is_err(), "byte {i}");
    }
    assert!(SignedHead::verified(&bytes[..bytes.len() - 1], config).is_err());
    assert!(SignedHead::verified(&[bytes.clone(), vec![0]].concat(), config).is_err());
    let other = directory(6, None);
    assert!(SignedHead::verified(&bytes, other.config()).is_err(), "another log's key");
}

/// Gossip of a whole view: a peer of the honest log gets its view proven
/// consistent by the honest log; the fork cannot prove it, whatever the
/// sizes. Gossip reveals no labels and forged gossip is refused.
#[test]
fn gossiped_views_are_proven_or_refused_by_the_directory() {
    let (mut honest, mut fork) = (directory(7, None), directory(7, None));
    grow(&mut honest, 0, 12);
    grow(&mut fork, 0, 12);
    honest.stage(b"user1", b"honest keys").unwrap();
    fork.stage(b"user1", b"attacker keys").unwrap();
    honest.publish(START + 12_000).unwrap();
    fork.publish(START + 12_000).unwrap();
    let mut alice = Client::new(honest.config().clone(), 4).unwrap();
    let req = alice.search_request(b"user1", None).unwrap();
    alice.verify_search(&req, &honest.search(&req).unwrap(), now(&honest)).unwrap();
    assert!(!alice.monitors().is_empty());
    let gossip = alice.gossip().unwrap();
    grow(&mut honest, 13, 17);
    grow(&mut fork, 13, 15);
    let config = honest.config();
    for (d, consistent) in [(&honest, true), (&fork, false)] {
        let mut probe = Client::from_gossip(&gossip, config).unwrap();
        assert!(probe.monitors().is_empty() && probe.owned().is_empty());
        let req = probe.distinguished_request(None);
        let verdict = d.distinguished(&req).and_then(|resp| probe.verify_distinguished(&req, &resp, now(d)));
        assert_eq!(verdict.is_ok(), consistent, "{verdict:?}");
    }
    // A changed signature, root or subtree head is refused (the frontier is
    // not signed: see the next test).
    let find = |h: &[u8]| gossip.windows(h.len()).position(|w| w == h).unwrap();
    let head = alice.signed_head().unwrap();
    let spots = [find(&head.root), find(&head.signature) + 9, find(&alice.view().heads[0]) + 31];
    for at in spots {
        let mut bad = gossip.clone();
        bad[at] ^= 1;
        assert!(Client::from_gossip(&bad, config).is_err(), "byte {at}");
    }
    assert!(Client::from_gossip(&alice.save().unwrap(), config).is_err(), "a state with labels is not gossip");
    assert!(Client::from_gossip(&gossip, directory(8, None).config()).is_err());
    assert!(Client::new(config.clone(), 4).unwrap().gossip().is_err());
}

/// The frontier a gossiped view carries (timestamps, prefix roots) is
/// covered by no signature: a peer that rewrites it must not make the
/// honest directory look split (the probe uses the signed head and subtree
/// heads alone), nor make a fork pass; and a probe verifies nothing else.
#[test]
fn gossip_with_a_rewritten_frontier_is_judged_on_its_signed_head_alone() {
    let (mut honest, mut fork) = (directory(9, None), directory(9, None));
    grow(&mut honest, 0, 13);
    grow(&mut fork, 0, 12);
    fork.stage(b"user1", b"attacker keys").unwrap();
    fork.publish(START + 12_000).unwrap();
    let mut alice = Client::new(honest.config().clone(), 4).unwrap();
    let req = alice.distinguished_request(None);
    alice.verify_distinguished(&req, &honest.distinguished(&req).unwrap(), now(&honest)).unwrap();
    let gossip = alice.gossip().unwrap();
    // The frontier's entries (index, timestamp, prefix root: 48 bytes
    // each) come last, before the two empty label maps.
    let k = alice.view().frontier.len();
    assert!(k >= 3);
    let rewrite = |i: usize, field: usize, value: &[u8]| {
        let mut g = gossip.clone();
        let at = g.len() - 8 - 48 * (k - i) + field;
        g[at..at + value.len()].copy_from_slice(value);
        g
    };
    let far = (START + (1 << 40)).to_be_bytes();
    let forged = [
        rewrite(k - 1, 8, &far),                // the newest entry from the future
        rewrite(k - 1, 8, &0u64.to_be_bytes()), // ... or stale
        rewrite(0, 8, &far),                    // timestamps out of order
        rewrite(1, 16, &[0xee; 32]),            // a prefix root
        rewrite(0, 0, &5u64.to_be_bytes()),     // an index
    ];
    let config = honest.config().clone();
    let probes: Vec<Client> = forged.iter().map(|g| Client::from_gossip(g, &config).unwrap()).collect();
    let probe = |p: &mut Client, d: &Directory| {
        let req = p.distinguished_request(None);
        d.distinguished(&req).and_then(|resp| p.verify_distinguished(&req, &resp, now(d)))
    };
    let walk = alice.distinguished_request(None);
    for p in &probes {
        // The directory has not grown: it answers "same head".
        assert_eq!(probe(&mut p.clone(), &honest).unwrap(), vec![]);
        assert!(p.search_request(b"user1", None).is_err() && p.save().is_err(), "a probe only extends its view");
        let walked = p.clone().verify_distinguished(&walk, &honest.distinguished(&walk).unwrap(), now(&honest));
        assert!(matches!(walked, Err(Error::InvalidArgument(_))), "{walked:?}");
    }
    grow(&mut honest, 13, 17);
    grow(&mut fork, 13, 15);
    let head = |d: &Directory| {
        let mut c = Client::new(config.clone(), 4).unwrap();
        let req = c.distinguished_request(None);
        c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(d)).unwrap();
        c.signed_head()
    };
    for p in &probes {
        let mut q = p.clone();
        probe(&mut q, &honest).unwrap();
        assert_eq!(q.signed_head(), head(&honest));
        probe(&mut q, &honest).unwrap();
        assert!(probe(&mut p.clone(), &fork).is_err(), "the fork cannot prove the signed head");
    }
}

/// Written from real prefix proofs (the engine is on this side).
#[test]
fn a_combined_tree_proof_round_trips_and_refuses_malformed_encodings() {
    let mut m = Map::new(MapSuite::KeytransSha256);
    m.update(&[[1; 32], [2; 32], [0x80; 32]], &[[5; 32]; 3]).unwrap();
    let p1 = m.prove(&[[1; 32]], None).unwrap();
    let p2 = m.prove(&[[3; 32], [0x80; 32]], None).unwrap();
    let proof = CombinedTreeProof {
        timestamps: vec![1, 2, 3],
        prefix_proofs: vec![p1.clone(), p2],
        prefix_roots: vec![[7; 32]],
        inclusion: vec![[8; 32], [9; 32]],
    };
    let b = proof.to_bytes().unwrap();
    assert_eq!(CombinedTreeProof::from_bytes(&b).unwrap(), proof);
    assert_eq!(CombinedTreeProof::from_bytes(&[0, 0, 0, 0, 0]).unwrap(), CombinedTreeProof::default());
    for cut in 0..b.len() {
        assert!(CombinedTreeProof::from_bytes(&b[..cut]).is_err(), "cut at {cut}");
    }
    assert!(CombinedTreeProof::from_bytes(&[b.clone(), vec![0]].concat()).is_err());
    let mut padded = proof.clone();
    padded.prefix_proofs[0].push(0);
    assert!(padded.to_bytes().is_err());
    let too_many = CombinedTreeProof { timestamps: vec![0; 256], ..CombinedTreeProof::default() };
    assert!(too_many.to_bytes().is_err());
    // An unknown result type inside a prefix proof.
    let mut bad = b.clone();
    bad[1 + 24 + 1 + 1] = 9;
    assert!(CombinedTreeProof::from_bytes(&bad).is_err_and(|e| e.to_string().contains("unknown type")));
    assert_eq!(p1.len(), prefix_proof_len(&[p1.clone(), vec![1, 2, 3]].concat()).unwrap());
}

/// Openings are derived from the VRF key (the same for a label and version,
/// different for another label, version or key) and never stored; one made
/// elsewhere (a journal's older random one) is kept in its record and served.
#[test]
fn openings_are_derived_or_kept_as_made() {
    use super::messages::{SearchRequest, SearchResponse};

    let mut d = directory(3, None);
    let other = directory(4, None);
    let derived = d.opening(b"alice", 0);
    assert_eq!(derived, d.opening(b"alice", 0));
    for different in [d.opening(b"alice", 1), d.opening(b"bob", 0), other.opening(b"alice", 0)] {
        assert_ne!(derived, different);
    }
    d.stage(b"alice", b"first").unwrap();
    d.publish(START).unwrap();
    d.publish_with_opening(START + 1000, b"alice", b"second", [9; 16]);
    d.stage(b"alice", b"third").unwrap();
    d.publish(START + 2000).unwrap();
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    for (v, opening, value) in [(0, derived, "first"), (1, [9; 16], "second"), (2, d.opening(b"alice", 2), "third")] {
        let req = c.search_request(b"alice", Some(v)).unwrap();
        let resp = d.search(&req).unwrap();
        let parsed = SearchResponse::from_bytes(&resp, &SearchRequest::from_bytes(&req).unwrap(), d.config()).unwrap();
        assert_eq!(parsed.opening, opening, "version {v}");
        assert_eq!(c.verify_search(&req, &resp, now(&d)).unwrap().value, value.as_bytes());
    }
}
