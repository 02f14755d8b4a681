//! How long the allocator keeps memory that was freed.
//!
//! mimalloc gives memory that stayed unused for a second back to the system. An import frees
//! its batch's records, documents and key maps and builds the next batch's a second later, so
//! each batch took fresh memory from the system again, and the kernel zeroed it page by page
//! (2 MiB at a time with transparent huge pages). In a profile of `librelay import marc` of the
//! 250,000 LoC records that zeroing was 10 % of the SQLite writer thread's samples and 18 % of
//! the importing thread's. With `MIMALLOC_PURGE_DELAY=-1` set on the same binary, five runs
//! alternated with five without took 8.5–9.6 s against 8.8–10.0 s (faster in four pairs, equal
//! in one), and the page faults fell from 56,000–76,000 to about 2,500 (`/usr/bin/time`).
//!
//! A server keeps mimalloc's default: it runs for months and should give back what a busy
//! hour took. `bench lifecycle` ran the same either way (702–756 lifecycles/s against
//! 707–750), and the benches other than `bench catalog` keep the default too, so that they
//! measure what a server does.

/// mimalloc's `mi_option_purge_delay`, which `libmimalloc-sys` names no constant for: the
/// sixteenth entry of `mi_option_t` in the `mimalloc.h` of v3, the version the crate builds.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The delay mimalloc starts with, in milliseconds (v3, the version the crate builds by
/// default). Any other value means the slot is not the one expected (another mimalloc) or
/// `MIMALLOC_PURGE_DELAY` set it; either way it is left alone.
const DEFAULT_PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// For a command that ends when its bulk work ends (`import`, `reindex`, `bench catalog`):
/// freed memory stays with the process for reuse, and goes back to the system when the command
/// exits.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_get` and `mi_option_set` read and write one entry of mimalloc's table
    // of options, an integer indexed by an enum; they take no pointers, may be called from any
    // thread at any time, and an index outside the table is ignored (mimalloc checks it).
    unsafe {
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == DEFAULT_PURGE_DELAY_MS {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, -1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot holds the purge delay's default before, and "never" after: were the index
    /// wrong for the mimalloc this builds, the default would not be found and nothing set.
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_is_found_and_set_to_never() {
        keep_freed_memory();
        // SAFETY: as in `keep_freed_memory`: one integer option read, no pointers.
        let now = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(now, -1);
    }
}
