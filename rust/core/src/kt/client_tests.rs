//! The client's retained state where honest use meets the draft's edges:
//! monitoring maps that never lose a newer version nor hold what the log
//! refuses, rollback refusals judged, state saved in the old format.

use super::client::Client;
use super::tests::{directory, grow, now, rightmost_distinguished, START};
use crate::error::Error;

/// Searches `label` (greatest version, or `version`) and verifies it.
fn search(c: &mut Client, d: &super::directory::Directory, label: &[u8], version: Option<u32>) -> super::client::Found {
    let req = c.search_request(label, version).unwrap();
    c.verify_search(&req, &d.search(&req).unwrap(), now(d)).unwrap()
}

/// Monitors every label `c` monitors; the honest log must answer each.
fn monitor_all(c: &mut Client, d: &super::directory::Directory) {
    let labels: Vec<Vec<u8>> = c.monitors().keys().cloned().collect();
    for label in labels {
        let req = c.monitor_request(&label).unwrap();
        let resp = d.monitor(&req).unwrap_or_else(|e| panic!("the log refused {:?}: {e}", c.monitors()[&label]));
        c.verify_monitor(&req, &resp, now(d)).unwrap();
    }
}

/// Versions 0 and 1 made in one undistinguished entry: the greatest-version
/// search records version 1 there, and a later fixed-version search for
/// version 0 must not replace it (version 1 would never be looked at again).
#[test]
fn a_search_for_an_older_version_keeps_the_newer_one_monitored() {
    let mut d = directory(50, None);
    grow(&mut d, 0, 30);
    d.stage(b"pair", b"v0").unwrap();
    d.stage(b"pair", b"v1").unwrap();
    d.publish(START + 30_000).unwrap();
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let newest = search(&mut c, &d, b"pair", None);
    assert!(newest.monitored && newest.version == 1, "{newest:?}");
    let older = search(&mut c, &d, b"pair", Some(0));
    assert_eq!(older.position, newest.position, "both versions came in one entry");
    assert_eq!(c.monitors()[&b"pair"[..]].entries.values().max(), Some(&1), "{:?}", c.monitors());
    // The log still accepts the map, and monitoring goes on to the end.
    for round in 0..12 {
        monitor_all(&mut c, &d);
        let n = d.size();
        grow(&mut d, n, n + 10 + round);
    }
    assert!(c.monitors().is_empty(), "{:?}", c.monitors());
}

/// A device that looks its own label up, then hears of the same version
/// through an `UpdateRequest`, tracks that version once: a repeated version
/// makes an honest log refuse every later monitoring request.
#[test]
fn an_owner_that_searched_its_own_label_keeps_a_map_the_log_accepts() {
    let mut d = directory(51, None);
    grow(&mut d, 0, 40);
    let mut phone = Client::new(d.config().clone(), 4).unwrap();
    let start = rightmost_distinguished(&mut phone, &d);
    let req = phone.owner_init_request(b"me", start).unwrap();
    phone.verify_owner_init(&req, &d.owner_init(&req).unwrap(), now(&d)).unwrap();
    let tablet_before = phone.save().unwrap();
    let update = phone.update_request(b"me", &[b"keys".to_vec()]).unwrap();
    assert!(d.update(&update).unwrap().is_none());
    d.publish(START + 40_000).unwrap();
    let added = d.update(&update).unwrap().unwrap();
    phone.verify_update(&update, &added, now(&d)).unwrap();
    let p = d.size() - 1;
    // A second device restored from before the update searches first, once
    // the search's terminal entry is no longer the entry that added it.
    let mut tablet = Client::restore(&tablet_before).unwrap();
    let mut found = None;
    for i in 0..20 {
        grow(&mut d, 41 + i, 42 + i);
        let mut probe = tablet.clone();
        let f = search(&mut probe, &d, b"me", None);
        if f.monitored && f.position != p {
            (tablet, found) = (probe, Some(f));
            break;
        }
    }
    let found = found.expect("the search ended at another entry than the update's");
    let req = tablet.update_request(b"me", &[]).unwrap();
    let resp = d.update(&req).unwrap().expect("version 0 is news to the tablet");
    tablet.verify_update(&req, &resp, now(&d)).unwrap();
    let versions: Vec<u32> = tablet.monitors()[&b"me"[..]].entries.values().copied().collect();
    assert_eq!(versions, vec![found.version], "version 0 tracked once");
    monitor_all(&mut tablet, &d);
    monitor_all(&mut phone, &d);
}

/// The log refuses a view larger than its own with its signed head: a
/// smaller head it signed proves a rollback; a forged or larger one proves
/// nothing and is refused.
#[test]
fn a_refusal_with_a_smaller_signed_head_proves_a_rollback() {
    let mut d = directory(52, None);
    grow(&mut d, 0, 20);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    search(&mut c, &d, b"user1", None);
    let mut restored = directory(52, None);
    grow(&mut restored, 0, 15);
    let req = c.search_request(b"user1", None).unwrap();
    let Err(Error::Behind { head, .. }) = restored.search(&req) else { panic!("the restored log must refuse") };
    let proof = c.judge_behind(&head).unwrap();
    assert_eq!(proof.tree_size, 15);
    let mut forged = head.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(matches!(c.judge_behind(&forged), Err(Error::Verification(_))));
    assert!(matches!(c.judge_behind(&head[..10]), Err(Error::Verification(_))));
    grow(&mut d, 20, 25);
    let mut larger = Client::new(d.config().clone(), 4).unwrap();
    search(&mut larger, &d, b"user1", None);
    let bigger = larger.signed_head().unwrap().to_bytes().unwrap();
    assert!(matches!(c.judge_behind(&bigger), Err(Error::Verification(m)) if m.contains("25")));
    // Another log's head (other keys) proves nothing either.
    let mut other = directory(53, None);
    grow(&mut other, 0, 10);
    let mut stranger = Client::new(other.config().clone(), 4).unwrap();
    search(&mut stranger, &other, b"user1", None);
    assert!(c.judge_behind(&stranger.signed_head().unwrap().to_bytes().unwrap()).is_err());
}

/// The client refuses third-party management: it cannot check the service
/// operator's signatures on values yet.
#[test]
fn third_party_management_is_refused() {
    let d = directory(54, None);
    let mut config = d.config().clone();
    config.mode = super::tree_head::Mode::ThirdPartyManagement { leaf_public_key: vec![7; 32] };
    let err = Client::new(config, 4).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("third-party management")), "{err}");
}

/// Owner monitoring says when it is complete; an owner whose start passed
/// the maximum lifetime knows it must initialize again.
#[test]
fn owner_monitoring_reports_completion_and_expiry() {
    let lifetime = 200_000;
    let mut d = directory(55, Some(lifetime));
    grow(&mut d, 0, 60);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let start = rightmost_distinguished(&mut c, &d);
    let req = c.owner_init_request(b"user2", start).unwrap();
    c.verify_owner_init(&req, &d.owner_init(&req).unwrap(), now(&d)).unwrap();
    assert!(!c.owner_expired(b"user2").unwrap());
    // The owner hears of the versions made after its start (entry 57's).
    while let Ok(Some(resp)) = d.update(&c.update_request(b"user2", &[]).unwrap()) {
        let req = c.update_request(b"user2", &[]).unwrap();
        c.verify_update(&req, &resp, now(&d)).unwrap();
    }
    assert_eq!(c.owned()[&b"user2"[..]].greatest, d.greatest_version(b"user2").unwrap());
    // Other labels only: monitoring completes in a few rounds.
    for i in 60..150 {
        d.stage(format!("other{i}").as_bytes(), b"k").unwrap();
        d.publish(START + 1000 * i).unwrap();
    }
    let mut rounds = 0;
    loop {
        rounds += 1;
        let req = c.owner_monitor_request(b"user2").unwrap();
        let p = c.verify_owner_monitor(&req, &d.owner_monitor(&req).unwrap(), now(&d)).unwrap();
        if p.complete {
            break;
        }
        assert!(rounds < 20, "never complete");
    }
    let req = c.owner_monitor_request(b"user2").unwrap();
    assert!(c.verify_owner_monitor(&req, &d.owner_monitor(&req).unwrap(), now(&d)).unwrap().complete);
    // Far later, the start has expired (in the client's fresh view).
    let n = d.size();
    for i in n..n + 5 {
        d.publish(START + 1000 * n + lifetime * (i - n + 1)).unwrap();
    }
    let req = c.distinguished_request(None);
    let at = d.entries().last().unwrap().timestamp;
    c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), at).unwrap();
    assert!(c.owner_expired(b"user2").unwrap());
    assert!(c.owner_expired(b"not mine").is_err());
}

/// A contact back from an absence longer than the maximum lifetime knows
/// which of its positions the log may no longer keep (what a client falls
/// back on when the log refuses to monitor them).
#[test]
fn monitoring_positions_past_the_maximum_lifetime_are_known_and_forgotten() {
    let lifetime = 100_000;
    let mut d = directory(56, Some(lifetime));
    grow(&mut d, 0, 40);
    let mut c = Client::new(d.config().clone(), 4).unwrap();
    let label = b"user3";
    let found = search(&mut c, &d, label, None);
    assert!(found.monitored, "the newest entries are not distinguished");
    assert!(c.forget_expired(label).is_empty());
    assert!(c.monitors()[&label[..]].stamps.contains_key(&found.position));
    // Away for longer than the lifetime; the log went on 1 entry a second.
    grow(&mut d, 40, 300);
    let req = c.distinguished_request(None);
    c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now(&d)).unwrap();
    let old: Vec<u64> = c.monitors()[&label[..]].entries.keys().copied().collect();
    let gone = c.forget_expired(label);
    assert_eq!(gone.iter().map(|g| g.0).collect::<Vec<_>>(), old);
    assert!(!c.monitors().contains_key(&label[..]));
}
