//! The in-memory backend: objects in a map, records in a vector. For tests
//! and for stores that need not outlive the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::{Objects, Records};
use crate::error::{damaged, io, not_found, Result};

/// [`Objects`] in memory.
#[derive(Default)]
pub struct MemoryObjects {
    objects: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl MemoryObjects {
    pub fn new() -> MemoryObjects {
        MemoryObjects::default()
    }
}

impl Objects for MemoryObjects {
    fn get(&self, name: &str, max_len: usize) -> Result<Vec<u8>> {
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let data = objects.get(name).ok_or_else(|| not_found(format!("no object {name}")))?;
        if data.len() > max_len {
            return Err(damaged(format!("{name} is larger than {max_len} bytes")));
        }
        Ok(data.clone())
    }

    fn put(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner).extend(objects);
        Ok(())
    }

    fn put_head(&self, name: &str, data: &[u8]) -> Result<()> {
        self.put(vec![(name.to_string(), data.to_vec())])
    }

    fn exists(&self, name: &str) -> Result<bool> {
        Ok(self.objects.read().unwrap_or_else(PoisonError::into_inner).contains_key(name))
    }

    fn delete(&self, name: &str) -> Result<()> {
        self.objects.write().unwrap_or_else(PoisonError::into_inner).remove(name);
        Ok(())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let folder = format!("{}/", prefix.trim_end_matches('/'));
        let objects = self.objects.read().unwrap_or_else(PoisonError::into_inner);
        let under = objects.range(folder.clone()..).map(|(k, _)| k).take_while(|k| k.starts_with(&folder));
        Ok(under.filter(|k| !k[folder.len()..].contains('/')).cloned().collect())
    }
}

/// [`Records`] in memory, shared: a clone appends to the same sequence, so
/// what one writer appended is there for the store that "reopens" it.
#[derive(Clone, Default)]
pub struct MemoryRecords {
    records: Arc<Mutex<Vec<Vec<u8>>>>,
    fail_next: u32,
}

impl MemoryRecords {
    pub fn new() -> MemoryRecords {
        MemoryRecords::default()
    }

    /// Every record appended so far.
    pub fn records(&self) -> Vec<Vec<u8>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Records for MemoryRecords {
    fn append(&mut self, record: &[u8]) -> Result<()> {
        if self.fail_next > 0 {
            self.fail_next -= 1;
            return Err(io("append: no space left (injected)"));
        }
        self.records.lock().unwrap_or_else(PoisonError::into_inner).push(record.to_vec());
        Ok(())
    }

    #[cfg(test)]
    fn inject_faults(&mut self, n: u32) {
        self.fail_next = n;
    }
}
