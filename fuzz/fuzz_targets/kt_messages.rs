//! Every KEYTRANS message decoder on arbitrary bytes (the first byte picks
//! the message): nothing panics or allocates without bound, and a message
//! that decodes encodes again to bytes that decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritree_fuzz::kt;
use veritree_verify::kt::auditor::AuditorUpdate;
use veritree_verify::kt::client::Client;
use veritree_verify::kt::combined::CombinedTreeProof;
use veritree_verify::kt::messages::{
    DistinguishedRequest, MonitorRequest, OwnerInitRequest, OwnerInitResponse, OwnerMonitorRequest, ProofResponse,
    SearchRequest, SearchResponse, UpdateRequest, UpdateResponse,
};
use veritree_verify::kt::tree_head::{AuditorTreeHead, Configuration, SignedHead};
use veritree_verify::kt::wire::Reader;

fuzz_target!(|data: &[u8]| {
    let Some((&which, b)) = data.split_first() else { return };
    let config = kt().client.config();
    match which % 16 {
        0 => {
            if let Ok(m) = SearchRequest::from_bytes(b) {
                SearchRequest::from_bytes(&m.to_bytes().unwrap()).unwrap();
            }
        }
        1 => {
            let request = SearchRequest::from_bytes(&kt().exchanges[0].1).unwrap();
            if let Ok(m) = SearchResponse::from_bytes(b, &request, config) {
                SearchResponse::from_bytes(&m.to_bytes().unwrap(), &request, config).unwrap();
            }
        }
        2 => {
            if let Ok(m) = MonitorRequest::from_bytes(b) {
                MonitorRequest::from_bytes(&m.to_bytes().unwrap()).unwrap();
            }
        }
        3 => {
            if let Ok(m) = ProofResponse::from_bytes(b, config) {
                ProofResponse::from_bytes(&m.to_bytes().unwrap(), config).unwrap();
            }
        }
        4 => {
            if let Ok(m) = DistinguishedRequest::from_bytes(b) {
                DistinguishedRequest::from_bytes(&m.to_bytes()).unwrap();
            }
        }
        5 => {
            if let Ok(m) = OwnerInitRequest::from_bytes(b) {
                OwnerInitRequest::from_bytes(&m.to_bytes().unwrap()).unwrap();
            }
        }
        6 => {
            if let Ok(m) = OwnerInitResponse::from_bytes(b, config) {
                OwnerInitResponse::from_bytes(&m.to_bytes().unwrap(), config).unwrap();
            }
        }
        7 => {
            if let Ok(m) = OwnerMonitorRequest::from_bytes(b) {
                OwnerMonitorRequest::from_bytes(&m.to_bytes().unwrap()).unwrap();
            }
        }
        8 => {
            if let Ok(m) = UpdateRequest::from_bytes(b) {
                UpdateRequest::from_bytes(&m.to_bytes().unwrap()).unwrap();
            }
        }
        9 => {
            if let Ok(m) = UpdateResponse::from_bytes(b, config) {
                UpdateResponse::from_bytes(&m.to_bytes().unwrap(), config).unwrap();
            }
        }
        10 => {
            let _ = CombinedTreeProof::from_bytes(b);
        }
        11 => {
            let _ = AuditorUpdate::from_bytes(b);
        }
        12 => {
            if let Ok(c) = Configuration::from_bytes(b) {
                Configuration::from_bytes(&c.to_bytes().unwrap()).unwrap();
            }
        }
        13 => {
            let _ = SignedHead::verified(b, config);
            let _ = AuditorTreeHead::decode(&mut Reader::new(b, "AuditorTreeHead"));
        }
        14 => {
            let _ = Client::restore(b);
        }
        _ => {
            let _ = Client::from_gossip(b, config);
            let _ = kt().client.judge_behind(b);
        }
    }
});
