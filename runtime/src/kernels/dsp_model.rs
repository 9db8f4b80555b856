//! A host model of the `arm_dsp` instruction sequences, instruction by instruction, checked against
//! the scalar twin. It validates the algorithm (halfword pairing, `ROR #8`, `USUB8`, the `px + 16`
//! addressing of high nibbles) on every `cargo test`; the encodings themselves are checked on target
//! (QEMU firmware tests).

use crate::quant::{BlockQ4_0, BlockQ8_0, QuantBlock};

fn sxtb16(a: u32) -> u32 {
    let lo = (a as u8 as i8 as i16) as u16 as u32;
    let hi = ((a >> 16) as u8 as i8 as i16) as u16 as u32;
    lo | (hi << 16)
}

fn smlad(acc: i32, t: u32, u: u32) -> i32 {
    let p0 = (t as u16 as i16 as i32) * (u as u16 as i16 as i32);
    let p1 = ((t >> 16) as u16 as i16 as i32) * ((u >> 16) as u16 as i16 as i32);
    acc.wrapping_add(p0).wrapping_add(p1)
}

fn usub8(a: u32, b: u32) -> u32 {
    u32::from_le_bytes(core::array::from_fn(|i| a.to_le_bytes()[i].wrapping_sub(b.to_le_bytes()[i])))
}

fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn q8_bytes(b: &BlockQ8_0) -> [u8; 32] {
    b.qs.map(|q| q as u8)
}

fn model_q8_0(w: &BlockQ8_0, x: &BlockQ8_0) -> i32 {
    let (wb, xb) = (q8_bytes(w), q8_bytes(x));
    let mut acc = 0;
    for k in 0..8 {
        let (a, b) = (word(&wb, 4 * k), word(&xb, 4 * k));
        acc = smlad(acc, sxtb16(a), sxtb16(b));
        acc = smlad(acc, sxtb16(a.rotate_right(8)), sxtb16(b.rotate_right(8)));
    }
    acc
}

fn model_q4_0(w: &BlockQ4_0, x: &BlockQ8_0) -> i32 {
    let xb = q8_bytes(x);
    let (m, e) = (0x0F0F_0F0F, 0x0808_0808);
    let mut acc = 0;
    for k in 0..4 {
        let q = word(&w.qs, 4 * k);
        let b = word(&xb, 4 * k + 16);
        let lo = usub8(q & m, e);
        let q = usub8(m & (q >> 4), e);
        acc = smlad(acc, sxtb16(q), sxtb16(b));
        acc = smlad(acc, sxtb16(q.rotate_right(8)), sxtb16(b.rotate_right(8)));
        let b = word(&xb, 4 * k);
        acc = smlad(acc, sxtb16(lo), sxtb16(b));
        acc = smlad(acc, sxtb16(lo.rotate_right(8)), sxtb16(b.rotate_right(8)));
    }
    acc
}

#[test]
fn dsp_sequences_match_scalar() {
    let mut rng = super::testutil::Rng(77);
    for _ in 0..2000 {
        let mut w = BlockQ8_0::default();
        let mut x = BlockQ8_0::default();
        w.qs.iter_mut().chain(x.qs.iter_mut()).for_each(|q| *q = rng.i8());
        assert_eq!(model_q8_0(&w, &x), w.dot_i32(&x));
        let mut w4 = BlockQ4_0::default();
        w4.qs.iter_mut().for_each(|q| *q = rng.next() as u8);
        assert_eq!(model_q4_0(&w4, &x), w4.dot_i32(&x));
    }
}
