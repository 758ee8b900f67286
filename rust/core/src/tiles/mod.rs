//! Durable storage for logs in the C2SP tlog-tiles format.

mod checkpoints;
mod dedup;
mod integrate;
mod log;
pub mod path;
mod reader;

pub use checkpoints::NoteCheckpoints;
pub use log::{CheckpointFormat, TileLog};
pub use reader::{parse_bundle, DirSource, TileReader, TileSource, MAX_ENTRY};
