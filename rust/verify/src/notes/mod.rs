//! C2SP signed notes and what is built on them: checkpoints, witness
//! cosignatures and tlog-proofs. Dependencies run down this list:
//! `note` ← `checkpoint` ← `cosignature` ← `tlog_proof`.

pub mod checkpoint;
pub mod cosignature;
pub mod note;
pub mod tlog_proof;
