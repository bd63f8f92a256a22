//! CPU-bound work of a big file spread over the processors (at most four): the review rule's keys,
//! the file's own block index, what the review rule finds for each row. Plain std threads: which
//! async runtime the caller is on is the daemon's business (`agency_portal::parallel`).

use std::ops::Range;

/// How many threads such work runs on (the calling thread is one of them).
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `work` on every thread at once and returns what each returned (the calling thread's
/// first). A panic in any is raised again here.
pub fn on_every_thread<T: Send>(work: impl Fn() -> T + Sync) -> Vec<T> {
    each(vec![(); threads()], &|()| work())
}

/// Runs `work` on `0..len` cut into one run of consecutive positions per thread (one empty run
/// when `len` is 0), all at once; the results in the runs' order (the first made on the calling
/// thread). A panic in any is raised again here.
pub fn in_shares<T: Send>(len: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let share = len.div_ceil(threads()).max(1);
    let mut runs: Vec<Range<usize>> = (0..len)
        .step_by(share)
        .map(|from| from..(from + share).min(len))
        .collect();
    if runs.is_empty() {
        runs.push(0..0);
    }
    each(runs, &work)
}

/// Runs `work` on each of `parts` at once, the first on the calling thread, the others on threads
/// of their own; the results in the parts' order. A panic in any is raised again here.
pub fn each<P: Send, T: Send>(parts: Vec<P>, work: &(impl Fn(P) -> T + Sync)) -> Vec<T> {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return Vec::new();
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = parts.map(|part| scope.spawn(move || work(part))).collect();
        let mut all = vec![work(first)];
        for t in others {
            all.push(
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        all
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_position_once_in_order() {
        for len in [0, 1, 2, 3, 7, 1000] {
            let runs = in_shares(len, |r| r);
            let all: Vec<usize> = runs.into_iter().flatten().collect();
            assert_eq!(all, (0..len).collect::<Vec<_>>(), "len {len}");
        }
        assert_eq!(on_every_thread(|| 1).len(), threads());
    }
}
