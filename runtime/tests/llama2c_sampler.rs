//! The sampler against hand-computed llama2.c behaviour: xorshift64* values worked out step by step,
//! one case per path (argmax, multinomial, top-p), and properties of top-p / top-k.

use glmix::sampler::{random_f32, random_u32, softmax, ProbIndex, Sampler};

/// 0x2545F4914F6CDD1D, the xorshift64* multiplier.
const A: u64 = 0x2545_F491_4F6C_DD1D;

#[test]
fn xorshift_seed_42_by_hand() {
    // s = 42 = 0x2A
    // s ^= s >> 12: 0x2A >> 12 = 0                    -> s = 0x0000_002A
    // s ^= s << 25: 0x2A << 25 = 0x5400_0000          -> s = 0x5400_002A
    // s ^= s >> 27: 0x5400_002A >> 27 = 0xA (84 / 8)  -> s = 0x5400_0020
    let s: u64 = 0x5400_0020;
    // s * A mod 2^64 = A * 0x20 + A * 0x5400_0000
    //   A * 0x20        = A << 5          = 0xA8BE_9229_ED9B_A3A0 (top bits dropped)
    //   A * 0x5400_0000 = (A * 0x54) << 24 = 0xAE0F_B88D_8400_0000
    //   sum mod 2^64                       = 0x56CE_4AB7_719B_A3A0  -> high 32 bits 0x56CE_4AB7
    assert_eq!(A.wrapping_mul(0x20), 0xA8BE_9229_ED9B_A3A0);
    assert_eq!(A.wrapping_mul(0x54) << 24, 0xAE0F_B88D_8400_0000);
    assert_eq!(0xA8BE_9229_ED9B_A3A0u64.wrapping_add(0xAE0F_B88D_8400_0000), 0x56CE_4AB7_719B_A3A0);
    assert_eq!(A.wrapping_mul(s), 0x56CE_4AB7_719B_A3A0);

    let mut state = 42u64;
    assert_eq!(random_u32(&mut state), 0x56CE_4AB7);
    assert_eq!(state, s);

    // random_f32 = (u32 >> 8) / 2^24 = 0x56CE4A / 16777216 = 5688906 / 16777216 ~ 0.33909
    let mut state = 42u64;
    let coin = random_f32(&mut state);
    assert_eq!(coin, 5_688_906.0 / 16_777_216.0);
    assert!(coin > 0.25 && coin < 0.5);
}

#[test]
fn xorshift_seed_3_by_hand() {
    // s = 3: s >> 12 = 0; s << 25 = 0x600_0000 -> s = 0x600_0003; s >> 27 = 0 (s < 2^27).
    // s * A = A * 3 + (A * 6) << 24 = 0x6FD1_DDB3_EE46_9757 + 0x67DC_8D2E_AE00_0000
    //       = 0xD7AE_6AE2_9C46_9757 -> 0xD7AE_6AE2; coin = 0xD7AE6A / 2^24 = 14134890 / 2^24 ~ 0.8425
    assert_eq!(A.wrapping_mul(3), 0x6FD1_DDB3_EE46_9757);
    assert_eq!(A.wrapping_mul(6) << 24, 0x67DC_8D2E_AE00_0000);
    let mut state = 3u64;
    assert_eq!(random_u32(&mut state), 0xD7AE_6AE2);
    assert_eq!(state, 0x600_0003);
    let mut state = 3u64;
    assert_eq!(random_f32(&mut state), 14_134_890.0 / 16_777_216.0);
}

#[test]
fn seed_zero_is_a_fixed_point() {
    let mut state = 0u64;
    for _ in 0..4 {
        assert_eq!(random_u32(&mut state), 0);
    }
    // Every coin is 0.0: multinomial returns the first token with non-zero probability.
    let mut s = Sampler::new(1.0, 0.0, 0, 0);
    assert_eq!(s.sample(&mut [f32::NEG_INFINITY, 0.0, 5.0], &mut []), Ok(1));
}

#[test]
fn argmax_path() {
    let mut s = Sampler::new(0.0, 0.9, 0, 42);
    let mut logits = [1.0, 3.0, 3.0, 2.0];
    assert_eq!(s.sample(&mut logits, &mut []), Ok(1)); // first of the two maxima
    assert_eq!(logits, [1.0, 3.0, 3.0, 2.0]); // untouched
    assert_eq!(s.rng_state, 42); // no coin drawn
}

#[test]
fn multinomial_path() {
    // Equal logits: softmax gives exactly 0.25 each (expf(0) = 1, sum 4), cdf 0.25, 0.5, 0.75, 1.0.
    for topp in [0.0, -1.0, 1.0, 2.0] {
        // seed 42: coin ~ 0.339 -> first cdf above it is 0.5 -> token 1.
        let mut s = Sampler::new(0.7, topp, 0, 42);
        let mut logits = [2.0f32; 4];
        assert_eq!(s.sample(&mut logits, &mut []), Ok(1));
        assert_eq!(logits, [0.25; 4]);
        assert_eq!(s.rng_state, 0x5400_0020); // exactly one coin
                                              // seed 3: coin ~ 0.8425 -> token 3.
        let mut s = Sampler::new(0.7, topp, 0, 3);
        assert_eq!(s.sample(&mut [2.0f32; 4], &mut []), Ok(3));
    }
    // probabilities ~ [0.1, 0.6, 0.3]: cdf 0.1, 0.7, 1.0; coin 0.339 -> 1, coin 0.8425 -> 2.
    let logits = [0.1f32.ln(), 0.6f32.ln(), 0.3f32.ln()];
    assert_eq!(Sampler::new(1.0, 0.0, 0, 42).sample(&mut logits.clone(), &mut []), Ok(1));
    assert_eq!(Sampler::new(1.0, 0.0, 0, 3).sample(&mut logits.clone(), &mut []), Ok(2));
}

#[test]
fn top_p_path() {
    // probabilities ~ [0.1, 0.6, 0.3], n = 3.
    let logits = [0.1f32.ln(), 0.6f32.ln(), 0.3f32.ln()];
    let mut scratch = [ProbIndex::default(); 3];
    // topp = 0.65: cutoff = 0.35 / 2 = 0.175 drops token 0; sorted: [1 (0.6), 2 (0.3)];
    // running sum 0.6 <= 0.65, 0.9 > 0.65 -> nucleus {1, 2}, cum = 0.9; r = coin * 0.9.
    //   seed 42: r ~ 0.305 < 0.6 -> token 1.   seed 3: r ~ 0.758 >= 0.6 -> token 2.
    let mut s = Sampler::new(1.0, 0.65, 0, 42);
    assert_eq!(s.sample(&mut logits.clone(), &mut scratch), Ok(1));
    assert_eq!(s.rng_state, 0x5400_0020);
    let mut s = Sampler::new(1.0, 0.65, 0, 3);
    assert_eq!(s.sample(&mut logits.clone(), &mut scratch), Ok(2));
    // topp = 0.5: the first running sum 0.6 already exceeds it -> nucleus {1}, whatever the coin.
    for seed in 1..50 {
        let mut s = Sampler::new(1.0, 0.5, 0, seed);
        assert_eq!(s.sample(&mut logits.clone(), &mut scratch), Ok(1));
    }
    // Where multinomial sampling would give token 0 (coin < 0.1), top-p 0.65 never does.
    let mut hits0 = 0;
    for seed in 1..2000u64 {
        let mut m = Sampler::new(1.0, 0.0, 0, seed);
        let mut p = Sampler::new(1.0, 0.65, 0, seed);
        let tm = m.sample(&mut logits.clone(), &mut []).unwrap();
        let tp = p.sample(&mut logits.clone(), &mut scratch).unwrap();
        hits0 += usize::from(tm == 0);
        assert_ne!(tp, 0);
    }
    assert!(hits0 > 100);
}

#[test]
fn top_k_extension() {
    let logits = [0.1f32.ln(), 0.6f32.ln(), 0.3f32.ln()];
    let mut scratch = [ProbIndex::default(); 3];
    for seed in 1..200u64 {
        // k = 1 is greedy (but still draws one coin).
        let mut s = Sampler::new(1.0, 0.9, 1, seed);
        assert_eq!(s.sample(&mut logits.clone(), &mut scratch), Ok(1));
        // k >= n is exactly run.c's path: same token, same RNG state.
        for topp in [0.0, 0.65, 0.9] {
            let mut a = Sampler::new(1.0, topp, 0, seed);
            let mut b = Sampler::new(1.0, topp, 3, seed);
            let ta = a.sample(&mut logits.clone(), &mut scratch);
            let tb = b.sample(&mut logits.clone(), &mut scratch);
            assert_eq!((ta, a.rng_state), (tb, b.rng_state));
        }
        // k = 2 keeps {1, 2}.
        let mut s = Sampler::new(1.0, 0.0, 2, seed);
        assert_ne!(s.sample(&mut logits.clone(), &mut scratch), Ok(0));
    }
    // k = 2 without top-p: r = coin * (0.6 + 0.3); seed 42: 0.305 < 0.6 -> 1; seed 3: 0.758 -> 2.
    assert_eq!(Sampler::new(1.0, 0.0, 2, 42).sample(&mut logits.clone(), &mut scratch), Ok(1));
    assert_eq!(Sampler::new(1.0, 0.0, 2, 3).sample(&mut logits.clone(), &mut scratch), Ok(2));
}

/// xorshift64* for test inputs.
struct Rng(u64);
impl Rng {
    fn f32(&mut self) -> f32 {
        random_f32(&mut self.0)
    }
}

/// Property: the token top-p returns is in the nucleus. Rank tokens by descending probability
/// (ties: smaller index first); the nucleus is the shortest prefix whose running sum exceeds `topp`
/// (or everything with `p >= cutoff`). So the mass ranked strictly before the returned token is at
/// most `topp` (up to rounding), and its probability is at least the cutoff. With top-k, it is also
/// among the k most probable.
#[test]
fn top_p_and_top_k_stay_in_the_nucleus() {
    let mut rng = Rng(0xDEC0DE);
    let mut scratch = vec![ProbIndex::default(); 300];
    let mut fallbacks = 0;
    for case in 0..3000 {
        let n = 1 + (rng.f32() * 299.0) as usize;
        let spread = [0.5f32, 3.0, 10.0, 30.0][case % 4];
        let logits: Vec<f32> =
            (0..n).map(|_| if rng.f32() < 0.1 { 1.0 } else { (rng.f32() - 0.5) * spread }).collect();
        let topp = 0.01 + 0.98 * rng.f32();
        let temperature = 0.2 + 1.5 * rng.f32();
        let topk = if case % 3 == 0 { 1 + (rng.f32() * n as f32) as u32 } else { 0 };
        let mut s = Sampler::new(temperature, topp, topk, 1 + case as u64);
        let mut probs = logits.clone();
        let token = s.sample(&mut probs, &mut scratch).unwrap() as usize;
        assert!(token < n);

        // The probabilities the sampler saw (it overwrote `probs` with them).
        let mut expected = logits.iter().map(|l| l / temperature).collect::<Vec<_>>();
        softmax(&mut expected);
        assert_eq!(probs, expected);

        let pt = probs[token];
        let ranks_before = |i: usize| probs[i] > pt || (probs[i] == pt && i < token);
        let mut before: Vec<f32> = (0..n).filter(|&i| ranks_before(i)).map(|i| probs[i]).collect();
        before.sort_by(|a, b| b.total_cmp(a));
        let mass_before: f32 = before.iter().sum();
        if n > 1 {
            if topk > 0 && (topk as usize) < n {
                assert!(before.len() < topk as usize, "case {case}: not in the top {topk}");
                let kept: f32 = {
                    let mut all = probs.clone();
                    all.sort_by(|a, b| b.total_cmp(a));
                    all[..topk as usize].iter().sum()
                };
                assert!(mass_before <= topp * kept * (1.0 + 1e-5) + 1e-6, "case {case}");
            } else {
                // run.c's pre-filter keeps p >= cutoff; when nothing reaches it (run.c reads out of
                // bounds) the sampler falls back to the argmax, the first token of every nucleus.
                let cutoff = (1.0 - topp) / (n - 1) as f32;
                if probs.iter().any(|&p| p >= cutoff) {
                    assert!(pt >= cutoff, "case {case}: below the cutoff");
                } else {
                    assert!(before.is_empty(), "case {case}: no candidate, not the argmax");
                    fallbacks += 1;
                }
                assert!(mass_before <= topp * (1.0 + 1e-5) + 1e-6, "case {case}: outside the nucleus");
            }
        }
    }
    eprintln!("{fallbacks} cases without any candidate above the cutoff");
}
