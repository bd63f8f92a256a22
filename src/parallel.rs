//! CPU-bound work of a big file spread over the processors (at most four): the review rule's keys,
//! the file's own block index, what the review rule finds for each row.

use std::ops::Range;

/// How many threads such work runs on (the calling thread is one of them).
fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `work` on every thread at once and returns what each returned (the calling thread's
/// first). A panic in any is raised again here.
pub fn on_every_thread<T: Send>(work: impl Fn() -> T + Sync) -> Vec<T> {
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads()).map(|_| scope.spawn(&work)).collect();
        let mut all = vec![work()];
        for t in others {
            all.push(
                t.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        all
    })
}

/// Runs `work` on `0..len` cut into one run of consecutive positions per thread, all at once;
/// the results in the runs' order (the first made on the calling thread). A panic in any is raised
/// again here.
pub fn in_shares<T: Send>(len: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let share = len.div_ceil(threads()).max(1);
    std::thread::scope(|scope| {
        let others: Vec<_> = (share..len)
            .step_by(share)
            .map(|from| {
                let work = &work;
                scope.spawn(move || work(from..(from + share).min(len)))
            })
            .collect();
        let mut all = vec![work(0..share.min(len))];
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
