//! `OrderedSeq`: a sorted sequence of row slots with O(log n) search and O(√n)-ish rank,
//! stored as a list of bounded chunks (a one-level B-tree, like Python's `sortedcontainers`).
//!
//! The order itself lives outside: every operation takes a comparator over slots, so one
//! structure serves every sort key.

use std::cmp::Ordering;

/// Largest chunk before it splits.
const MAX_CHUNK: usize = 1024;
/// Chunk size used when building from a sorted vector.
const BUILD_CHUNK: usize = 512;

/// A sorted sequence of `u32` slots (see module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct OrderedSeq {
    chunks: Vec<Vec<u32>>,
    len: usize,
}

/// A position inside an [`OrderedSeq`]: chunk and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    chunk: usize,
    off: usize,
}

impl OrderedSeq {
    /// Builds from slots already sorted by the order in force.
    pub(crate) fn from_sorted(sorted: Vec<u32>) -> OrderedSeq {
        let len = sorted.len();
        let chunks = sorted.chunks(BUILD_CHUNK).map(<[u32]>::to_vec).collect();
        OrderedSeq { chunks, len }
    }

    /// Number of slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// All slots in order (used to merge and rebuild).
    pub(crate) fn to_vec(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len);
        for c in &self.chunks {
            v.extend_from_slice(c);
        }
        v
    }

    /// Number of elements strictly less than the probe: `probe(x)` says how `x` compares to it
    /// (`Less` when `x` sorts before the probe).
    pub(crate) fn lower_bound(&self, probe: impl Fn(u32) -> Ordering) -> usize {
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|&x| probe(x) == Ordering::Less));
        let before: usize = self.chunks[..ci].iter().map(Vec::len).sum();
        match self.chunks.get(ci) {
            Some(c) => before + c.partition_point(|&x| probe(x) == Ordering::Less),
            None => before,
        }
    }

    /// Inserts `slot` at its place; `cmp(a, b)` is the total order.
    pub(crate) fn insert(&mut self, slot: u32, cmp: impl Fn(u32, u32) -> Ordering) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(vec![slot]);
            return;
        }
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|&x| cmp(x, slot) == Ordering::Less))
            .min(self.chunks.len() - 1);
        let chunk = &mut self.chunks[ci];
        let pos = chunk.partition_point(|&x| cmp(x, slot) == Ordering::Less);
        chunk.insert(pos, slot);
        if chunk.len() > MAX_CHUNK {
            let tail = chunk.split_off(chunk.len() / 2);
            self.chunks.insert(ci + 1, tail);
        }
    }

    /// Removes `slot`, found through its current key; returns false if absent.
    pub(crate) fn remove(&mut self, slot: u32, cmp: impl Fn(u32, u32) -> Ordering) -> bool {
        let ci = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|&x| cmp(x, slot) == Ordering::Less));
        let Some(chunk) = self.chunks.get_mut(ci) else {
            return false;
        };
        let pos = chunk.partition_point(|&x| cmp(x, slot) == Ordering::Less);
        if chunk.get(pos) != Some(&slot) {
            return false;
        }
        chunk.remove(pos);
        self.len -= 1;
        if chunk.is_empty() {
            self.chunks.remove(ci);
        }
        true
    }

    /// The cursor at rank `i` (`i == len` gives the end cursor).
    pub(crate) fn cursor_at(&self, mut i: usize) -> Cursor {
        for (ci, c) in self.chunks.iter().enumerate() {
            if i < c.len() {
                return Cursor { chunk: ci, off: i };
            }
            i -= c.len();
        }
        Cursor {
            chunk: self.chunks.len(),
            off: 0,
        }
    }

    /// The slot at a cursor, or `None` at the end.
    pub(crate) fn at(&self, c: Cursor) -> Option<u32> {
        self.chunks
            .get(c.chunk)
            .and_then(|ch| ch.get(c.off))
            .copied()
    }

    /// The next cursor.
    pub(crate) fn next(&self, c: Cursor) -> Cursor {
        match self.chunks.get(c.chunk) {
            Some(ch) if c.off + 1 < ch.len() => Cursor {
                chunk: c.chunk,
                off: c.off + 1,
            },
            Some(_) => Cursor {
                chunk: c.chunk + 1,
                off: 0,
            },
            None => c,
        }
    }

    /// The slot at rank `i`.
    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        self.at(self.cursor_at(i))
    }

    /// Iterates slots from rank `i` onwards.
    pub(crate) fn iter_from(&self, i: usize) -> impl Iterator<Item = u32> + '_ {
        let mut c = self.cursor_at(i);
        std::iter::from_fn(move || {
            let v = self.at(c)?;
            c = self.next(c);
            Some(v)
        })
    }

    /// Iterates slots backwards, from rank `len - 1` down to 0.
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks
            .iter()
            .rev()
            .flat_map(|c| c.iter().rev().copied())
    }

    /// Checks the internal invariants against `cmp` (tests only).
    #[cfg(test)]
    pub(crate) fn check(&self, cmp: impl Fn(u32, u32) -> Ordering) {
        let v = self.to_vec();
        assert_eq!(v.len(), self.len);
        assert!(self.chunks.iter().all(|c| !c.is_empty()));
        for w in v.windows(2) {
            assert_eq!(cmp(w[0], w[1]), Ordering::Less, "order broken at {w:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_rank() {
        let keys: Vec<i64> = (0..5000).map(|i| (i * 7919) % 5000).collect();
        let cmp = |a: u32, b: u32| keys[a as usize].cmp(&keys[b as usize]).then(a.cmp(&b));
        let mut s = OrderedSeq::default();
        for slot in 0..5000u32 {
            s.insert(slot, cmp);
        }
        s.check(cmp);
        for i in 0..5000usize {
            let slot = s.get(i).unwrap();
            assert_eq!(keys[slot as usize], i as i64);
            assert_eq!(s.lower_bound(|x| cmp(x, slot)), i);
        }
        for slot in (0..5000u32).step_by(3) {
            assert!(s.remove(slot, cmp));
            assert!(!s.remove(slot, cmp));
        }
        s.check(cmp);
        assert_eq!(s.len(), 5000 - 1667);
        let all: Vec<u32> = s.iter_from(0).collect();
        let mut rev: Vec<u32> = s.iter_rev().collect();
        rev.reverse();
        assert_eq!(all, rev);
        assert_eq!(s.iter_from(10).next(), s.get(10));
    }
}
