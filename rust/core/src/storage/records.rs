//! Append-only record files (the map's and the KEYTRANS directory's
//! journals): checksummed framing, cutting a torn tail on opening, and
//! appends that a failed write never leaves half-done ([`FileRecords`]):
//! the POSIX backend of [`super::Records`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::posix::{create_file, io_error, sync_dir, Modes};
use super::Records;
use crate::error::{damaged, invalid, io, Result};

/// Bytes of a journal record's checksum.
const RECORD_SUM: usize = 16;

/// A checksum of a journal record: catches torn and damaged records, not forgeries.
fn record_sum(payload: &[u8]) -> [u8; RECORD_SUM] {
    blake3::hash(payload).as_bytes()[..RECORD_SUM].try_into().expect("16 bytes")
}

/// One journal record as appended: `len (u32 LE) ‖ payload ‖ checksum`
/// (the layout of the map's journal too).
pub(crate) fn frame(payload: &[u8]) -> Result<Vec<u8>> {
    let len = u32::try_from(payload.len()).map_err(|_| invalid("a journal record over 4 GiB"))?;
    let mut out = Vec::with_capacity(4 + payload.len() + RECORD_SUM);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&record_sum(payload));
    Ok(out)
}

/// The payloads of the whole records in `bytes` (a journal after its
/// header), and the length they span: a torn last record is left out.
/// A bad record that is not the tail is damage: `Err` holds its offset.
pub(crate) fn unframe(bytes: &[u8]) -> std::result::Result<(Vec<&[u8]>, usize), usize> {
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let whole =
            rest.get(..4).map(|l| u32::from_le_bytes(l.try_into().expect("4 bytes")) as usize).and_then(|len| {
                let payload = rest.get(4..4 + len)?;
                let sum = rest.get(4 + len..4 + len + RECORD_SUM)?;
                (sum == record_sum(payload)).then_some((payload, 4 + len + RECORD_SUM))
            });
        match whole {
            Some((payload, used)) => {
                records.push(payload);
                at += used;
            }
            // A torn append is always the tail: nothing follows it.
            None if is_torn_tail(rest) => break,
            None => return Err(at),
        }
    }
    Ok((records, at))
}

/// Cuts `file` (the journal at `path`) back to `end`, its last whole record,
/// and leaves the journal positioned there for the next append. What is cut
/// off, unless it is all zeros, is first kept beside the journal as
/// `<name>.cut-<end>`: a torn append looks like this, but so does a durable
/// last record that rotted, whose entry would otherwise be lost unseen.
pub(crate) fn cut_tail(file: &mut File, path: &Path, end: u64) -> Result<()> {
    file.seek(SeekFrom::Start(end)).map_err(|e| io_error("seek", path, e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(|e| io_error("read", path, e))?;
    if tail.iter().any(|&b| b != 0) {
        let mut kept = path.as_os_str().to_owned();
        kept.push(format!(".cut-{end}"));
        let kept = PathBuf::from(kept);
        // Durable before the cut; a crash mid-write leaves part of a copy.
        let mut f = create_file(&kept, Modes::PRIVATE.file)?;
        f.write_all(&tail).and_then(|()| f.sync_all()).map_err(|e| io_error("keep the cut tail in", &kept, e))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    }
    file.set_len(end).map_err(|e| io_error("truncate", path, e))?;
    file.seek(SeekFrom::Start(end)).map_err(|e| io_error("seek", path, e))?;
    Ok(())
}

/// A journal file taking appends of whole records, which a failed append
/// (a full disk, EIO, a quota) never leaves half-written: the bytes past
/// the last durable record are cut off, and the cut made durable, before
/// the append returns its error or, if that fails too, before the next
/// append. So once the fault clears, the next append succeeds in the same
/// process, and what is on disk is what was acknowledged.
///
/// Why cutting is sound after a failed fdatasync (whose dirty pages Linux
/// may drop): every record before `end` was made durable by an fdatasync
/// that succeeded, and the failed record is removed, not retried.
pub struct FileRecords {
    file: File,
    path: PathBuf,
    /// Where the next record goes: the end of the durable records.
    end: u64,
    /// A failed append may have left bytes past `end`.
    dirty: bool,
    #[cfg(test)]
    faults: u32,
}

impl FileRecords {
    /// The records of the file at `path` (made, owner-only, if missing) and
    /// a store appending to it: a record file with no header of its own.
    /// A torn last record is cut off (see [`cut_tail`]).
    pub fn open(path: &Path) -> Result<(FileRecords, Vec<Vec<u8>>)> {
        if !path.exists() {
            create_file(path, Modes::PRIVATE.file)?.sync_all().map_err(|e| io_error("create", path, e))?;
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        }
        let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| io_error("open", path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_error("read", path, e))?;
        let (records, end) = unframe(&bytes)
            .map_err(|at| damaged(format!("{} is damaged: a bad record at byte {at}", path.display())))?;
        let records = records.into_iter().map(<[u8]>::to_vec).collect();
        cut_tail(&mut file, path, end as u64)?;
        Ok((FileRecords::new(file, path.to_path_buf(), end as u64), records))
    }

    /// The journal `file` at `path`, whose whole records end at `end` (see [`cut_tail`]).
    pub fn new(file: File, path: PathBuf, end: u64) -> FileRecords {
        FileRecords {
            file,
            path,
            end,
            dirty: false,
            #[cfg(test)]
            faults: 0,
        }
    }

    /// Appends a framed record and makes it durable.
    fn append_framed(&mut self, record: &[u8]) -> Result<()> {
        if self.dirty {
            self.cut().map_err(|e| io(format!("{e} (cutting off an earlier failed append; nothing was written)")))?;
        }
        match self.write(record) {
            Ok(()) => {
                self.end += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.dirty = true;
                // Retried by the next append if this one fails as well.
                let _ = self.cut();
                Err(io_error("append to", &self.path, e))
            }
        }
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        #[cfg(test)]
        if self.faults > 0 {
            self.faults -= 1;
            // Half the record lands before the disk fills, as a real fault may leave it.
            self.file.write_all_at(&record[..record.len() / 2], self.end)?;
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.file.write_all_at(record, self.end)?;
        self.file.sync_data()
    }

    /// Cuts the file back to `end`, durably.
    fn cut(&mut self) -> Result<()> {
        self.file.set_len(self.end).and_then(|()| self.file.sync_all()).map_err(|e| io_error("cut", &self.path, e))?;
        self.dirty = false;
        Ok(())
    }
}

impl Records for FileRecords {
    fn append(&mut self, record: &[u8]) -> Result<()> {
        self.append_framed(&frame(record)?)
    }

    #[cfg(test)]
    fn inject_faults(&mut self, n: u32) {
        self.faults = n;
    }
}

/// Whether `rest` can be a partly written last record: zeros (the file grew
/// before its data landed), or a length field reaching the end of the file.
fn is_torn_tail(rest: &[u8]) -> bool {
    if rest.iter().all(|&b| b == 0) {
        return true;
    }
    match rest.get(..4) {
        None => true,
        Some(l) => 4 + u32::from_le_bytes(l.try_into().expect("4 bytes")) as usize + RECORD_SUM >= rest.len(),
    }
}
