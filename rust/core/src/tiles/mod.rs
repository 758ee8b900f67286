//! Durable storage for logs in the C2SP tlog-tiles format.

mod fsio;
mod log;
pub mod path;

pub use log::{parse_bundle, SignFn, TileLog, MAX_ENTRY};
