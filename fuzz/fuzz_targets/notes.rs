//! Signed notes, checkpoints, cosignatures and their policy, keys and
//! tlog-proofs from arbitrary bytes: nothing panics, a note that parses
//! encodes to a note that parses the same, and whatever verifies carries a
//! valid signature of the fixed log key (and, for the policy, the witness's).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veritree_verify::notes::checkpoint::verify_checkpoint;
use veritree_verify::notes::cosignature::verify_checkpoint_policy;
use veritree_verify::notes::tlog_proof::verify_tlog_proof;
use veritree_verify::{Checkpoint, Note, Signer, TlogProof, Verifier};

/// The log's key and a witness's cosigner key (the seeds are signed by them: `make_seeds.py`).
fn keys() -> &'static (Verifier, Verifier) {
    static KEYS: OnceLock<(Verifier, Verifier)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let log = Verifier::parse("example.com/log+35ef7f0c+ASPUayhAR596LMx9N2hjeRnC0L92ktnNq9M9qnzfrvQj");
        let witness = Verifier::parse("witness.example/w1+710c374f+BAvw23DUHoguEhtKDNLfE11WKmnS1A8Qx+qrTD4oqTvY");
        (log.expect("the log key"), witness.expect("the witness key"))
    })
}

fuzz_target!(|data: &[u8]| {
    let (verifier, witness) = keys();
    if let Ok(note) = Note::parse(data) {
        let again = Note::parse(note.encode().as_bytes()).expect("an encoded note parses");
        assert_eq!(again.encode(), note.encode(), "encoding is stable");
        let _ = note.verify(&[verifier]);
    }
    if let Ok(cp) = verify_checkpoint(data, &[verifier]) {
        // Accepted: the text is a checkpoint that parses to what was returned.
        let note = Note::parse(data).expect("a verified checkpoint is a note");
        assert!(note.verify(&[verifier]).is_ok());
        let _ = cp;
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(cp) = Checkpoint::parse(text) {
            let again = Checkpoint::parse(&cp.to_text().expect("a parsed checkpoint formats")).expect("reparses");
            assert_eq!(again.to_text().ok(), cp.to_text().ok());
        }
        let _ = Verifier::parse(text);
        let _ = Signer::parse(text);
    }
    if verify_checkpoint_policy(data, &[verifier], &[witness], 1).is_ok() {
        let note = Note::parse(data).expect("a verified checkpoint is a note");
        let names: Vec<String> =
            note.verify(&[verifier, witness]).expect("its signatures").iter().map(|v| v.name.clone()).collect();
        assert!(names.len() >= 2, "the policy accepted a checkpoint without the log's and the witness's signature");
    }
    if let Ok(p) = TlogProof::parse(data) {
        let _ = p.format();
        let leaf = [0u8; 32];
        let _ = verify_tlog_proof(data, &leaf, &[verifier], &[witness], 1);
        let _ = verify_tlog_proof(data, &leaf, &[verifier], &[], 0);
    }
});
