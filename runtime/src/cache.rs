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

/// Tag words a layer needs: for lattices, one position tag per slot plus one entry per slot of the
/// nearest-first order; none for rings.
pub const fn tag_words(pattern: Pattern, slots: u32) -> usize {
    if pattern.is_lattice() {
        2 * slots as usize
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

/// A layer's slot map over its tag words (borrowed from the state buffer).
///
/// Lattices keep `tags[slot]` (the position a slot holds, or [`EMPTY`]) and `order` (the occupied
/// slots, nearest position first, then [`EMPTY`]). Invariant at the start of step `t`: the occupied
/// slots hold exactly R(t) and `order` lists them in the order [`Pattern::reads`] yields R(t), so a
/// lookup is a zip, O(|R(t)|), and an insert a merge, O(slots).
pub struct SlotMap<'s> {
    pattern: Pattern,
    slots: u32,
    tags: &'s mut [u32],
    order: &'s mut [u32],
}

impl<'s> SlotMap<'s> {
    /// Attaches to existing tag words (from [`reset_tags`] or previous steps).
    pub fn attach(pattern: Pattern, slots: u32, words: &'s mut [u32]) -> Self {
        let split = (slots as usize).min(words.len());
        let (tags, order) = words.split_at_mut(split);
        SlotMap { pattern, slots, tags, order }
    }

    /// The occupied slots, nearest position first (lattices; test aid).
    #[cfg(test)]
    fn order(&self) -> &[u32] {
        let n = self.order.iter().take_while(|&&s| s != EMPTY).count();
        self.order.get(..n).unwrap_or(&[])
    }

    /// The slot holding position `j`, if cached (a linear search for lattices).
    pub fn slot_of(&self, j: u32) -> Option<usize> {
        if self.pattern.is_lattice() {
            self.tags.iter().position(|&tag| tag == j)
        } else if self.slots == 0 {
            None
        } else {
            Some((j % self.slots) as usize)
        }
    }

    /// Benchmark aid: makes the map hold exactly R(t) (in slots `0..|R(t)|`, values untouched), as if
    /// steps `0..t` had run. For rings this is a no-op (slot = position mod slots).
    pub fn assume_position(&mut self, t: u32) {
        if !self.pattern.is_lattice() {
            return;
        }
        self.tags.fill(EMPTY);
        self.order.fill(EMPTY);
        for (i, j) in self.pattern.reads(t).enumerate() {
            if let (Some(tag), Some(o)) = (self.tags.get_mut(i), self.order.get_mut(i)) {
                *tag = j;
                *o = i as u32;
            }
        }
    }

    /// `(position, slot)` for every position of R(t), nearest first; positions not cached are
    /// skipped (they cannot occur when [`can_step`] holds).
    pub fn lookup(&self, t: u32) -> impl Iterator<Item = (u32, usize)> + '_ {
        let lattice = self.pattern.is_lattice();
        self.pattern.reads(t).enumerate().filter_map(move |(i, j)| {
            if lattice {
                let slot = self.order.get(i).copied().unwrap_or(EMPTY) as usize;
                if self.tags.get(slot) == Some(&j) {
                    return Some((j, slot));
                }
            }
            self.slot_of(j).map(|s| (j, s))
        })
    }

    /// The slots of [`lookup`](Self::lookup)`(t)`, in its order, written to the front of `out` (as many
    /// as fit); returns how many were written. Ring caches map each position straight to its slot.
    pub fn lookup_into(&self, t: u32, out: &mut [u32]) -> usize {
        let mut n = 0;
        if !self.pattern.is_lattice() {
            if self.slots == 0 {
                return 0;
            }
            if let Some(span) = self.pattern.ring_span(t) {
                // Positions t-1, t-2, ..., t-span: their slots count down, wrapping below zero.
                let mut slot = t.wrapping_sub(1) % self.slots;
                for o in out.iter_mut().take(span as usize) {
                    *o = slot;
                    slot = if slot == 0 { self.slots - 1 } else { slot - 1 };
                    n += 1;
                }
            } else {
                for (o, j) in out.iter_mut().zip(self.pattern.reads(t)) {
                    *o = j % self.slots;
                    n += 1;
                }
            }
            return n;
        }
        for (o, (_, slot)) in out.iter_mut().zip(self.lookup(t)) {
            *o = slot as u32;
            n += 1;
        }
        n
    }

    /// After step `t`: evicts what R(t+1) does not read (calling `on_evict` with each freed slot) and
    /// returns the slot where position `t`'s record goes, or `None` if it cannot be cached.
    pub fn insert(&mut self, t: u32, mut on_evict: impl FnMut(usize)) -> Option<usize> {
        if !self.pattern.is_lattice() {
            return (self.slots > 0).then(|| (t % self.slots) as usize);
        }
        let next = t.checked_add(1)?;
        // The occupied slots hold R(t), nearest first; keep those R(t+1) reads (a merge of two
        // decreasing sequences), compacting `order` in place.
        let mut kept = self.pattern.reads(next).peekable();
        let mut w = 0;
        for i in 0..self.order.len() {
            let slot = self.order.get(i).copied().unwrap_or(EMPTY);
            let Some(&j) = self.tags.get(slot as usize) else { break };
            while kept.next_if(|&k| k > j).is_some() {}
            if kept.next_if_eq(&j).is_some() {
                if let Some(o) = self.order.get_mut(w) {
                    *o = slot;
                }
                w += 1;
            } else {
                if let Some(tag) = self.tags.get_mut(slot as usize) {
                    *tag = EMPTY;
                }
                on_evict(slot as usize);
            }
        }
        let free = self.tags.iter().position(|&tag| tag == EMPTY)?;
        if w >= self.order.len() {
            return None;
        }
        // Position t is the nearest of R(t+1): it goes first.
        self.order.copy_within(0..w, 1);
        if let Some(o) = self.order.get_mut(0) {
            *o = free as u32;
        }
        if let Some(rest) = self.order.get_mut(w + 1..) {
            rest.fill(EMPTY);
        }
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
            // `lookup_into` gives the same slots, and stops at the end of `out`.
            let slots: vec::Vec<u32> = map.lookup(t).map(|(_, s)| s as u32).collect();
            let mut out = vec![EMPTY; slots.len() + 1];
            assert_eq!(map.lookup_into(t, &mut out), slots.len(), "{pattern:?} t={t}");
            assert_eq!(out[..slots.len()], slots[..], "{pattern:?} t={t}");
            let short = slots.len() / 2;
            assert_eq!(map.lookup_into(t, &mut out[..short]), short, "{pattern:?} t={t}");
            if pattern.is_lattice() {
                // The fast path: R(t) is exactly the cached set, in `order`.
                let slots: vec::Vec<u32> = map.lookup(t).map(|(_, s)| s as u32).collect();
                assert_eq!(slots, map.order(), "{pattern:?} t={t}: order out of step");
            }
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
        for p in crate::pattern::TEST_PATTERNS {
            simulate(p, 5_000);
        }
        simulate(Pattern::Pow2Lattice { cap: 0 }, 100_000);
        simulate(Pattern::Sq1Lattice { cap: 0 }, 20_000);
        simulate(Pattern::Pow2Lattice { cap: 8 }, 100_000);
    }
}
