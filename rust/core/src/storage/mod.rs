//! Where the engines' bytes go. `posix`: files, their permissions,
//! durability and locks; `records`: append-only record files (journals).

pub(crate) mod posix;
pub(crate) mod records;
