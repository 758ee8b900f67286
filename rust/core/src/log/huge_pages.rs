//! Memory advice for large buffers.

/// Asks Linux to back the spare capacity of a large vector with transparent
/// huge pages: first touch of fresh memory (page faults, ~1.2 GB/s on the
/// machines we measure on) otherwise dominates building big trees.
#[cfg(target_os = "linux")]
pub(crate) fn advise_huge_pages<T>(v: &mut Vec<T>) {
    const HUGE: usize = 2 << 20;
    let spare = v.spare_capacity_mut();
    let (ptr, len) = (spare.as_mut_ptr() as usize, std::mem::size_of_val(spare));
    let start = (ptr + HUGE - 1) & !(HUGE - 1);
    let end = (ptr + len) & !(HUGE - 1);
    if end > start {
        // SAFETY: [start, end) lies inside this Vec's own allocation (its spare
        // capacity, rounded inwards to huge-page bounds). MADV_HUGEPAGE is
        // advice only: it never changes the contents or validity of memory.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn advise_huge_pages<T>(_: &mut Vec<T>) {}
