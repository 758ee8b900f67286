//! What the fuzz targets share: real states to fuzz against (a directory and
//! a client that followed it, a map, a note key) built once per process, and
//! small references written for the tests (RFC 9162's proof algorithms, the
//! KEYTRANS prefix tree) that the engines are checked against.

use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use veritree_core::kt::directory::Directory;
use veritree_verify::kt::client::Client;
use veritree_verify::kt::tree_head::{Configuration, Mode};
use veritree_verify::vrf::VrfSecretKey;
use veritree_verify::{Hash, Suite};

pub mod prefix_reference;
pub mod reference;

/// Entry `i` is `T0 + 1000·i` ms.
pub const T0: u64 = 1_700_000_000_000;

/// A directory of 40 entries (label `user{i % 5}` gets a version at every
/// third entry), the client that verified a search of each label, and the
/// requests each response kind answers, with their honest responses.
pub struct Kt {
    pub directory: Directory,
    pub client: Client,
    /// (kind, request, honest response): kind 0 search, 1 monitor,
    /// 2 distinguished, 3 owner init, 4 owner monitor.
    pub exchanges: Vec<(u8, Vec<u8>, Vec<u8>)>,
    pub vrf: VrfSecretKey,
}

pub const ENTRIES: u64 = 40;

/// A contact-monitoring configuration under these keys (a day behind, a
/// minute ahead, a 10 s monitoring window).
pub fn contact_config(signing: &SigningKey, vrf: &VrfSecretKey) -> Configuration {
    Configuration {
        mode: Mode::ContactMonitoring,
        signature_public_key: signing.verifying_key().as_bytes().to_vec(),
        vrf_public_key: vrf.public_key().to_vec(),
        max_ahead: 60_000,
        max_behind: 24 * 3600 * 1000,
        reasonable_monitoring_window: 10_000,
        maximum_lifetime: None,
    }
}

pub fn kt() -> &'static Kt {
    static KT: OnceLock<Kt> = OnceLock::new();
    KT.get_or_init(|| {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let vrf = VrfSecretKey::from_seed(&[8; 32]).expect("a seed");
        let config = contact_config(&signing, &vrf);
        let mut directory =
            Directory::new(config.clone(), signing, VrfSecretKey::from_seed(&[8; 32]).expect("a seed"), 4).unwrap();
        for i in 0..ENTRIES {
            if i % 3 == 0 {
                directory.stage(format!("user{}", i % 5).as_bytes(), format!("keys {i}").as_bytes()).unwrap();
            }
            directory.publish(T0 + 1000 * i).unwrap();
        }
        let now = T0 + 1000 * (ENTRIES - 1) + 5;
        let mut client = Client::new(config, 4).unwrap();
        let mut exchanges = Vec::new();
        for u in 0..5 {
            let label = format!("user{u}");
            let q = client.search_request(label.as_bytes(), None).unwrap();
            let a = directory.search(&q).unwrap();
            client.verify_search(&q, &a, now).unwrap();
            exchanges.push((0, q, a));
        }
        let q = client.monitor_request(b"user1").unwrap();
        exchanges.push((1, q.clone(), directory.monitor(&q).unwrap()));
        let q = client.distinguished_request(None);
        exchanges.push((2, q.clone(), directory.distinguished(&q).unwrap()));
        let q = client.owner_init_request(b"user2", 0).unwrap();
        exchanges.push((3, q.clone(), directory.owner_init(&q).unwrap()));
        Kt { directory, client, exchanges, vrf }
    })
}

/// The leaf hashes of a tree of `n` leaves (entries `0..n` as bytes).
pub fn leaves(suite: Suite, n: u64) -> Vec<Hash> {
    (0..n).map(|i| suite.leaf_hash(&i.to_le_bytes())).collect()
}
