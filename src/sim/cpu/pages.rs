//! Memory the CPU backend streams every step: backed by huge pages, and
//! starting on a cache line.

use std::ops::{Deref, DerefMut};

/// Bytes of a cache line.
const LINE: usize = 64;

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

/// A fixed-length buffer whose first entry starts a cache line: a vector
/// load of 32 bytes from an entry at a multiple of 8 (f32) then never
/// straddles two lines. The allocator's own start (16 bytes past a line
/// for a fresh mapping, anywhere for reused memory) split every other such
/// load in two, and changed with what a process had allocated before: the
/// same Hopfield step (N = 2000, P = 100) took 27 µs a step inside `bench`
/// and 34 µs in a run of its own.
pub struct Aligned<T> {
    /// The padding up to the first line, then the entries. Where they start
    /// follows from where the vector lies (it never moves).
    v: Vec<T>,
}

impl<T> Aligned<T> {
    /// Entries of padding before the first line (`align_offset` of a
    /// float's or a byte's pointer is at most 63: their sizes divide 64).
    #[inline(always)]
    fn off(v: &[T]) -> usize {
        v.as_ptr().align_offset(LINE).min(v.len())
    }
}

impl<T: Copy + Default> Aligned<T> {
    /// A buffer of the `len` entries `fill` appends to the vector it is
    /// given (exactly `len`), backed by huge pages if `huge`
    /// ([`advise_huge_pages`]).
    pub fn build(len: usize, huge: bool, fill: impl FnOnce(&mut Vec<T>)) -> Self {
        let mut v = padded(len, huge, T::default());
        let off = v.len();
        fill(&mut v);
        assert_eq!(v.len(), off + len, "an aligned buffer of {len}");
        assert_eq!(Self::off(&v), off, "the buffer moved while it was filled");
        Aligned { v }
    }

    /// `len` default entries (zeros).
    pub fn zeroed(len: usize) -> Self {
        Self::build(len, false, |v| v.resize(v.len() + len, T::default()))
    }
}

impl<T: Clone> Clone for Aligned<T> {
    fn clone(&self) -> Self {
        // The padding is a copy of any entry (it is never read).
        let Some(pad) = self.v.first() else {
            return Aligned { v: Vec::new() };
        };
        let mut v = padded(self.len(), false, pad.clone());
        v.extend_from_slice(self);
        Aligned { v }
    }
}

/// A vector with room for `len` entries after the padding `pad` up to its
/// first cache line, holding that padding; on huge pages if `huge`.
fn padded<T: Clone>(len: usize, huge: bool, pad: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len + LINE / std::mem::size_of::<T>().max(1));
    if huge {
        advise_huge_pages(&v);
    }
    v.resize(v.as_ptr().align_offset(LINE), pad);
    v
}

impl<T: std::fmt::Debug> std::fmt::Debug for Aligned<T> {
    /// The entries (not the padding).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> Deref for Aligned<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        &self.v[Self::off(&self.v)..]
    }
}

impl<T> DerefMut for Aligned<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        let off = Self::off(&self.v);
        &mut self.v[off..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An aligned buffer starts on a cache line, holds what it was filled
    /// with, and so does its clone.
    #[test]
    fn aligned_buffers_start_a_line() {
        for len in [0, 1, 7, 1000, 3 << 20] {
            let a: Aligned<f32> =
                Aligned::build(len, true, |v| v.extend((0..len).map(|k| k as f32)));
            let b = a.clone();
            for buf in [&a, &b] {
                assert!(
                    len == 0 || (buf.as_ptr() as usize).is_multiple_of(LINE),
                    "len {len}"
                );
                assert_eq!(buf.len(), len);
                assert!(buf.iter().enumerate().all(|(k, &x)| x == k as f32));
            }
            let z: Aligned<i8> = Aligned::zeroed(len);
            assert!(len == 0 || (z.as_ptr() as usize).is_multiple_of(LINE));
            assert!(z.len() == len && z.iter().all(|&x| x == 0));
        }
    }

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
