//! Giving freed memory back to the system between the phases of a big file.
//!
//! glibc's allocator keeps the memory a phase freed (the unzipped sheet of a file being read, the
//! lookup lists of its rows) inside its heaps whenever something still in use sits above it, so
//! the process's resident size only grows from file to file. [`give_back`] asks it to return every
//! whole free page at once (`malloc_trim`, which releases pages in the middle of the heaps too).

/// Returns the allocator's whole free pages to the system (glibc; elsewhere nothing).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
