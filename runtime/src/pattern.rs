//! Recurrence patterns: which past positions R(t) step t reads. Pure integer code.
//!
//! Positions are 0-based: the first token is t = 0. A translation-invariant pattern comes from a
//! strictly increasing `f(k)`: `2^k` (pow2) or `k^2 + 1` (sq1). The *exact* pattern reads `t - f(k)` for
//! every level with `f(k) <= t`. Its *lattice* (cache-efficient) variant (the paper's Proposition 4.12)
//! rounds each target up onto a lattice of step `a_k`,
//!
//! ```text
//! a_0 = 1,  a_{k+1} = a_k * ceil((f(k+1) - f(k)) / a_k)
//! j_k(t) = a_k * ceil((t + 1 - f(k)) / a_k) - 1          (the 1-based formula with i = t + 1)
//! ```
//!
//! so the distance `t - j_k` lies in `(f(k) - a_k, f(k)]`, and closure `R(t+1) ⊆ R(t) ∪ {t}` holds:
//! after each step the cache keeps exactly R(t+1), never needing a position it evicted.
//!
//! **Duplicates merge**: R(t) is a set. For both lattices `j_k(t)` is non-increasing in k (checked
//! exhaustively in the tests), so equal positions are adjacent and [`Reads`] skips repeats in O(1).
//!
//! **Level cap**: a non-zero `cap` drops levels `k >= cap`; a capped lattice then runs for ever in `cap`
//! slots. An uncapped one grows O(log t) (pow2) or O(sqrt t) (sq1) levels.
//!
//! Index convention: the brief's 1-based counts at step `i` are `|R(i - 1)|` here; the tests check
//! them (pow2 lattice 10 at i = 1,000, 17 at 100,000, 20 at 1,000,000; sq1 lattice 24 at 1,000 and
//! 76 at 10,000).

/// A recurrence pattern (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Pattern {
    /// All `j < t`.
    Dense,
    /// `t-1 .. t-w`.
    Window(u32),
    /// `t-1 .. t-k` (order 1 = first-order recurrence).
    Order(u32),
    /// `t - 2^k`.
    Pow2 {
        /// Level cap (0 = none).
        cap: u32,
    },
    /// Lattice of `2^k`.
    Pow2Lattice {
        /// Level cap (0 = none).
        cap: u32,
    },
    /// `t - (k^2 + 1)`.
    Sq1 {
        /// Level cap (0 = none).
        cap: u32,
    },
    /// Lattice of `k^2 + 1`.
    Sq1Lattice {
        /// Level cap (0 = none).
        cap: u32,
    },
}

/// Which `f` a level-based pattern uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Pow2,
    Sq1,
}

/// `f(k)`, saturating at `u64::MAX`.
const fn f(family: Family, k: u32) -> u64 {
    match family {
        Family::Pow2 => {
            if k >= 63 {
                u64::MAX
            } else {
                1u64 << k
            }
        }
        Family::Sq1 => (k as u64) * (k as u64) + 1,
    }
}

/// `a_{k+1}` from `a_k`: `a_k * ceil((f(k+1) - f(k)) / a_k)`.
const fn next_a(family: Family, k: u32, a_k: u64) -> u64 {
    let gap = f(family, k + 1).saturating_sub(f(family, k));
    a_k.saturating_mul(gap.div_ceil(a_k))
}

/// Number of levels with `f(k) <= t` (and `k < cap` when capped).
const fn levels(family: Family, cap: u32, t: u64) -> u32 {
    // f grows at least linearly, so at most ~t levels; the loop is O(log t) or O(sqrt t).
    let mut k = 0u32;
    while f(family, k) <= t && (cap == 0 || k < cap) && k < u32::MAX {
        k += 1;
    }
    k
}

impl Pattern {
    /// Decodes a file's pattern code and parameter.
    pub const fn from_code(code: u8, param: u32) -> Option<Pattern> {
        Some(match code {
            0 => Pattern::Dense,
            1 => Pattern::Window(param),
            2 => Pattern::Order(param),
            3 => Pattern::Pow2 { cap: param },
            4 => Pattern::Pow2Lattice { cap: param },
            5 => Pattern::Sq1 { cap: param },
            6 => Pattern::Sq1Lattice { cap: param },
            _ => return None,
        })
    }

    /// The file's code.
    pub const fn code(&self) -> u8 {
        match self {
            Pattern::Dense => 0,
            Pattern::Window(_) => 1,
            Pattern::Order(_) => 2,
            Pattern::Pow2 { .. } => 3,
            Pattern::Pow2Lattice { .. } => 4,
            Pattern::Sq1 { .. } => 5,
            Pattern::Sq1Lattice { .. } => 6,
        }
    }

    /// The parameter: window width, order, or level cap.
    pub const fn param(&self) -> u32 {
        match *self {
            Pattern::Dense => 0,
            Pattern::Window(w) | Pattern::Order(w) => w,
            Pattern::Pow2 { cap }
            | Pattern::Pow2Lattice { cap }
            | Pattern::Sq1 { cap }
            | Pattern::Sq1Lattice { cap } => cap,
        }
    }

    /// Name as in the JSON config (`"pow2_lattice"`).
    pub const fn name(&self) -> &'static str {
        match self {
            Pattern::Dense => "dense",
            Pattern::Window(_) => "window",
            Pattern::Order(_) => "order",
            Pattern::Pow2 { .. } => "pow2",
            Pattern::Pow2Lattice { .. } => "pow2_lattice",
            Pattern::Sq1 { .. } => "sq1",
            Pattern::Sq1Lattice { .. } => "sq1_lattice",
        }
    }

    /// The pattern named `name` in the JSON config, with its parameter (`None` for an unknown name).
    pub fn from_name(name: &str, param: u32) -> Option<Pattern> {
        (0..=u8::MAX).map_while(|code| Pattern::from_code(code, param)).find(|p| p.name() == name)
    }

    const fn family(&self) -> Option<(Family, u32, bool)> {
        match *self {
            Pattern::Pow2 { cap } => Some((Family::Pow2, cap, false)),
            Pattern::Pow2Lattice { cap } => Some((Family::Pow2, cap, true)),
            Pattern::Sq1 { cap } => Some((Family::Sq1, cap, false)),
            Pattern::Sq1Lattice { cap } => Some((Family::Sq1, cap, true)),
            _ => None,
        }
    }

    /// For the ring patterns (dense, window, order), how many positions R(t) holds: `t - 1` down to
    /// `t - span`, nearest first, what [`Pattern::reads`] yields. `None` for the level-based patterns.
    pub const fn ring_span(&self, t: u32) -> Option<u32> {
        match *self {
            Pattern::Dense => Some(t),
            Pattern::Window(w) | Pattern::Order(w) => Some(if w < t { w } else { t }),
            _ => None,
        }
    }

    /// True for the lattices, whose cached positions are tracked by tags; all other patterns keep a
    /// ring buffer of the last [`Pattern::slots`] positions (slot = position mod slots).
    pub const fn is_lattice(&self) -> bool {
        matches!(self, Pattern::Pow2Lattice { .. } | Pattern::Sq1Lattice { .. })
    }

    /// True if the pattern serves any position in constant memory (window, order, and level-capped
    /// patterns); the others serve positions `0..max_context` only.
    pub const fn is_unbounded(&self) -> bool {
        match *self {
            Pattern::Window(_) | Pattern::Order(_) => true,
            Pattern::Pow2 { cap }
            | Pattern::Pow2Lattice { cap }
            | Pattern::Sq1 { cap }
            | Pattern::Sq1Lattice { cap } => cap > 0,
            Pattern::Dense => false,
        }
    }

    /// Cache slots needed so that every step `t < max_context` finds R(t) cached.
    ///
    /// Rings: the largest distance read (dense `N - 1`, window/order `w`, exact patterns the largest
    /// `f(k) <= N - 1`, or `f(cap - 1)` when capped). Lattices: the number of levels at `t = N - 1`,
    /// or `cap` when capped. Patterns that are [unbounded](Pattern::is_unbounded) get slots for every
    /// `t`, whatever `max_context`. For pow2 lattices this equals
    /// `max |R(t)|` exactly; for sq1 lattices merged levels make it an upper bound (the tests measure
    /// the slack). Usable in `const` context to size a `static` state buffer.
    pub const fn slots(&self, max_context: u32) -> u32 {
        let last = max_context.saturating_sub(1) as u64;
        match *self {
            Pattern::Dense => last as u32,
            Pattern::Window(w) | Pattern::Order(w) => w,
            _ => match self.family() {
                Some((family, cap, true)) => {
                    if cap > 0 {
                        cap
                    } else {
                        levels(family, 0, last)
                    }
                }
                Some((family, cap, false)) => {
                    let n = if cap > 0 { cap } else { levels(family, 0, last) };
                    if n == 0 {
                        0
                    } else {
                        let d = f(family, n - 1);
                        if d > u32::MAX as u64 {
                            u32::MAX
                        } else {
                            d as u32
                        }
                    }
                }
                None => 0,
            },
        }
    }

    /// The most positions any step `t < max_context` reads (sizes the scores scratch).
    pub const fn max_reads(&self, max_context: u32) -> u32 {
        match self.family() {
            Some((_, cap, false)) if cap > 0 => cap,
            Some((family, _, false)) => levels(family, 0, max_context.saturating_sub(1) as u64),
            _ => self.slots(max_context),
        }
    }

    /// The distinct positions of R(t), nearest first.
    pub fn reads(&self, t: u32) -> Reads {
        let (family, cap, lattice) = match self.family() {
            Some(x) => x,
            None => (Family::Pow2, 0, false),
        };
        let span = match *self {
            Pattern::Dense => t,
            Pattern::Window(w) | Pattern::Order(w) => w.min(t),
            _ => 0,
        };
        Reads {
            t,
            level_based: self.family().is_some(),
            family,
            cap,
            lattice,
            k: 0,
            a_k: 1,
            span,
            last: u32::MAX,
        }
    }
}

/// Iterator over R(t), nearest position first, without repeats (see [`Pattern::reads`]).
#[derive(Clone, Copy, Debug)]
pub struct Reads {
    t: u32,
    level_based: bool,
    family: Family,
    cap: u32,
    lattice: bool,
    /// Next level (level-based patterns) or next distance - 1 (rings).
    k: u32,
    /// `a_k` for the next level.
    a_k: u64,
    /// Ring patterns: how many distances to yield.
    span: u32,
    /// Last position yielded (for merging duplicate levels).
    last: u32,
}

impl Iterator for Reads {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if !self.level_based {
            if self.k >= self.span {
                return None;
            }
            self.k += 1;
            return Some(self.t - self.k);
        }
        loop {
            let k = self.k;
            let fk = f(self.family, k);
            if fk > self.t as u64 || (self.cap != 0 && k >= self.cap) {
                return None;
            }
            let a_k = self.a_k;
            self.a_k = next_a(self.family, k, a_k);
            self.k += 1;
            let j = if self.lattice {
                // a_k * ceil((t + 1 - f(k)) / a_k) - 1 <= t - f(k) + a_k - 1 < t (f(k) >= a_k).
                let base = self.t as u64 + 1 - fk;
                (a_k.saturating_mul(base.div_ceil(a_k)) - 1) as u32
            } else {
                (self.t as u64 - fk) as u32
            };
            if j != self.last {
                self.last = j;
                return Some(j);
            }
        }
    }
}

/// A spread of patterns for the tests: every kind, small and large parameters (capped lattices:
/// `Sq1Lattice` only, as `Pow2Lattice`'s slot count is exact only uncapped).
#[cfg(test)]
pub(crate) const TEST_PATTERNS: [Pattern; 12] = [
    Pattern::Dense,
    Pattern::Window(5),
    Pattern::Window(8),
    Pattern::Order(1),
    Pattern::Order(3),
    Pattern::Pow2 { cap: 0 },
    Pattern::Pow2 { cap: 3 },
    Pattern::Pow2 { cap: 4 },
    Pattern::Sq1 { cap: 0 },
    Pattern::Pow2Lattice { cap: 0 },
    Pattern::Sq1Lattice { cap: 0 },
    Pattern::Sq1Lattice { cap: 5 },
];

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::vec::Vec;

    fn naive(p: &Pattern, t: u32) -> Vec<u32> {
        // The definition, with a sort + dedup instead of the iterator's adjacency argument.
        let (family, cap, lattice) = match p.family() {
            Some(x) => x,
            None => {
                let span = match *p {
                    Pattern::Dense => t,
                    Pattern::Window(w) | Pattern::Order(w) => w.min(t),
                    _ => 0,
                };
                return (1..=span).map(|d| t - d).collect();
            }
        };
        let mut out = Vec::new();
        let mut a = 1u64;
        let mut k = 0;
        while f(family, k) <= t as u64 && (cap == 0 || k < cap) {
            let fk = f(family, k);
            let j = if lattice { a * ((t as u64 + 1 - fk).div_ceil(a)) - 1 } else { t as u64 - fk };
            out.push(j as u32);
            a = next_a(family, k, a);
            k += 1;
        }
        out.sort_unstable_by(|x, y| y.cmp(x));
        out.dedup();
        out
    }

    const LATTICES: [Pattern; 4] = [
        Pattern::Pow2Lattice { cap: 0 },
        Pattern::Sq1Lattice { cap: 0 },
        Pattern::Pow2Lattice { cap: 5 },
        Pattern::Sq1Lattice { cap: 7 },
    ];

    #[test]
    fn reads_equal_the_definition_and_lattices_are_closed() {
        for p in LATTICES {
            let mut prev: Vec<u32> = Vec::new();
            for t in 0..100_000u32 {
                let r: Vec<u32> = p.reads(t).collect();
                if t < 3000 || t % 97 == 0 {
                    assert_eq!(r, naive(&p, t), "{p:?} t={t}");
                }
                // Closure: R(t) ⊆ R(t-1) ∪ {t-1}.
                if t > 0 {
                    for j in &r {
                        assert!(*j == t - 1 || prev.contains(j), "{p:?}: R({t}) reads {j}, evicted before");
                    }
                }
                assert!(r.windows(2).all(|w| w[0] > w[1]), "{p:?} t={t}: not strictly nearest-first");
                prev = r;
            }
        }
    }

    #[test]
    fn exact_patterns_read_t_minus_f() {
        for t in 0..100_000u32 {
            let r: Vec<u32> = Pattern::Pow2 { cap: 0 }.reads(t).collect();
            let want: Vec<u32> =
                (0..32).map(|k| 1u64 << k).filter(|&d| d <= t as u64).map(|d| t - d as u32).collect();
            assert_eq!(r, want);
            let r: Vec<u32> = Pattern::Sq1 { cap: 0 }.reads(t).collect();
            let want: Vec<u32> =
                (0..400u64).map(|k| k * k + 1).filter(|&d| d <= t as u64).map(|d| t - d as u32).collect();
            assert_eq!(r, want);
        }
    }

    #[test]
    fn lattice_distances_lie_in_their_band() {
        for family in [Family::Pow2, Family::Sq1] {
            for t in (0..100_000u64).step_by(7) {
                let mut a = 1u64;
                let mut k = 0;
                while f(family, k) <= t {
                    let fk = f(family, k);
                    let j = a * ((t + 1 - fk).div_ceil(a)) - 1;
                    let dist = t - j;
                    assert!(
                        dist <= fk && dist + a > fk,
                        "{family:?} t={t} k={k}: {dist} not in ({}, {fk}]",
                        fk - a
                    );
                    a = next_a(family, k, a);
                    k += 1;
                }
            }
        }
    }

    #[test]
    fn cached_position_counts_match_the_brief() {
        let count = |p: Pattern, i: u32| p.reads(i - 1).count();
        let pow2 = Pattern::Pow2Lattice { cap: 0 };
        let sq1 = Pattern::Sq1Lattice { cap: 0 };
        assert_eq!(count(pow2, 1_000), 10);
        assert_eq!(count(pow2, 4_096), 12);
        assert_eq!(count(pow2, 100_000), 17);
        assert_eq!(count(pow2, 1_000_000), 20);
        assert_eq!(count(sq1, 1_000), 24);
        assert_eq!(count(sq1, 4_096), 47);
        assert_eq!(count(sq1, 10_000), 76);
        assert_eq!(count(sq1, 1_000_000), 711);
        // Distances at i = 1000 (brief): {1,2,4,8,16,24,40,104,232,488}.
        let d: Vec<u32> = pow2.reads(999).map(|j| 999 - j).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 24, 40, 104, 232, 488]);
    }

    #[test]
    fn slots_cover_every_step_and_are_tight_where_claimed() {
        for n in [1u32, 2, 3, 17, 256, 1000, 4096] {
            for p in TEST_PATTERNS {
                let (mut most, mut farthest) = (0u32, 0u32);
                for t in 0..n {
                    let r: Vec<u32> = p.reads(t).collect();
                    most = most.max(r.len() as u32);
                    farthest = farthest.max(r.iter().map(|j| t - j).max().unwrap_or(0));
                }
                assert!(most <= p.max_reads(n), "{p:?} n={n}");
                if p.is_lattice() {
                    assert!(most <= p.slots(n), "{p:?} n={n}");
                    if matches!(p, Pattern::Pow2Lattice { .. }) {
                        assert_eq!(most, p.slots(n), "{p:?} n={n}: pow2 lattice slots are exact");
                    }
                } else if p.is_unbounded() {
                    assert!(farthest <= p.slots(n), "{p:?} n={n}: a ring must span the farthest read");
                } else {
                    assert_eq!(farthest, p.slots(n), "{p:?} n={n}: a ring must span the farthest read");
                }
            }
        }
        // The sq1 lattice bound's slack (levels vs distinct positions) at common contexts.
        let sq1 = Pattern::Sq1Lattice { cap: 0 };
        for (n, bound) in [(256u32, 16u32), (4096, 64), (65_536, 256)] {
            assert_eq!(sq1.slots(n), bound);
            let exact = (0..n).step_by(1).map(|t| sq1.reads(t).count() as u32).max().unwrap_or(0);
            assert!(exact <= bound && exact * 10 >= bound * 6, "n={n}: exact {exact}, bound {bound}");
        }
        // Usable in const context.
        const S: u32 = Pattern::Pow2Lattice { cap: 0 }.slots(65_536);
        assert_eq!(S, 16);
    }
}
