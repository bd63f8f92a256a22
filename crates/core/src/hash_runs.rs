//! Finding the run of one hash in an array sorted by hash, in one or two memory reads.
//!
//! Who-is-who keeps its in-memory blocks (the file's rows under each block key) as arrays sorted by
//! the key's hash rather than as maps of lists (a tenth of the memory). Finding a key's run by binary
//! search costs some twenty dependent reads of a large array, each a cache miss: with half a million
//! people each looked up under five keys, that was most of the time of judging them. A directory of
//! where each hash prefix starts finds the run's bucket directly; a bucket holds about one entry.

use std::ops::Range;

/// Where the entries of each `bits`-bit prefix of a 32-bit hash start in a hash-sorted array.
pub struct HashRuns {
    shift: u32,
    starts: Vec<u32>,
}

impl HashRuns {
    /// The directory of `sorted` (sorted by `top`, the top 32 bits of each entry's hash): one
    /// prefix per entry or so (4 bytes each, at most 2^24 prefixes).
    pub fn new<T>(sorted: &[T], top: impl Fn(&T) -> u32) -> HashRuns {
        let bits = sorted
            .len()
            .next_power_of_two()
            .trailing_zeros()
            .clamp(1, 24);
        let shift = 32 - bits;
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut i = 0;
        for prefix in 0..=(1u64 << bits) {
            while i < sorted.len() && u64::from(top(&sorted[i]) >> shift) < prefix {
                i += 1;
            }
            starts.push(i as u32);
        }
        HashRuns { shift, starts }
    }

    /// The range of entries whose hash has the prefix of `top` (the top 32 bits of a hash): its run
    /// is inside, among the few of the same prefix.
    pub fn bucket(&self, top: u32) -> Range<usize> {
        let p = (top >> self.shift) as usize;
        self.starts[p] as usize..self.starts[p + 1] as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hash_is_found_in_its_bucket() {
        for n in [0usize, 1, 2, 3, 100, 5000] {
            let mut hashes: Vec<u32> = (0..n as u32)
                .map(|i| i.wrapping_mul(2_654_435_761) ^ (i >> 3))
                .collect();
            hashes.extend([0, u32::MAX, u32::MAX]);
            hashes.sort_unstable();
            let runs = HashRuns::new(&hashes, |&h| h);
            for &h in &hashes {
                let b = runs.bucket(h);
                let inside = hashes[b.clone()].iter().filter(|&&x| x == h).count();
                let all = hashes.iter().filter(|&&x| x == h).count();
                assert_eq!(inside, all, "n {n} hash {h:#x} bucket {b:?}");
                assert!(hashes[b]
                    .iter()
                    .all(|&x| x >> runs.shift == h >> runs.shift));
            }
        }
    }
}
