//! Memory the CPU backend streams every step, backed by huge pages.

/// Advises the kernel to back `v`'s allocation with transparent huge pages
/// (Linux; a no-op elsewhere and for allocations under 4 MiB). Call it on a
/// fresh `Vec::with_capacity` before filling it: pages are chosen when first
/// touched. The advice may be declined; nothing depends on it but speed.
pub fn advise_huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < 2 * HUGE {
            return;
        }
        let start = v.as_ptr() as usize;
        let first = start.next_multiple_of(HUGE);
        let end = (start + bytes) & !(HUGE - 1);
        if end > first {
            // SAFETY: [first, end) lies within v's allocation, and
            // MADV_HUGEPAGE changes only how its pages are backed, not
            // their contents or validity.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Huge-page advice leaves the vector usable and its contents intact.
    #[test]
    fn advised_storage_holds_its_values() {
        let len = 3 << 20; // 12 MiB of f32: spans whole huge pages.
        let mut v: Vec<f32> = Vec::with_capacity(len);
        advise_huge_pages(&v);
        v.extend((0..len).map(|k| k as f32));
        assert!(v.iter().enumerate().all(|(k, &a)| a == k as f32));
    }
}
