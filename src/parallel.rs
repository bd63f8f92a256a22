//! Spreading CPU-bound work over the processors ([`agency_portal_core::parallel`]), and which tokio
//! runtime the caller is on (a blocking task may wait on the runtime's futures only on a
//! multi-threaded one).

pub use agency_portal_core::parallel::*;

/// The runtime this is called on, when it is a multi-threaded tokio runtime: the one kind on which a
/// task may block (`tokio::task::block_in_place`) and other threads may wait on its futures
/// (`Handle::block_on`). `None` on a single-threaded runtime (tests) or outside one.
pub fn threaded_runtime() -> Option<tokio::runtime::Handle> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    Handle::try_current()
        .ok()
        .filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}
