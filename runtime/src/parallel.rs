//! Row-parallel matrix-vector products, run by a pool the host provides.
//!
//! The runtime has no threads and allocates nothing: a host that has threads implements
//! [`Parallel`] (glmix-tools runs the parts on a persistent worker pool) and hands it to
//! [`crate::Session::set_parallel`]. [`matvec`] then splits a product's rows into at most
//! [`Parallel::parts`] contiguous ranges, each a multiple of [`ROW_GRAIN`] rows (the last one
//! shorter), and computes each range with [`kernels::matvec`] on a tensor of those rows.
//!
//! Invariant: every kernel computes each output row from that row and the input alone (the
//! architecture kernels group rows only to share loads, each row's sum in its own lanes), so the
//! result is **bit-identical for every number of parts**, [`Serial`] included.

use crate::kernels;
use crate::quant::BlockQ8_0;
use crate::tensor::Tensor;

/// Row ranges are multiples of this many rows (the x86 and NEON quantized kernels take rows in
/// groups of 8 and 4).
pub const ROW_GRAIN: usize = 8;

/// Products with fewer rows than this per part run serially (a handoff costs about a microsecond).
pub const MIN_ROWS_PER_PART: usize = 32;

/// Runs `n` independent parts of one piece of work, possibly on several threads.
///
/// # Safety
///
/// [`Parallel::run`] must call `f(i)` exactly once for every `i < n` (never twice: the parts write
/// disjoint rows through a shared pointer) and return only after every call has returned.
pub unsafe trait Parallel: Sync {
    /// How many parts to split a product into (1: serially, on the calling thread).
    fn parts(&self) -> usize;
    /// Calls `f(i)` once for every `i < n`, in any order and on any threads, and returns when all
    /// calls have returned.
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync));
}

/// No threads: every part on the calling thread, in order.
pub struct Serial;

// SAFETY: `run` calls `f(i)` once for each `i < n`, in order, on the calling thread.
unsafe impl Parallel for Serial {
    fn parts(&self) -> usize {
        1
    }
    fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        (0..n).for_each(f);
    }
}

/// The output pointer shared by the parts (each writes its own rows).
struct Out(*mut f32);
// SAFETY: the parts write disjoint ranges of the slice behind the pointer (see `matvec`).
unsafe impl Sync for Out {}

/// [`kernels::matvec`] with its rows split among `par`'s parts: the same contract and the same bits.
pub fn matvec(par: &dyn Parallel, w: &Tensor<'_>, x: &[f32], xq: &[BlockQ8_0], out: &mut [f32]) {
    let rows = w.rows().min(out.len());
    let parts = par.parts().min(rows / MIN_ROWS_PER_PART);
    if parts <= 1 {
        return kernels::matvec(w, x, xq, out);
    }
    let chunk = rows.div_ceil(parts).next_multiple_of(ROW_GRAIN);
    let (rb, bytes) = (w.row_bytes(), w.bytes());
    let base = Out(out.as_mut_ptr());
    let base = &base;
    par.run(rows.div_ceil(chunk), &|i| {
        let lo = i.saturating_mul(chunk).min(rows);
        let hi = lo.saturating_add(chunk).min(rows);
        // Rows `lo..hi` of `w` (`rows <= w.rows()`: inside its bytes; an F32 row offset keeps the
        // 4-byte alignment), so `Tensor::new` accepts them.
        let sub = bytes
            .get(lo * rb..hi * rb)
            .and_then(|b| Tensor::new(w.dtype(), hi - lo, w.cols(), b))
            .unwrap_or(Tensor::empty());
        // SAFETY: `lo <= hi <= rows <= out.len()`, so the range is inside `out`; part `i` covers
        // rows `i * chunk..` up to the next part's start, so no two parts' ranges overlap, and the
        // `Parallel` contract runs each part once and returns after all have, while `out` is
        // borrowed exclusively by this call.
        let o = unsafe { core::slice::from_raw_parts_mut(base.0.add(lo), hi - lo) };
        kernels::matvec(&sub, x, xq, o);
    });
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::testutil::{encode, Rng, WEIGHT_DTYPES};
    use crate::quant::quantize_row_q8_0;
    use crate::tensor::DType;
    use std::vec;
    use std::vec::Vec;

    /// Parts in reverse order, as a pool may finish them.
    struct Reverse(usize);
    // SAFETY: each `i < n` once, on the calling thread.
    unsafe impl Parallel for Reverse {
        fn parts(&self) -> usize {
            self.0
        }
        fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
            (0..n).rev().for_each(f);
        }
    }

    /// Two parts, serially, counting the products split.
    struct Counting(core::sync::atomic::AtomicUsize);
    // SAFETY: each `i < n` once, on the calling thread.
    unsafe impl Parallel for Counting {
        fn parts(&self) -> usize {
            2
        }
        fn run(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
            self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            (0..n).for_each(f);
        }
    }

    #[test]
    fn every_split_gives_the_serial_bits() {
        let mut rng = Rng(5);
        for dtype in WEIGHT_DTYPES {
            for (rows, cols) in [(1, 33), (31, 64), (33, 172), (288, 288), (768, 288), (288, 768), (1000, 32)]
            {
                let w: Vec<Vec<f32>> = (0..rows).map(|_| rng.vec(cols)).collect();
                let enc = encode(dtype, &w, cols);
                let t = enc.tensor();
                let x = rng.vec(cols);
                let mut xq = vec![BlockQ8_0::default(); cols.div_ceil(32)];
                quantize_row_q8_0(&x, &mut xq);
                let mut want = vec![0.0f32; rows + 1];
                kernels::matvec(&t, &x, &xq, &mut want);
                for parts in [1, 2, 3, 5, 16] {
                    let mut got = vec![0.0f32; rows + 1];
                    matvec(&Reverse(parts), &t, &x, &xq, &mut got);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
                    assert_eq!(bits(&got), bits(&want), "{dtype:?} {rows}x{cols} in {parts} parts");
                }
            }
        }
    }

    /// A whole session (the block loop's MLP and classifier, and the mixer module's projections:
    /// attention, recurrent, state-space decay gates, log-linear level weights) steps to the same
    /// logits bits with its products split in any number of parts, for f32 and the quantized types.
    #[test]
    fn sessions_step_to_the_same_bits_for_every_split() {
        use crate::builder::{random_model_bytes, RandomLayer, RandomSpec};
        use crate::{Model, Session};
        let layer =
            |pattern, param, form, n_kv_heads| RandomLayer { pattern, param, form, n_heads: 4, n_kv_heads };
        let layers = vec![
            layer(2, 1, 3, 4), // order-1 state space
            layer(0, 0, 0, 2), // dense attention, grouped queries
            layer(4, 0, 3, 4), // log-linear state space
            layer(6, 0, 2, 4), // sq1_lattice chained
            layer(4, 0, 1, 4), // pow2_lattice recurrent
        ];
        for dtype in [DType::F32, DType::Q8_0, DType::Q4_0] {
            let mut spec = RandomSpec::small(layers.clone());
            (spec.dim, spec.hidden_dim, spec.head_dim, spec.dtype, spec.max_context) =
                (128, 256, 32, dtype, 64);
            let bytes = random_model_bytes(&spec, 11).unwrap();
            let model = Model::parse(bytes.as_bytes()).unwrap();
            let run = |par: &dyn Parallel| {
                let words = crate::plan::Plan::new(&model, 40).total_words();
                let mut state = vec![0f32; words];
                let mut session = Session::new(&model, 40, &mut state).unwrap();
                session.set_parallel(par);
                let mut bits = Vec::new();
                for t in 0..40u32 {
                    let logits = session.step((t * 37) % 256).unwrap();
                    bits.extend(logits.iter().map(|f| f.to_bits()));
                }
                bits
            };
            let serial = run(&Serial);
            for parts in [2, 3, 4] {
                assert!(run(&Reverse(parts)) == serial, "{dtype:?} in {parts} parts");
            }
            // Every product of 64 rows or more was split: per layer the MLP's three and the mixer's
            // wq, wk, wv, wo, plus the state-space decay gates, then the classifier.
            let counting = Counting(core::sync::atomic::AtomicUsize::new(0));
            assert!(run(&counting) == serial);
            let per_step = 5 * (3 + 4) + 2 + 1;
            assert_eq!(counting.0.into_inner(), 40 * per_step, "{dtype:?}");
        }
    }
}
