//! The directory's `update` endpoint, where a label's owner stages new
//! versions: a small real directory (8 entries, built afresh per input)
//! gets update requests — an owner's own (it initialized `alice` and `dave`
//! from a distinguished entry), crafted ones (any view, label, greatest
//! version and values), either tampered with, or arbitrary bytes — mixed
//! with versions staged directly and publications. A model of each label's
//! published and waiting versions says what every request must do: stage
//! its values, wait for the entry its values already wait for, answer with
//! the versions of the first entry after the greatest one it names (an
//! owner verifies that answer and learns exactly those), or be refused and
//! change nothing. At the end everything waiting is published, and a new
//! client's searches of the labels touched verify and find the model's
//! values.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use veritree_core::kt::directory::Directory;
use veritree_fuzz::{contact_config, T0};
use veritree_verify::kt::client::Client;
use veritree_verify::kt::messages::{UpdateRequest, UpdateResponse};
use veritree_verify::kt::tree_head::Configuration;
use veritree_verify::vrf::VrfSecretKey;

const LABELS: [&[u8]; 4] = [b"alice", b"bob", b"carol", b"dave"];
/// The labels the owner initialized.
const OWNED: [&[u8]; 2] = [b"alice", b"dave"];
const BASE: u64 = 8;

fn keys() -> (SigningKey, VrfSecretKey) {
    (SigningKey::from_bytes(&[11; 32]), VrfSecretKey::from_seed(&[12; 32]).expect("a seed"))
}

fn config() -> &'static Configuration {
    static C: OnceLock<Configuration> = OnceLock::new();
    C.get_or_init(|| {
        let (signing, vrf) = keys();
        contact_config(&signing, &vrf)
    })
}

/// Each label's published versions (the entry that added each, its value)
/// and the versions waiting for the next entry.
#[derive(Clone, Default)]
struct Label {
    published: Vec<(u64, Vec<u8>)>,
    waiting: Vec<Vec<u8>>,
}

impl Label {
    fn greatest(&self) -> Option<u32> {
        (self.published.len() as u32).checked_sub(1)
    }
}

#[derive(Clone)]
struct Model {
    labels: BTreeMap<Vec<u8>, Label>,
    size: u64,
    last_timestamp: u64,
}

impl Model {
    fn label(&self, label: &[u8]) -> Label {
        self.labels.get(label).cloned().unwrap_or_default()
    }

    fn waiting(&self) -> usize {
        self.labels.values().map(|l| l.waiting.len()).sum()
    }

    fn published(&mut self, timestamp: u64) {
        for l in self.labels.values_mut() {
            let waiting = std::mem::take(&mut l.waiting);
            l.published.extend(waiting.into_iter().map(|v| (self.size, v)));
        }
        self.size += 1;
        self.last_timestamp = timestamp;
    }
}

/// The base directory: `alice` gets a version at entries 0, 3 and 6, `bob`
/// two at entry 1, `carol` one at entry 4; and the model of it.
fn base() -> (Directory, Model) {
    let (signing, vrf) = keys();
    let mut d = Directory::new(config().clone(), signing, vrf, 4).expect("a directory");
    let mut model = Model { labels: BTreeMap::new(), size: 0, last_timestamp: 0 };
    for i in 0..BASE {
        let staged: &[(&[u8], &[u8])] = match i {
            0 | 3 | 6 => &[(b"alice", b"alice's keys")],
            1 => &[(b"bob", b"bob's old keys"), (b"bob", b"bob's keys")],
            4 => &[(b"carol", b"carol's keys")],
            _ => &[],
        };
        for (label, value) in staged {
            d.stage(label, value).unwrap();
            model.labels.entry(label.to_vec()).or_default().waiting.push(value.to_vec());
        }
        d.publish(T0 + 1000 * i).unwrap();
        model.published(T0 + 1000 * i);
    }
    (d, model)
}

/// A client that owns `OWNED`, initialized on the base directory (which is
/// the same every time: its keys and timestamps are fixed).
fn owner() -> &'static Client {
    static OWNER: OnceLock<Client> = OnceLock::new();
    OWNER.get_or_init(|| {
        let (d, model) = base();
        let now = model.last_timestamp + 5;
        let mut c = Client::new(config().clone(), 4).unwrap();
        let req = c.distinguished_request(None);
        let recent = c.verify_distinguished(&req, &d.distinguished(&req).unwrap(), now).unwrap();
        let start = recent.last().expect("a distinguished entry").0;
        for label in OWNED {
            let req = c.owner_init_request(label, start).unwrap();
            c.verify_owner_init(&req, &d.owner_init(&req).unwrap(), now).unwrap();
        }
        c
    })
}

#[derive(Arbitrary, Debug)]
struct Case {
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// The owner's request for one of its labels: new values, or none to
    /// hear of the versions made since it last knew.
    Owner {
        label: bool,
        values: Vec<Vec<u8>>,
        tamper: Tamper,
    },
    Crafted {
        last: Last,
        label: Name,
        greatest: Greatest,
        values: Vec<Vec<u8>>,
        tamper: Tamper,
    },
    Raw(Vec<u8>),
    /// A version staged by the service itself.
    Stage {
        label: Name,
        value: Vec<u8>,
    },
    Publish {
        gap_s: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Bytes(Vec<u8>),
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Known(i) => LABELS[usize::from(*i) % LABELS.len()].to_vec(),
            Name::Bytes(b) => b.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Last {
    Unseen,
    Size,
    Behind(u8),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Greatest {
    Honest,
    By(i8),
    Any(Option<u32>),
}

#[derive(Arbitrary, Debug)]
struct Tamper {
    flips: Vec<u16>,
    cut: Option<u16>,
}

impl Tamper {
    fn is_none(&self) -> bool {
        self.flips.is_empty() && self.cut.is_none()
    }

    fn apply(&self, b: &mut Vec<u8>) {
        for f in self.flips.iter().take(3) {
            let bit = usize::from(*f) % (b.len() * 8);
            b[bit / 8] ^= 1 << (bit % 8);
        }
        if let Some(cut) = self.cut {
            b.truncate(usize::from(cut) % (b.len() + 1));
        }
    }
}

/// Up to 3 values of up to 32 bytes: what a request carries here.
fn small(values: &[Vec<u8>]) -> Vec<Vec<u8>> {
    values.iter().take(3).map(|v| v[..v.len().min(32)].to_vec()).collect()
}

/// What the directory must do with a request.
#[derive(Debug, PartialEq)]
enum Expect {
    Refused,
    Staged,
    /// Its values already wait (a retry whose answer was lost).
    Waits,
    /// The versions added at the first entry after the request's greatest.
    Answered(u64, Vec<Vec<u8>>),
}

fn expect(model: &mut Model, request: &[u8]) -> Expect {
    let Ok(req) = UpdateRequest::from_bytes(request) else { return Expect::Refused };
    let mut l = model.label(&req.label);
    let greatest = l.greatest();
    if req.greatest_version > greatest {
        return Expect::Refused;
    }
    if req.greatest_version == greatest {
        return match (&req.values[..], &l.waiting[..]) {
            ([], _) => Expect::Refused,
            (values, []) => {
                l.waiting = values.to_vec();
                model.labels.insert(req.label, l);
                Expect::Staged
            }
            (values, waiting) if values == waiting => Expect::Waits,
            _ => Expect::Refused,
        };
    }
    if req.last.is_some_and(|last| last == 0 || last > model.size) {
        return Expect::Refused;
    }
    let next = req.greatest_version.map_or(0, |g| g as usize + 1);
    let entry = l.published[next].0;
    let values = l.published[next..].iter().take_while(|p| p.0 == entry).map(|p| p.1.clone()).collect();
    Expect::Answered(entry, values)
}

fn check_state(d: &Directory, model: &Model) {
    assert_eq!(d.size(), model.size, "entries");
    assert_eq!(d.staged(), model.waiting(), "versions waiting for the next entry");
    for (name, l) in &model.labels {
        assert_eq!(d.greatest_version(name).unwrap(), l.greatest(), "the greatest version of {name:?}");
        assert_eq!(d.value(name).unwrap(), l.published.last().map(|p| p.1.clone()), "the value of {name:?}");
    }
}

fuzz_target!(|case: Case| {
    let (mut d, mut model) = base();
    let mut owner = owner().clone();
    let base_model = model.clone();
    for step in case.steps.iter().take(8) {
        let now = model.last_timestamp + 5;
        let (request, owners) = match step {
            Step::Owner { label, values, tamper } => {
                let label = OWNED[usize::from(*label)];
                let mut b = owner.update_request(label, &small(values)).unwrap();
                tamper.apply(&mut b);
                (b, tamper.is_none())
            }
            Step::Crafted { last, label, greatest, values, tamper } => {
                let label = label.bytes();
                let honest = model.label(&label).greatest();
                let req = UpdateRequest {
                    last: match *last {
                        Last::Unseen => None,
                        Last::Size => Some(model.size),
                        Last::Behind(by) => Some(model.size.saturating_sub(u64::from(by))),
                        Last::Any(n) => Some(n),
                    },
                    greatest_version: match *greatest {
                        Greatest::Honest => honest,
                        Greatest::By(by) => {
                            let g = i64::from(honest.map_or(-1, i64::from)) + i64::from(by);
                            u32::try_from(g).ok()
                        }
                        Greatest::Any(g) => g,
                    },
                    label,
                    values: small(values),
                };
                let Ok(mut b) = req.to_bytes() else { continue };
                tamper.apply(&mut b);
                (b, false)
            }
            Step::Raw(b) => (b.clone(), false),
            Step::Stage { label, value } => {
                let (label, value) = (label.bytes(), small(std::slice::from_ref(value)).remove(0));
                match d.stage(&label, &value) {
                    Ok(_) => model.labels.entry(label).or_default().waiting.push(value),
                    Err(e) => assert!(label.len() > 255, "the service could not stage a version: {e}"),
                }
                check_state(&d, &model);
                continue;
            }
            Step::Publish { gap_s } => {
                let timestamp = model.last_timestamp + 1000 * (1 + u64::from(*gap_s % 40));
                d.publish(timestamp).unwrap();
                model.published(timestamp);
                check_state(&d, &model);
                continue;
            }
        };
        let want = expect(&mut model, &request);
        let got = d.update(&request);
        match (&want, &got) {
            (Expect::Refused, Err(_)) | (Expect::Staged | Expect::Waits, Ok(None)) => {}
            (Expect::Answered(entry, values), Ok(Some(response))) => {
                let resp = UpdateResponse::from_bytes(response, config()).expect("an answer decodes");
                assert_eq!((resp.position, &resp.values), (*entry, values), "an answer with other versions");
                if owners {
                    let learned = owner.verify_update(&request, response, now).expect("the owner verifies the answer");
                    let learned: Vec<Vec<u8>> = learned.into_iter().map(|l| l.1).collect();
                    assert_eq!(&learned, values, "the owner learned other versions");
                }
            }
            _ => panic!("update: expected {want:?}, got {got:?}"),
        }
        check_state(&d, &model);
    }
    if model.waiting() > 0 {
        let timestamp = model.last_timestamp + 1000;
        d.publish(timestamp).unwrap();
        model.published(timestamp);
        check_state(&d, &model);
    }

    // A new client searches every label whose versions changed: the greatest
    // version, and each version this input added.
    let now = model.last_timestamp + 5;
    let mut searches = 0;
    for (name, l) in &model.labels {
        let before = base_model.label(name).published.len();
        if l.published.len() == before {
            continue;
        }
        let versions = std::iter::once(None).chain((before as u32..l.published.len() as u32).map(Some));
        for version in versions.take(3) {
            searches += 1;
            if searches > 6 {
                return;
            }
            let mut client = Client::new(config().clone(), 4).unwrap();
            let req = client.search_request(name, version).unwrap();
            let resp = d.search(&req).unwrap_or_else(|e| panic!("a search of {name:?} refused: {e}"));
            let found = client.verify_search(&req, &resp, now).expect("an honest search verifies");
            let want = version.unwrap_or(l.greatest().expect("published"));
            assert_eq!((found.version, &found.value), (want, &l.published[want as usize].1), "{name:?}");
        }
    }
});
