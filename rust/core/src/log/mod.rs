//! Append-only Merkle logs in memory, and the trait every log store offers
//! the layers above.

mod huge_pages;
mod memory;
pub mod store;

pub use memory::MemoryLog;
pub use store::LogStore;
