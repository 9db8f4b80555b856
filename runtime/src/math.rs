//! Every transcendental function the runtime uses, in one place.
//!
//! All of them are defined here, identically on every target including std hosts: glibc's `expf` and
//! libm's differ in the last bit for some inputs, and a desktop run must reproduce a board's run bit for
//! bit. [`expf`] is our own (a range reduction and a polynomial in plain `f32` arithmetic, so the same
//! bits everywhere; cheap on an FPU, no tables, and vectorizable); the others go through [`libm`].
//! Nothing else in the crate may call `libm` (or `f32` methods that would pull in the platform libm),
//! except the sampler, which keeps `libm::expf` to reproduce run.c's sampled tokens.

/// Clamp of [`expf`]'s argument: `e^89` overflows and `e^-104` rounds to zero, and inside the clamp
/// the exponent `n` stays in `-150..=128` (two normal scale factors).
pub(crate) const EXP_HI: f32 = 89.0;
pub(crate) const EXP_LO: f32 = -104.0;
/// `1.5 * 2^23`: adding it rounds an `f32` of magnitude below `2^22` to an integer (to nearest, even).
pub(crate) const EXP_ROUND: f32 = 12_582_912.0;
pub(crate) const LOG2E: f32 = core::f32::consts::LOG2_E;
/// `ln 2 = EXP_C1 + EXP_C2` (Cody-Waite): `n * EXP_C1` is exact for `|n| <= 2^15`.
pub(crate) const EXP_C1: f32 = 0.693_359_4; // 0.693359375 = 355/512
pub(crate) const EXP_C2: f32 = -2.121_944_4e-4;
/// Cephes `expf` polynomial: `e^r ~ 1 + r + r^2 P(r)` on `|r| <= ln(2)/2` (Cephes' last coefficient,
/// 5.0000001201e-1, is 0.5 in f32).
pub(crate) const EXP_P: [f32; 6] =
    [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];

/// `e^x`: Cephes' reduction and polynomial, then `2^n` applied as two exact power-of-two factors (so
/// results in the subnormal range are rounded once, and overflow gives `inf`). Plain `f32` operations
/// in a fixed order (Rust never fuses them), so every target gives the same bits; Branch-free
/// but for the clamp, so loops over it vectorize (same operations lane by lane, same bits).
///
/// Accuracy (test `expf_vs_f64` sweeps every 97th `f32` of `[-104, 89]`, 21 million inputs, against
/// `f64::exp`): at most 0.96 ulp for normal results (faithfully rounded; relative error below 7.9e-8),
/// and at most 1 ulp from `libm::expf`; subnormal results within one subnormal step. `NaN` in, `NaN`
/// out; `+inf` -> `inf`, `-inf` -> `0`.
#[inline]
pub fn expf(x: f32) -> f32 {
    // NaN stays NaN.
    let x = x.clamp(EXP_LO, EXP_HI);
    let t = x * LOG2E + EXP_ROUND;
    let n = t - EXP_ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(EXP_ROUND.to_bits() as i32);
    let r = x - n * EXP_C1;
    let r = r - n * EXP_C2;
    let p = exp_poly(r);
    let (s1, s2) = exp_scales(ni);
    p * s1 * s2
}

/// `e^r` for `|r| <= ln(2)/2` (the [`expf`] polynomial; shared with the vectorized twin's spec).
#[inline(always)]
pub(crate) fn exp_poly(r: f32) -> f32 {
    let z = r * r;
    let mut y = EXP_P[0];
    for c in &EXP_P[1..] {
        y = y * r + *c;
    }
    y * z + r + 1.0
}

/// `2^n = s1 * s2` with both factors normal for `n` in `-252..=254` (here `-150..=128`).
#[inline(always)]
pub(crate) fn exp_scales(n: i32) -> (f32, f32) {
    let n1 = n >> 1;
    let n2 = n - n1;
    (f32::from_bits(((n1 + 127) as u32) << 23), f32::from_bits(((n2 + 127) as u32) << 23))
}

/// Square root.
#[inline]
pub fn sqrtf(x: f32) -> f32 {
    libm::sqrtf(x)
}

/// `x^y`.
#[inline]
pub fn powf(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}

/// Cosine (radians).
#[inline]
pub fn cosf(x: f32) -> f32 {
    libm::cosf(x)
}

/// Sine (radians).
#[inline]
pub fn sinf(x: f32) -> f32 {
    libm::sinf(x)
}

/// Sine and cosine of `x`: the bits of `(sinf(x), cosf(x))` with one argument reduction (`libm`'s
/// `sincosf` shares their kernels). Checked equal for every `f32` with `|x| <= 2^24` (2.5 billion
/// inputs, once); test `sincosf_is_sinf_cosf` samples them and the specials.
#[inline]
pub fn sincosf(x: f32) -> (f32, f32) {
    libm::sincosf(x)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanhf(x: f32) -> f32 {
    libm::tanhf(x)
}

/// Rounds half away from zero, like C's `roundf` (ggml's quantizers use it).
#[inline]
pub fn roundf(x: f32) -> f32 {
    libm::roundf(x)
}

/// Absolute value.
#[inline]
pub fn fabsf(x: f32) -> f32 {
    libm::fabsf(x)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Distance in ulps between `a` and the f64 truth `t` (in units of `a`'s ulp).
    fn ulps(a: f32, t: f64) -> f64 {
        let ulp =
            if a == 0.0 { f32::from_bits(1) as f64 } else { (f32::from_bits(a.to_bits() + 1) - a) as f64 };
        ((a as f64) - t).abs() / ulp
    }

    #[test]
    fn expf_vs_f64() {
        let (mut worst_ulp, mut worst_rel, mut worst_libm) = (0.0f64, 0.0f64, 0.0f64);
        let (lo, hi) = ((-104.0f32).to_bits(), 89.0f32.to_bits());
        // Negative half: bits from 0x8000_0000 (-0) up to -104; positive: 0 up to 89.
        let negs = (0x8000_0000u32..=lo).step_by(97);
        let poss = (0u32..=hi).step_by(97);
        for bits in negs.chain(poss).chain([lo, hi, 0x3f80_0000, 0xbf80_0000]) {
            let x = f32::from_bits(bits);
            let (e, t) = (expf(x), (x as f64).exp());
            if t >= f32::MIN_POSITIVE as f64 && t <= f32::MAX as f64 {
                worst_ulp = worst_ulp.max(ulps(e, t));
                worst_rel = worst_rel.max(((e as f64) - t).abs() / t);
                worst_libm = worst_libm.max(ulps(e, libm::expf(x) as f64));
            } else {
                // Subnormal or out-of-range results: within one subnormal step, or the right infinity.
                let want = t as f32;
                assert!(
                    e == want || (e.to_bits() as i64 - want.to_bits() as i64).abs() <= 1,
                    "x {x}: {e} vs {want}"
                );
            }
        }
        std::println!(
            "expf: max {worst_ulp:.3} ulp, max relative {worst_rel:.3e}, max {worst_libm} ulp from libm"
        );
        assert!(worst_ulp < 1.0, "{worst_ulp} ulp");
        assert!(worst_rel < 7.9e-8, "{worst_rel}");
        assert!(worst_libm <= 1.0, "{worst_libm} ulp from libm");
    }

    #[test]
    fn expf_edges() {
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(expf(-0.0), 1.0);
        assert!(expf(f32::NAN).is_nan());
        assert_eq!(expf(f32::INFINITY), f32::INFINITY);
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(89.0), f32::INFINITY);
        assert_eq!(expf(88.72), libm::expf(88.72));
        assert_eq!(expf(-104.0), 0.0);
        assert_eq!(expf(-1000.0), 0.0);
        assert_eq!(expf(-103.5), f32::from_bits(1));
        assert!(
            expf(1.0) == core::f32::consts::E
                || expf(1.0).to_bits().abs_diff(core::f32::consts::E.to_bits()) <= 1
        );
    }

    #[test]
    fn known_values() {
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(sqrtf(4.0), 2.0);
        assert_eq!(powf(2.0, 10.0), 1024.0);
        assert_eq!(cosf(0.0), 1.0);
        assert_eq!(sinf(0.0), 0.0);
        assert_eq!(tanhf(0.0), 0.0);
        // C roundf: half away from zero (not to even).
        assert_eq!(roundf(2.5), 3.0);
        assert_eq!(roundf(-2.5), -3.0);
        assert_eq!(roundf(0.49999997), 0.0);
        assert_eq!(fabsf(-1.5), 1.5);
    }

    #[test]
    fn sincosf_is_sinf_cosf() {
        let same = |x: f32| {
            let (s, c) = sincosf(x);
            let (ws, wc) = (sinf(x), cosf(x));
            (s.to_bits() == ws.to_bits() || (s.is_nan() && ws.is_nan()))
                && (c.to_bits() == wc.to_bits() || (c.is_nan() && wc.is_nan()))
        };
        // Every 4099th f32 of both signs (all reduction branches, tiny to huge), and the specials.
        let bits = (0u32..=u32::MAX).step_by(4099);
        for x in bits.map(f32::from_bits).chain([0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]) {
            assert!(same(x), "x {x:e}");
        }
    }
}
