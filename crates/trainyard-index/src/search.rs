//! The search arena: every job name of a scope, case-folded (`trainyard_api::text::search_fold`),
//! laid end to end with a `\n` after each, so one SIMD substring scan (`memchr::memmem`) finds
//! every job whose name contains the needle (`list.md` "Semantics" 3).

use memchr::memmem::Finder;

const SEP: u8 = b'\n';
const DEAD: u32 = u32::MAX;

/// Case-folded names of a scope in one buffer (see module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct SearchArena {
    buf: Vec<u8>,
    /// (start offset in `buf`, slot) in buffer order; `slot == DEAD` once removed.
    entries: Vec<(u32, u32)>,
    /// Entry index of each slot's live entry.
    entry_of_slot: Vec<u32>,
    dead: usize,
}

impl SearchArena {
    /// Adds the folded name of `slot`.
    pub(crate) fn push(&mut self, slot: u32, folded: &str) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(folded.as_bytes());
        self.buf.push(SEP);
        let idx = self.slot_index(slot);
        self.entry_of_slot[idx] = self.entries.len() as u32;
        self.entries.push((start, slot));
    }

    fn slot_index(&mut self, slot: u32) -> usize {
        let i = slot as usize;
        if self.entry_of_slot.len() <= i {
            self.entry_of_slot.resize(i + 1, DEAD);
        }
        i
    }

    /// Forgets the name of `slot`; compacts when half the buffer is dead.
    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(&e) = self.entry_of_slot.get(slot as usize) else {
            return;
        };
        if e == DEAD {
            return;
        }
        self.entries[e as usize].1 = DEAD;
        self.entry_of_slot[slot as usize] = DEAD;
        self.dead += 1;
        if self.dead > 1024 && self.dead * 2 > self.entries.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let old_buf = std::mem::take(&mut self.buf);
        let old = std::mem::take(&mut self.entries);
        for (i, &(start, slot)) in old.iter().enumerate() {
            if slot == DEAD {
                continue;
            }
            let end = old.get(i + 1).map_or(old_buf.len(), |n| n.0 as usize) - 1;
            let new_start = self.buf.len() as u32;
            self.buf.extend_from_slice(&old_buf[start as usize..=end]);
            self.entry_of_slot[slot as usize] = self.entries.len() as u32;
            self.entries.push((new_start, slot));
        }
        self.dead = 0;
    }

    /// Calls `hit(slot)` once for every live name containing `needle` (already folded),
    /// in buffer order. An empty needle is the caller's business (it matches everything).
    pub(crate) fn for_each_match(&self, needle: &str, mut hit: impl FnMut(u32)) {
        let n = needle.as_bytes();
        if n.is_empty() || n.contains(&SEP) {
            return;
        }
        let finder = Finder::new(n);
        let mut pos = 0usize;
        let mut entry = 0usize;
        while let Some(found) = finder.find(&self.buf[pos..]) {
            let at = (pos + found) as u32;
            // advance to the entry containing `at` (entries are in buffer order, and
            // `entries[entry].0 <= at`): gallop forward, since the next hit is usually close
            let n_entries = self.entries.len();
            let mut hi = 1usize;
            while entry + hi < n_entries && self.entries[entry + hi].0 <= at {
                hi *= 2;
            }
            let lo = entry + hi / 2;
            let end = (entry + hi).min(n_entries);
            let step = self.entries[lo..end].partition_point(|&(start, _)| start <= at);
            entry = lo + step.saturating_sub(1);
            let (_, slot) = self.entries[entry];
            if slot != DEAD {
                hit(slot);
            }
            // jump to the next name
            match self.entries.get(entry + 1) {
                Some(&(next, _)) => {
                    pos = next as usize;
                    entry += 1;
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_name_once() {
        let mut a = SearchArena::default();
        for (i, n) in ["aaa", "bab", "ccc", "aa"].iter().enumerate() {
            a.push(i as u32, n);
        }
        let mut got = vec![];
        a.for_each_match("a", |s| got.push(s));
        assert_eq!(got, vec![0, 1, 3]);
        a.remove(1);
        got.clear();
        a.for_each_match("a", |s| got.push(s));
        assert_eq!(got, vec![0, 3]);
        got.clear();
        a.for_each_match("a\nc", |s| got.push(s));
        assert!(got.is_empty(), "a needle never matches across names");
    }

    #[test]
    fn compaction_keeps_matches() {
        let mut a = SearchArena::default();
        for i in 0..5000u32 {
            a.push(i, &format!("job-{i}"));
        }
        for i in 0..4000u32 {
            a.remove(i);
        }
        a.push(9999, "job-new");
        let mut got = vec![];
        a.for_each_match("job-", |s| got.push(s));
        let mut want: Vec<u32> = (4000..5000).collect();
        want.push(9999);
        assert_eq!(got, want);
    }
}
