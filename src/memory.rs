//! Giving freed memory back to the system between the phases of a big file.
//!
//! glibc's allocator keeps the memory a phase freed (the unzipped sheet of a file being read, the
//! lookup lists of its rows) inside its heaps whenever something still in use sits above it, so
//! the process's resident size only grows from file to file. [`give_back`] asks it to return every
//! whole free page at once (`malloc_trim`, which releases pages in the middle of the heaps too).

/// Keeps the allocator to two heaps (glibc; elsewhere nothing), before any thread starts.
///
/// glibc gives threads heaps of their own (up to eight per processor): the runtime's workers, the
/// file's reader and the threads that make keys and decide each took one, and the memory freed in
/// one is not reused by the others. Two heaps took 6 MB (of 235) off the peak of a 100,000-row file,
/// no slower. (`MALLOC_ARENA_MAX` in the environment, if set, still wins: it is read first.)
pub fn limit_heaps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Returns the allocator's whole free pages to the system (glibc; elsewhere nothing).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lowers the calling thread's scheduling priority (Linux: nice +10; elsewhere nothing), for work
/// that may wait: on a busy machine its processor time goes to the database first.
pub fn yield_to_others() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on the calling thread's own id only changes
    // its scheduling priority (lowering it needs no privilege), and a failure is harmless.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}
