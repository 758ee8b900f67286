//! Shared helpers for the Rust benches.
