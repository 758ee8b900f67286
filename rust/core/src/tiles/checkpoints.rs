//! The checkpoints a tile log publishes: C2SP checkpoints in signed notes,
//! signed with the log's key. The notes layer ([`crate::notes`]) knows
//! nothing of tiles; this is where the two meet.

use super::CheckpointFormat;
use crate::error::{invalid, Result};
use crate::notes::checkpoint::Checkpoint;
use crate::notes::note::{Note, Signer};
use crate::suite::Hash;

/// The checkpoints a tile log publishes: C2SP checkpoints in signed notes,
/// signed with the log's key (none for a read-only log).
pub struct NoteCheckpoints {
    signer: Option<Signer>,
}

impl NoteCheckpoints {
    pub fn signed_by(signer: Signer) -> NoteCheckpoints {
        NoteCheckpoints { signer: Some(signer) }
    }

    pub fn read_only() -> NoteCheckpoints {
        NoteCheckpoints { signer: None }
    }
}

impl CheckpointFormat for NoteCheckpoints {
    fn sign(&self, origin: &str, size: u64, root: &Hash) -> Result<String> {
        let signer = self.signer.as_ref().ok_or_else(|| invalid("the log is open read-only"))?;
        Checkpoint::new(origin, size, *root).sign(signer)
    }

    fn read(&self, note: &str) -> Result<(String, u64, Hash)> {
        let cp = Checkpoint::parse(&Note::parse(note.as_bytes())?.text)?;
        Ok((cp.origin, cp.size, cp.root))
    }
}
