//! RISC-V with the single-precision F extension (`riscv32imafc`, `riscv32gc`, ...; cfg `glmix_rvf`):
//! f32 matvec rows in fours, in plain Rust.
//!
//! The scalar twin ([`generic::dot_f32`] per row) loads `x[i]` and `w[i]` for every multiply-add
//! (4 instructions and loop overhead per weight). Here four rows share each load of `x` (one `flw x`,
//! four `flw w`, four `fmul.s`, four `fadd.s` per column: about 3.25 instructions per weight).
//! Each row keeps its own accumulator, summed in column order with a rounded multiply then a rounded
//! add (Rust never contracts to `fmadd.s`), so every output is **bit-identical** to the twin.
//! Everything else is the generic kernels.

use super::{generic, Kernels};

/// The kernels of a RISC-V target with the F extension.
pub(crate) struct RvF;

impl Kernels for RvF {
    forward_kernels! { matvec_f32 }
}

/// f32 matrix times `x`, `matvec_f32_rows`'s contract: `out[r] = generic::dot_f32(data[r *
/// cols..][..cols], x)` (an empty row, so 0, where the row runs past `data`), bit for bit. Rows go in
/// fours; the last `rows % 4` rows, and any quad not wholly inside `data`, take the twin row by row.
pub fn matvec_f32(data: &[f32], cols: usize, x: &[f32], out: &mut [f32]) {
    let (quads, rest) = out.as_chunks_mut::<4>();
    let mut start = 0usize;
    for quad in quads {
        let block = start.checked_add(cols.saturating_mul(4)).and_then(|end| data.get(start..end));
        if let Some(block) = block {
            *quad = dot4(block, cols, x);
            start = start.saturating_add(cols.saturating_mul(4));
        } else {
            for o in quad.iter_mut() {
                let row = data.get(start..start.saturating_add(cols)).unwrap_or(&[]);
                *o = generic::dot_f32(row, x);
                start = start.saturating_add(cols);
            }
        }
    }
    for o in rest {
        let row = data.get(start..start.saturating_add(cols)).unwrap_or(&[]);
        *o = generic::dot_f32(row, x);
        start = start.saturating_add(cols);
    }
}

/// Four consecutive rows of `cols` columns (`block.len() == 4 * cols`) times `x`, each a sequential
/// sum over the common prefix of the row and `x`.
#[inline(always)]
fn dot4(block: &[f32], cols: usize, x: &[f32]) -> [f32; 4] {
    let (r0, rest) = block.split_at(cols.min(block.len()));
    let (r1, rest) = rest.split_at(cols.min(rest.len()));
    let (r2, r3) = rest.split_at(cols.min(rest.len()));
    let (mut s0, mut s1, mut s2, mut s3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for ((((&xv, &a), &b), &c), &d) in x.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
        s0 += a * xv;
        s1 += b * xv;
        s2 += c * xv;
        s3 += d * xv;
    }
    [s0, s1, s2, s3]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::kernels::testutil::Rng;
    use std::vec;

    /// Bit for bit against the twin's row loop: rows around multiples of 4, awkward column counts,
    /// `x` shorter than a row, `data` ending inside a quad, and special values.
    #[test]
    fn matvec_f32_equals_twin() {
        let mut rng = Rng(0x5eed_f00d);
        for rows in [0, 1, 3, 4, 5, 8, 9, 33] {
            for cols in [0, 1, 3, 15, 16, 17, 31, 33, 172] {
                for (short_x, short_data) in [(false, false), (true, false), (false, true)] {
                    let mut data = rng.vec(rows * cols);
                    if let Some(v) = data.get_mut(cols / 2) {
                        *v = f32::INFINITY;
                    }
                    if short_data {
                        data.truncate((rows * cols).saturating_sub(cols / 2 + 1));
                    }
                    let mut x = rng.vec(if short_x { cols / 2 } else { cols });
                    if let Some(v) = x.get_mut(1) {
                        *v = 1e-30; // subnormal products
                    }
                    let mut want = vec![f32::NAN; rows + 2];
                    let mut got = want.clone();
                    crate::kernels::matvec_f32_rows::<generic::Generic>(&data, cols, &x, &mut want[..rows]);
                    RvF::matvec_f32(&data, cols, &x, &mut got[..rows]);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<std::vec::Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "rows {rows} cols {cols} short x {short_x} data {short_data}"
                    );
                }
            }
        }
    }
}
