//! The slot map: where each cached position lives in a layer's cache.
//!
//! A layer's cache is `slots` records (keys, values, mixer outputs; see [`crate::plan`]). Ring patterns
//! (dense, window, order, exact pow2/sq1) put position `j` in slot `j % slots`: writing position `t`
//! overwrites `t - slots`, which no later step reads. Lattice patterns keep a tag per slot (the position
//! it holds, or [`EMPTY`]); after step `t` every position that R(t+1) does not read is evicted and `t`
//! takes a free slot. Closure (`R(t+1) ⊆ R(t) ∪ {t}`) guarantees R(t+1) is then entirely cached.
//!
//! Capacity: [`can_step`] says whether step `t` finds R(t) cached; it is checked before a step runs, so
//! an overflow is an error, never a wrap.

use crate::pattern::Pattern;

/// Tag of a free slot.
pub const EMPTY: u32 = u32::MAX;

/// Tag words a layer needs (one per slot for lattices, none for rings).
pub const fn tag_words(pattern: Pattern, slots: u32) -> usize {
    if pattern.is_lattice() {
        slots as usize
    } else {
        0
    }
}

/// Marks every slot free.
pub fn reset_tags(pattern: Pattern, tags: &mut [u32]) {
    if pattern.is_lattice() {
        tags.fill(EMPTY);
    }
}

/// True if step `t` finds every position of R(t) in a cache of `slots` slots planned for
/// `max_context` positions.
pub fn can_step(pattern: Pattern, slots: u32, max_context: u32, t: u32) -> bool {
    if pattern.is_unbounded() {
        return true;
    }
    t < max_context && pattern.slots(t.saturating_add(1)) <= slots
}

/// A layer's slot map over its tags (borrowed from the state buffer).
pub struct SlotMap<'s> {
    pattern: Pattern,
    slots: u32,
    tags: &'s mut [u32],
}

impl<'s> SlotMap<'s> {
    /// Attaches to existing tags (from [`reset_tags`] or previous steps).
    pub fn attach(pattern: Pattern, slots: u32, tags: &'s mut [u32]) -> Self {
        SlotMap { pattern, slots, tags }
    }

    /// The slot holding position `j`, if cached.
    pub fn slot_of(&self, j: u32) -> Option<usize> {
        if self.pattern.is_lattice() {
            self.tags.iter().position(|&tag| tag == j)
        } else if self.slots == 0 {
            None
        } else {
            Some((j % self.slots) as usize)
        }
    }

    /// `(position, slot)` for every position of R(t), nearest first; positions not cached are
    /// skipped (they cannot occur when [`can_step`] holds).
    pub fn lookup(&self, t: u32) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.pattern.reads(t).filter_map(move |j| self.slot_of(j).map(|s| (j, s)))
    }

    /// After step `t`: evicts what R(t+1) does not read (calling `on_evict` with each freed slot) and
    /// returns the slot where position `t`'s record goes, or `None` if it cannot be cached.
    pub fn insert(&mut self, t: u32, mut on_evict: impl FnMut(usize)) -> Option<usize> {
        if !self.pattern.is_lattice() {
            return (self.slots > 0).then(|| (t % self.slots) as usize);
        }
        let next = t.checked_add(1)?;
        let pattern = self.pattern;
        // The tags hold exactly R(t) here (closure, module docs), so what R(t+1) no longer reads is
        // R(t) \ R(t+1): a merge of two nearest-first (strictly decreasing) sequences, O(levels), then
        // one slot search per evicted position (one per step on average). Testing every tag against
        // every level of R(t+1) instead costs O(slots x levels), O(t) per step for sq1 lattices.
        let mut kept = pattern.reads(next).peekable();
        for j in pattern.reads(t) {
            while kept.next_if(|&k| k > j).is_some() {}
            if kept.next_if_eq(&j).is_none() {
                if let Some(slot) = self.slot_of(j) {
                    if let Some(tag) = self.tags.get_mut(slot) {
                        *tag = EMPTY;
                    }
                    on_evict(slot);
                }
            }
        }
        if !self.tags.contains(&EMPTY) {
            // Not reached while the invariant holds; evict anything R(t+1) does not read.
            for (slot, tag) in self.tags.iter_mut().enumerate() {
                if *tag != EMPTY && !pattern.reads(next).any(|j| j == *tag) {
                    *tag = EMPTY;
                    on_evict(slot);
                }
            }
        }
        let free = self.tags.iter().position(|&tag| tag == EMPTY)?;
        if let Some(tag) = self.tags.get_mut(free) {
            *tag = t;
        }
        Some(free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::vec;

    /// Decodes with a shadow record per slot holding the position written there, NaN-like poison
    /// (`u32::MAX - 1`) on eviction: every lookup must find exactly the positions of R(t).
    fn simulate(pattern: Pattern, n: u32) {
        let slots = pattern.slots(n);
        let mut tags = vec![0u32; tag_words(pattern, slots)];
        reset_tags(pattern, &mut tags);
        let mut records = vec![EMPTY; slots as usize];
        let mut map = SlotMap::attach(pattern, slots, &mut tags);
        for t in 0..n {
            assert!(can_step(pattern, slots, n, t), "{pattern:?}: step {t} of {n} refused");
            let want: vec::Vec<u32> = pattern.reads(t).collect();
            let got: vec::Vec<u32> = map
                .lookup(t)
                .map(|(j, s)| {
                    assert_eq!(records[s], j, "{pattern:?} t={t}: slot {s} holds {} not {j}", records[s]);
                    j
                })
                .collect();
            assert_eq!(got, want, "{pattern:?} t={t}");
            if let Some(s) = map.insert(t, |s| records[s] = u32::MAX - 1) {
                records[s] = t;
            }
        }
        if !pattern.is_unbounded() {
            assert!(!can_step(pattern, slots, n, n), "{pattern:?}: step {n} must overflow");
        }
    }

    #[test]
    fn every_pattern_finds_what_it_reads() {
        for p in [
            Pattern::Dense,
            Pattern::Window(5),
            Pattern::Order(1),
            Pattern::Order(3),
            Pattern::Pow2 { cap: 0 },
            Pattern::Sq1 { cap: 0 },
            Pattern::Pow2 { cap: 3 },
            Pattern::Sq1Lattice { cap: 5 },
        ] {
            simulate(p, 5_000);
        }
        simulate(Pattern::Pow2Lattice { cap: 0 }, 100_000);
        simulate(Pattern::Sq1Lattice { cap: 0 }, 20_000);
        simulate(Pattern::Pow2Lattice { cap: 8 }, 100_000);
    }
}
