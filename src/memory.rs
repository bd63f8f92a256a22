//! Giving freed memory back to the system between the phases of a big file.
//!
//! glibc's allocator keeps the memory a phase freed (the unzipped sheet of a file being read, the
//! lookup lists of its rows) inside its heaps whenever something still in use sits above it, so
//! the process's resident size only grows from file to file. [`give_back`] asks it to return every
//! whole free page at once (`malloc_trim`, which releases pages in the middle of the heaps too).

/// Keeps the allocator to two heaps, and gives big blocks their own pages (glibc; elsewhere
/// nothing), before any thread starts.
///
/// glibc gives threads heaps of their own (up to eight per processor): the runtime's workers, the
/// file's reader and the threads that make keys and decide each took one, and the memory freed in
/// one is not reused by the others. Two heaps took 6 MB (of 235) off the peak of a 100,000-row file,
/// no slower. (`MALLOC_ARENA_MAX` in the environment, if set, still wins: it is read first.)
///
/// Blocks of [`MMAP_THRESHOLD`] and more (a phase's arrays of keys and lookups) are mapped pages of
/// their own, returned to the system when freed. glibc starts so, but raises its threshold to
/// 32 MB after the first such block is freed; from then on those arrays came from the heaps and
/// left holes there that the rows kept around them pinned: the peak of a 199,000-row file went
/// from 298 MB to 261 MB with the threshold fixed (`MALLOC_MMAP_THRESHOLD_` still wins).
pub fn limit_heaps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
            }
        }
    }
}

/// See [`limit_heaps`].
pub const MMAP_THRESHOLD: usize = 1 << 20;

/// Returns the allocator's whole free pages to the system (glibc; elsewhere nothing).
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's resident size now, in MiB (Linux; elsewhere 0), for debug logs of big files.
pub fn resident_mib() -> u64 {
    #[cfg(target_os = "linux")]
    if let Ok(statm) = std::fs::read_to_string("/proc/self/statm") {
        // statm counts pages: total, then resident.
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
        return pages * page / (1024 * 1024);
    }
    0
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
