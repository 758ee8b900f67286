//! Growable arrays of fixed-size node records, held in a memory mapping:
//! anonymous memory for an in-memory map, a file for an on-disk one.
//!
//! A mapping grows with `mremap`, which moves page tables instead of copying
//! (a `Vec` copies every record each time it doubles). For a file, the
//! kernel's page cache is the node cache: the process holds no copy of the
//! tree, so the memory an update needs does not grow with the tree.

use std::fs::File;
use std::marker::PhantomData;

use bytemuck::Pod;
use memmap2::{MmapMut, MmapOptions, RemapOptions};

use crate::error::{damaged, io, Error, Result};

/// Smallest mapping made, in bytes.
const MIN_BYTES: usize = 1 << 16;
/// Most spare room a file grows by at once. Spare room is allocated on
/// disk and counts in bytes per key: a KEYTRANS directory keeps four
/// growing files, whose 64 MiB steps were ~13 bytes a label at 10^7 labels;
/// a step is one fallocate and one remap, cheap at this size.
const MAX_FILE_STEP: usize = 16 << 20;

pub(crate) struct Slab<T> {
    map: MmapMut,
    /// Records in use; everything past them is spare capacity.
    len: usize,
    /// The file behind the mapping, kept as long as its size is the capacity.
    file: Option<File>,
    /// A view of a file another process writes: never written through.
    view: bool,
    _records: PhantomData<T>,
}

fn node_io(what: &str, e: std::io::Error) -> Error {
    io(format!("node storage: {what}: {e}"))
}

/// Grows `file` from `from` to `to` bytes with blocks allocated: a full disk
/// is then an error here, not a SIGBUS when a mapped page is first written.
fn allocate(file: &File, from: usize, to: usize) -> Result<()> {
    use std::os::fd::AsRawFd;
    let (offset, len) = (i64::try_from(from), i64::try_from(to - from));
    let (Ok(offset), Ok(len)) = (offset, len) else { return Err(io("node file too large")) };
    // SAFETY: the descriptor belongs to `file`, open for the whole call;
    // posix_fallocate reads nothing from our memory.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, len) } {
        0 => Ok(()),
        e => Err(node_io("allocate", std::io::Error::from_raw_os_error(e))),
    }
}

impl<T: Pod> Slab<T> {
    /// An empty slab in anonymous memory.
    pub fn memory() -> Slab<T> {
        let map = MmapOptions::new().len(MIN_BYTES).map_anon().expect("a 64 KiB anonymous mapping");
        Slab { map, len: 0, file: None, view: false, _records: PhantomData }
    }

    /// The first `len` records of `file` (an on-disk map's node file); the
    /// file is grown first if it is shorter than [`MIN_BYTES`].
    pub fn file(file: File, len: usize) -> Result<Slab<T>> {
        let size = file.metadata().map_err(|e| node_io("stat", e))?.len() as usize;
        if len.checked_mul(size_of::<T>()).is_none_or(|need| size < need) {
            return Err(damaged(format!("node file holds {size} bytes, fewer than its {len} committed records need")));
        }
        if size < MIN_BYTES {
            allocate(&file, size, MIN_BYTES)?;
        }
        // SAFETY: the file is this map's own node file, opened by the one
        // writer (the directory's lock is held), so no other process changes
        // it while it is mapped; the mapping never outlives `file`, which the
        // slab keeps.
        let map = unsafe { MmapOptions::new().map_mut(&file) }.map_err(|e| node_io("map", e))?;
        Ok(Slab { map, len, file: Some(file), view: false, _records: PhantomData })
    }

    /// A read-only view of the first `len` records of `file`, which the one
    /// writer (another process) appends to and never shrinks.
    pub fn view(file: File, len: usize) -> Result<Slab<T>> {
        // SAFETY: the mapping is private and never written through (every
        // writing method refuses a view), so this process cannot change the
        // file. Pages it never writes are the page cache's, so it sees the
        // writer's later stores. The writer only grows the file (it never
        // truncates it), so no page mapped here goes past its end, and the
        // mapping never outlives `file`, which the slab keeps.
        let map = unsafe { MmapOptions::new().len(Self::file_bytes(&file)?.max(1)).map_copy(&file) }
            .map_err(|e| node_io("map", e))?;
        let mut slab = Slab { map, len: 0, file: Some(file), view: true, _records: PhantomData };
        slab.refresh(len)?;
        Ok(slab)
    }

    fn file_bytes(file: &File) -> Result<usize> {
        Ok(file.metadata().map_err(|e| node_io("stat", e))?.len() as usize)
    }

    /// A view's records in use become the first `len` (the writer published
    /// more, or a snapshot older than the last one is read): the mapping
    /// follows the file where it grew.
    pub fn refresh(&mut self, len: usize) -> Result<()> {
        debug_assert!(self.view);
        let need = len
            .checked_mul(size_of::<T>())
            .ok_or_else(|| damaged(format!("{len} published records overflow memory")))?;
        if need > self.map.len() {
            let file = self.file.as_ref().expect("a view has its file");
            let size = Self::file_bytes(file)?;
            if size < need {
                return Err(damaged(format!("node file holds {size} bytes, fewer than its {len} published records need")));
            }
            // SAFETY: as in `view`: the file is at least `size` bytes and
            // never shrinks; no borrow of the mapping outlives `&mut self`.
            unsafe { self.map.remap(size, RemapOptions::new().may_move(true)) }.map_err(|e| node_io("remap", e))?;
        }
        self.len = len;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Every whole record the mapping holds, in use or not (a writer's
    /// records past the end, or a view's the head does not publish yet).
    pub fn mapped(&self) -> &[T] {
        let whole = self.map.len() / size_of::<T>() * size_of::<T>();
        bytemuck::cast_slice(&self.map[..whole])
    }

    /// Reads the bytes at byte offset `at` of the file (past the mapping:
    /// another process's writes that this view has not mapped yet).
    pub fn read_at(&self, at: usize, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let file = self.file.as_ref().ok_or_else(|| damaged("a read past the end of memory records"))?;
        file.read_exact_at(buf, at as u64).map_err(|e| node_io("read", e))
    }

    /// The records in use.
    pub fn as_slice(&self) -> &[T] {
        bytemuck::cast_slice(&self.map[..self.len * size_of::<T>()])
    }

    /// The record at `slot`, or `None` past the records in use (a damaged
    /// reference): a bounds check, never a panic.
    #[inline]
    pub fn get(&self, slot: u32) -> Option<&T> {
        let slot = slot as usize;
        if slot >= self.len {
            return None;
        }
        // Cheaper than `as_slice().get()`, which divides to check that the
        // byte length is whole records. `from_bytes` cannot fail: the range
        // is exactly one record, and records lie at multiples of their size
        // (a multiple of their alignment) from the page-aligned mapping.
        let at = slot * size_of::<T>();
        self.map.get(at..at + size_of::<T>()).map(bytemuck::from_bytes)
    }

    /// Starts loading record `slot` into the cache, so that its read later
    /// need not wait for memory (a hint: a slot past the end is ignored).
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        let at = slot as usize * size_of::<T>();
        if at + size_of::<T>() > self.map.len() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let first = self.map[at..].as_ptr();
            // SAFETY: SSE is part of every x86_64 CPU, and a prefetch only
            // hints the cache (it never faults); both addresses lie inside
            // the mapping anyway (checked above). A packed record may
            // straddle two cache lines: both are asked for.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(first.cast());
                _mm_prefetch::<_MM_HINT_T0>(first.wrapping_add(size_of::<T>() - 1).cast());
            }
        }
    }

    /// Makes room for `extra` more records past the end.
    pub fn reserve(&mut self, extra: usize) -> Result<()> {
        assert!(!self.view, "a view is never written");
        let need = (self.len + extra) * size_of::<T>();
        if need <= self.map.len() {
            return Ok(());
        }
        // Grow geometrically: appends stay amortized O(1). Files by an
        // eighth, at most MAX_FILE_STEP, as their spare room is allocated
        // on disk and counts in its bytes per key.
        let step = if self.file.is_some() { (self.map.len() / 8).min(MAX_FILE_STEP) } else { self.map.len() / 2 };
        let bytes = need.max(self.map.len() + step).next_multiple_of(MIN_BYTES);
        if let Some(file) = &self.file {
            allocate(file, self.map.len(), bytes)?;
        }
        // No huge-page advice: on the VMs we measure on, freed 2 MiB blocks
        // go back to the host within a second, and a huge page's first touch
        // then ran at 0.3-0.5 GB/s against 1.5 GB/s for small pages
        // (measured: 10^6-key builds took 0.33-0.40 s with the advice, a
        // steady 0.25-0.27 s without).
        // SAFETY: the mapping is only ever reached through `self.map`, whose
        // borrows end before this `&mut self` call; for a file, it was just
        // grown to `bytes`, so the remapped range lies within it.
        unsafe { self.map.remap(bytes, RemapOptions::new().may_move(true)) }.map_err(|e| node_io("remap", e))?;
        Ok(())
    }

    /// Writes `item` at `slot`: an existing record, or the next one past the
    /// end (room for it was reserved).
    #[inline]
    pub fn put(&mut self, slot: u32, item: T) {
        debug_assert!(!self.view);
        let slot = slot as usize;
        debug_assert!(slot <= self.len);
        if slot == self.len {
            self.len += 1;
        }
        let records: &mut [T] = bytemuck::cast_slice_mut(&mut self.map[..self.len * size_of::<T>()]);
        records[slot] = item;
    }

    /// Overwrites records in use from `at` with `items` (a writer's).
    pub fn write_at(&mut self, at: usize, items: &[T]) {
        assert!(!self.view, "a view is never written");
        let records: &mut [T] = bytemuck::cast_slice_mut(&mut self.map[..self.len * size_of::<T>()]);
        records[at..at + items.len()].copy_from_slice(items);
    }

    /// The `n` records past the end, to be filled before [`Self::grow`]
    /// takes them in (room for them was reserved).
    pub fn spare_mut(&mut self, n: usize) -> &mut [T] {
        let bytes = &mut self.map[self.len * size_of::<T>()..(self.len + n) * size_of::<T>()];
        bytemuck::cast_slice_mut(bytes)
    }

    /// Forgets the records from `len` on.
    pub fn truncate(&mut self, len: usize) {
        debug_assert!(len <= self.len);
        self.len = self.len.min(len);
    }

    /// Takes in the next `n` records past the end, written through [`Self::spare_mut`].
    pub fn grow(&mut self, n: usize) {
        assert!((self.len + n) * size_of::<T>() <= self.map.len(), "records past the reserved room");
        self.len += n;
    }

    /// Something that starts writing records of this slab's file to disk
    /// while the slab is borrowed (`None` in memory).
    pub fn writeback(&self) -> Option<Writeback<T>> {
        let file = self.file.as_ref()?.try_clone().ok()?;
        Some(Writeback { file, _records: PhantomData })
    }

    /// Bytes mapped (capacity, not just records in use).
    pub fn bytes(&self) -> usize {
        self.map.len()
    }

    /// Makes every record written so far durable (a no-op in memory).
    pub fn sync(&self) -> Result<()> {
        match &self.file {
            Some(_) if !self.view => self.map.flush().map_err(|e| node_io("msync", e)),
            _ => Ok(()),
        }
    }
}

/// A slab's records as bytes, whatever their type: what a shared backend
/// ships from the server that writes them to the servers that follow it.
pub(crate) trait RawArray {
    /// The bytes of the records in use.
    fn raw(&self) -> &[u8];
    /// Appends whole records given as bytes.
    fn extend_raw(&mut self, bytes: &[u8]) -> Result<()>;
    /// Overwrites bytes of records in use, from byte `at`.
    fn write_raw(&mut self, at: usize, bytes: &[u8]) -> Result<()>;
}

impl<T: Pod> RawArray for Slab<T> {
    fn raw(&self) -> &[u8] {
        bytemuck::cast_slice(self.as_slice())
    }

    fn extend_raw(&mut self, bytes: &[u8]) -> Result<()> {
        if !bytes.len().is_multiple_of(size_of::<T>()) {
            return Err(damaged(format!("{} bytes are not whole records of {} bytes", bytes.len(), size_of::<T>())));
        }
        let n = bytes.len() / size_of::<T>();
        self.reserve(n)?;
        bytemuck::cast_slice_mut(self.spare_mut(n)).copy_from_slice(bytes);
        self.grow(n);
        Ok(())
    }

    fn write_raw(&mut self, at: usize, bytes: &[u8]) -> Result<()> {
        assert!(!self.view, "a view is never written");
        let used = self.len * size_of::<T>();
        let range = at..at.checked_add(bytes.len()).filter(|&end| end <= used).ok_or_else(|| {
            damaged(format!("a write of {} bytes at {at}, past the {used} bytes in use", bytes.len()))
        })?;
        self.map[range].copy_from_slice(bytes);
        Ok(())
    }
}

/// Starts the disk writes of a node file's records early, so that they
/// overlap the work that follows; the commit's msync then waits for less.
pub(crate) struct Writeback<T> {
    file: File,
    _records: PhantomData<T>,
}

impl<T> Writeback<T> {
    /// Starts writing records `[from, from + n)` (advice: an error here
    /// shows again, and is reported, at the commit's msync).
    pub fn start(&self, from: usize, n: usize) {
        use std::os::fd::AsRawFd;
        let (offset, len) = ((from * size_of::<T>()) as i64, (n * size_of::<T>()) as i64);
        // SAFETY: the descriptor belongs to `self.file`, open for the whole
        // call; sync_file_range reads nothing from our memory.
        unsafe { libc::sync_file_range(self.file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    }
}
