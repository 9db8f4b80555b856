//! The BPE tokenizer against llama2.c's run.c on the stories260K vocabulary (tok512.bin), plus a
//! fuzz-style comparison with a literal port of run.c's `encode` and robustness on arbitrary bytes.
//!
//! Data: `$GLMIX_SHARED_DATA` if set, else `<repo>/../shared/data` (see shared/data/SOURCES.md).
//! Without it the data tests are skipped with a message, but fail when `CI` is set.

use glmix::tokenizer::{BpeVocab, Tokenizer, TokenizerError};
use std::path::PathBuf;

fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("GLMIX_SHARED_DATA") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
    };
    let dir = dir.join("llama2c_stories260K");
    if dir.join("tok512.bin").is_file() {
        return Some(dir);
    }
    let msg =
        format!("test data not found at {} (set GLMIX_SHARED_DATA to the shared/data folder)", dir.display());
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI is set, so this is an error");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The four tokenizer tables, as the host tool would write them into the model file.
struct Tables {
    scores: Vec<f32>,
    offsets: Vec<u32>,
    sorted: Vec<u32>,
    pieces: Vec<u8>,
    max_token_len: u32,
    /// The pieces, for the reference implementation.
    list: Vec<Vec<u8>>,
}

impl Tables {
    fn new(list: Vec<Vec<u8>>, scores: Vec<f32>, max_token_len: u32) -> Tables {
        assert_eq!(list.len(), scores.len());
        let mut offsets = vec![0u32];
        let mut pieces = Vec::new();
        for p in &list {
            pieces.extend_from_slice(p);
            offsets.push(pieces.len() as u32);
        }
        let mut sorted: Vec<u32> = (0..list.len() as u32).collect();
        sorted.sort_by(|&a, &b| list[a as usize].cmp(&list[b as usize]).then(a.cmp(&b)));
        Tables { scores, offsets, sorted, pieces, max_token_len, list }
    }

    /// llama2.c's tokenizer file: i32 max_token_length, then per token f32 score, i32 len, bytes.
    fn from_llama2c(bytes: &[u8]) -> Tables {
        let i32_at = |o: usize| i32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let max_token_len = i32_at(0) as u32;
        let (mut list, mut scores) = (Vec::new(), Vec::new());
        let mut o = 4;
        while o < bytes.len() {
            scores.push(f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()));
            let len = i32_at(o + 4) as usize;
            list.push(bytes[o + 8..o + 8 + len].to_vec());
            o += 8 + len;
        }
        assert_eq!(o, bytes.len(), "trailing bytes in the tokenizer file");
        Tables::new(list, scores, max_token_len)
    }

    fn vocab(&self) -> BpeVocab<'_> {
        BpeVocab::new(&self.scores, &self.offsets, &self.sorted, &self.pieces, self.max_token_len, 1, 2)
            .unwrap()
    }

    /// A literal port of run.c's `encode` (linear `str_lookup` on owned strings): the oracle.
    fn reference_encode(&self, text: &[u8], bos: bool, eos: bool) -> Vec<u32> {
        let lookup = |s: &[u8]| self.list.iter().position(|p| p == s).map(|i| i as u32);
        let mut tokens = Vec::new();
        if bos {
            tokens.push(1);
        }
        if !text.is_empty() {
            tokens.push(lookup(b" ").unwrap());
        }
        let mut buf: Vec<u8> = Vec::new();
        for (i, &c) in text.iter().enumerate() {
            if c & 0xC0 != 0x80 {
                buf.clear();
            }
            buf.push(c);
            let next = text.get(i + 1).copied().unwrap_or(0);
            if next & 0xC0 == 0x80 && buf.len() < 4 {
                continue;
            }
            match lookup(&buf) {
                Some(id) => tokens.push(id),
                None => tokens.extend(buf.iter().map(|&b| b as u32 + 3)),
            }
            buf.clear();
        }
        loop {
            let mut best_score = -1e10f32;
            let mut best: Option<(usize, u32)> = None;
            for i in 0..tokens.len().saturating_sub(1) {
                let cat =
                    [&self.list[tokens[i] as usize][..], &self.list[tokens[i + 1] as usize][..]].concat();
                if let Some(id) = lookup(&cat) {
                    if self.scores[id as usize] > best_score {
                        best_score = self.scores[id as usize];
                        best = Some((i, id));
                    }
                }
            }
            let Some((i, id)) = best else { break };
            tokens[i] = id;
            tokens.remove(i + 1);
        }
        if eos {
            tokens.push(2);
        }
        tokens
    }
}

/// A small synthetic vocabulary with byte fallback, used when the real data is absent too.
fn synthetic() -> Tables {
    let mut list: Vec<Vec<u8>> = vec![b"<unk>".to_vec(), b"\n<s>\n".to_vec(), b"\n</s>\n".to_vec()];
    list.extend((0..=255u8).map(|b| format!("<0x{b:02X}>").into_bytes()));
    let mut scores = vec![0.0f32; list.len()];
    let extra: [(&str, f32); 12] = [
        (" ", -1.0),
        ("a", -2.0),
        ("b", -3.0),
        ("ab", -4.0),
        (" a", -4.0), // tie with "ab": the first pair wins
        ("ba", -5.0),
        ("é", -6.0),
        ("aé", -7.0),
        (" ab", -8.0),
        ("bab", -9.0),
        ("\u{2713}", -10.0),
        ("<0x", -11.0),
    ];
    for (p, s) in extra {
        list.push(p.as_bytes().to_vec());
        scores.push(s);
    }
    Tables::new(list, scores, 6)
}

/// xorshift64* for test inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        (self.next() >> 33) % n
    }
    /// Bytes biased towards what stresses the encoder: ASCII letters and spaces, UTF-8 lead and
    /// continuation bytes, NUL, and fully random bytes.
    fn text(&mut self) -> Vec<u8> {
        let len = self.below(40) as usize;
        (0..len)
            .map(|_| match self.below(8) {
                0 => b' ',
                1 => 0xC3,
                2 => 0x80 | self.below(64) as u8,
                3 => [0xE2, 0xF0, 0x00, b'\n'][self.below(4) as usize],
                4 => b"ab"[self.below(2) as usize],
                5 | 6 => b"abcdefghijklmnopqrstuvwxyz .,!'"[self.below(31) as usize],
                _ => self.below(256) as u8,
            })
            .collect()
    }
}

/// Encodes with `out.len() == text.len() + 3` and checks the documented guarantees, and that the
/// O(n log n) encoder gives exactly the same tokens.
fn encode_checked(tok: &Tokenizer<'_>, n: u32, text: &[u8], bos: bool, eos: bool) -> Vec<u32> {
    let mut out = vec![u32::MAX; text.len() + 3];
    let len = tok.encode(text, bos, eos, &mut out).unwrap();
    assert!(len <= out.len());
    let ids = out[..len].to_vec();
    assert!(ids.iter().all(|&id| id < n), "id out of range for {text:?}: {ids:?}");
    assert_eq!(encode_fast(tok, text, bos, eos), ids, "encode_fast({text:?}, {bos}, {eos})");
    ids
}

fn encode_fast(tok: &Tokenizer<'_>, text: &[u8], bos: bool, eos: bool) -> Vec<u32> {
    let mut out = vec![u32::MAX; text.len() + 3];
    let mut work = vec![u32::MAX; Tokenizer::encode_work_len(text.len())];
    let len = tok.encode_fast(text, bos, eos, &mut out, &mut work).unwrap();
    out.truncate(len);
    out
}

/// Longer strings for the fast-against-twin comparison: runs of one character or piece (which
/// merge in long chains of ties), multi-byte UTF-8 (whole and cut), byte-fallback bytes, and text.
fn long_text(rng: &mut Rng) -> Vec<u8> {
    let parts: [&[u8]; 12] = [
        b"a",
        b"b",
        b"ab",
        b" ",
        b"  ",
        "\u{e9}".as_bytes(),
        "\u{2713}".as_bytes(),
        "\u{1F600}".as_bytes(),
        b"\xC3",
        b"\x80",
        b"Once upon a time, ",
        b"the little dog",
    ];
    let len = rng.below(300) as usize;
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        let part = parts[rng.below(parts.len() as u64) as usize];
        let repeat = if rng.below(4) == 0 { 1 + rng.below(40) as usize } else { 1 };
        for _ in 0..repeat {
            out.extend_from_slice(part);
        }
        if rng.below(8) == 0 {
            out.push(rng.below(256) as u8);
        }
    }
    out.truncate(len); // may cut a code point: invalid UTF-8 is part of the test
    out
}

/// 10,000 random strings through both encoders, on the synthetic vocabulary (ties, byte fallback)
/// and, when present, stories260K's; a few long texts of runs too.
fn fast_against_twin(t: &Tables, seed: u64) {
    let vocab = t.vocab();
    let tok = Tokenizer::Bpe(vocab);
    let mut rng = Rng(seed);
    for case in 0..10_000 {
        let text = if case % 2 == 0 { rng.text() } else { long_text(&mut rng) };
        let (bos, eos) = (case % 3 == 0, case % 5 == 0);
        let mut out = vec![0u32; text.len() + 3];
        let len = tok.encode(&text, bos, eos, &mut out).unwrap();
        assert_eq!(encode_fast(&tok, &text, bos, eos), out[..len], "encode_fast({text:?}, {bos}, {eos})");
    }
    for part in [&b"a"[..], b"ab", b"aab ", "\u{e9}a".as_bytes()] {
        let text = part.repeat(1200 / part.len());
        let mut out = vec![0u32; text.len() + 3];
        let len = tok.encode(&text, true, false, &mut out).unwrap();
        assert_eq!(encode_fast(&tok, &text, true, false), out[..len], "{part:?} repeated");
    }
}

#[test]
fn synthetic_fast_encoder_equals_its_twin_on_10000_strings() {
    fast_against_twin(&synthetic(), 0xFA57);
}

#[test]
fn stories260k_fast_encoder_equals_its_twin_on_10000_strings() {
    let Some(dir) = data_dir() else { return };
    let t = Tables::from_llama2c(&std::fs::read(dir.join("tok512.bin")).unwrap());
    fast_against_twin(&t, 0x5702);
}

/// Decoding the raw pieces of an encoding gives back the text (BOS strips the dummy-prefix space).
fn assert_round_trip(tok: &Tokenizer<'_>, text: &[u8], ids: &[u32]) {
    let mut back = Vec::new();
    let mut prev = 0;
    for &id in ids {
        if id != 1 && id != 2 {
            back.extend_from_slice(tok.decode(prev, id).as_bytes());
        }
        prev = id;
    }
    let expected =
        if ids.first() == Some(&1) || text.is_empty() { text.to_vec() } else { [b" ", text].concat() };
    assert_eq!(back, expected, "round trip of {text:?} via {ids:?}");
}

fn fuzz(t: &Tables, seed: u64, cases: usize) {
    let vocab = t.vocab();
    let tok = Tokenizer::Bpe(vocab);
    let mut rng = Rng(seed);
    for case in 0..cases {
        let text = rng.text();
        let (bos, eos) = (case % 2 == 0, case % 3 == 0);
        let ids = encode_checked(&tok, vocab.len(), &text, bos, eos);
        assert_eq!(ids, t.reference_encode(&text, bos, eos), "encode({text:?}, {bos}, {eos})");
        assert_round_trip(&tok, &text, &ids);
        // One slot short of the pre-merge working set is an error, never a panic or a wrong result.
        let mut small = vec![0u32; text.len() / 2];
        match tok.encode(&text, bos, eos, &mut small) {
            Ok(n) => assert_eq!(&small[..n], &ids[..]),
            Err(TokenizerError::OutputTooSmall { needed_at_least, have }) => {
                assert_eq!(have, small.len());
                assert!(needed_at_least > have && needed_at_least <= text.len() + 3);
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

#[test]
fn synthetic_vocab_matches_reference_on_random_bytes() {
    fuzz(&synthetic(), 0x5EED, 3000);
}

#[test]
fn stories260k_matches_reference_on_random_bytes() {
    let Some(dir) = data_dir() else { return };
    let t = Tables::from_llama2c(&std::fs::read(dir.join("tok512.bin")).unwrap());
    fuzz(&t, 0xC0FFEE, 3000);
}

#[test]
fn stories260k_vocab_lookups() {
    let Some(dir) = data_dir() else { return };
    let t = Tables::from_llama2c(&std::fs::read(dir.join("tok512.bin")).unwrap());
    assert_eq!((t.list.len(), t.max_token_len), (512, 7));
    let v = t.vocab();
    // No duplicate pieces in this vocabulary: every lookup is unambiguous, as with run.c's bsearch.
    for id in 0..v.len() {
        let p = v.piece(id);
        assert_eq!(p, &t.list[id as usize][..]);
        assert_eq!(v.lookup(p), Some(id), "{p:?}");
        for k in 0..=p.len() {
            assert_eq!(v.lookup_concat(&p[..k], &p[k..]), Some(id));
        }
    }
    assert_eq!(v.lookup(b" "), Some(410));
    assert_eq!(v.lookup(b"not a piece"), None);
}

/// One line of encode_cases.jsonl: `{"text": "...", "bos": true, "eos": false, "ids": [1, 2]}`.
struct Case {
    text: Vec<u8>,
    bos: bool,
    eos: bool,
    ids: Vec<u32>,
}

/// A minimal parser for exactly that shape (JSON string escapes included).
fn parse_case(line: &str) -> Case {
    fn after<'a>(line: &'a str, key: &str) -> &'a str {
        let k = format!("\"{key}\":");
        let at = line.find(&k).unwrap_or_else(|| panic!("no {key} in {line}"));
        line[at + k.len()..].trim_start()
    }
    fn boolean(s: &str) -> bool {
        if s.starts_with("true") {
            true
        } else {
            assert!(s.starts_with("false"), "{s}");
            false
        }
    }
    let s = after(line, "text");
    let mut chars = s.strip_prefix('"').unwrap().chars();
    let mut text = String::new();
    loop {
        match chars.next().unwrap() {
            '"' => break,
            '\\' => match chars.next().unwrap() {
                'n' => text.push('\n'),
                't' => text.push('\t'),
                'r' => text.push('\r'),
                'b' => text.push('\u{8}'),
                'f' => text.push('\u{c}'),
                'u' => {
                    let hex = |chars: &mut std::str::Chars| {
                        let h: String = chars.take(4).collect();
                        u32::from_str_radix(&h, 16).unwrap()
                    };
                    let mut c = hex(&mut chars);
                    if (0xD800..0xDC00).contains(&c) {
                        assert_eq!((chars.next(), chars.next()), (Some('\\'), Some('u')));
                        c = 0x10000 + ((c - 0xD800) << 10) + (hex(&mut chars) - 0xDC00);
                    }
                    text.push(char::from_u32(c).unwrap());
                }
                c => text.push(c), // \" \\ \/
            },
            c => text.push(c),
        }
    }
    let ids_str = after(line, "ids");
    let ids_str = &ids_str[1..ids_str.find(']').unwrap()];
    let ids =
        ids_str.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    Case { text: text.into_bytes(), bos: boolean(after(line, "bos")), eos: boolean(after(line, "eos")), ids }
}

#[test]
fn stories260k_encode_cases_match_run_c() {
    let Some(dir) = data_dir() else { return };
    let t = Tables::from_llama2c(&std::fs::read(dir.join("tok512.bin")).unwrap());
    let vocab = t.vocab();
    let tok = Tokenizer::Bpe(vocab);
    let jsonl = std::fs::read_to_string(dir.join("expected/encode_cases.jsonl")).unwrap();
    let mut checked = 0;
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let case = parse_case(line);
        let ids = encode_checked(&tok, vocab.len(), &case.text, case.bos, case.eos);
        assert_eq!(ids, case.ids, "encode({:?})", String::from_utf8_lossy(&case.text));
        assert_eq!(ids, t.reference_encode(&case.text, case.bos, case.eos));
        // The smallest buffer that works is the pre-merge token count (+ EOS); one less fails.
        let mut probe = vec![0u32; case.text.len() + 3];
        while let Ok(n) = tok.encode(&case.text, case.bos, case.eos, &mut probe) {
            assert_eq!(&probe[..n], &case.ids[..]);
            if probe.is_empty() {
                break;
            }
            probe.pop();
        }
        checked += 1;
    }
    assert_eq!(checked, 7);
}

/// run.c's generate loop with no prompt prints, for each sampled token, `safe_printf(decode(prev,
/// next))` (stopping if BOS is sampled), then one `"\n"`; "achieved tok/s" goes to stderr. So the stdout
/// file is the printable pieces of the 256 greedy ids, decoded after BOS, plus a final newline.
#[test]
fn stories260k_decode_greedy_ids_matches_run_c_stdout() {
    let Some(dir) = data_dir() else { return };
    let t = Tables::from_llama2c(&std::fs::read(dir.join("tok512.bin")).unwrap());
    let tok = Tokenizer::Bpe(t.vocab());
    let ids: Vec<u32> = std::fs::read_to_string(dir.join("expected/greedy_ids_noprompt_n256.txt"))
        .unwrap()
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 256);
    let expected = std::fs::read(dir.join("expected/run_c_t0_n256_noprompt.stdout.txt")).unwrap();

    let mut stdout = Vec::new();
    let mut prev = 1; // BOS
    for &next in &ids {
        if next == 1 {
            break;
        }
        stdout.extend_from_slice(tok.decode(prev, next).printable());
        prev = next;
    }
    stdout.push(b'\n'); // run.c's printf("\n") after the loop
    assert_eq!(String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&expected));
    assert_eq!(stdout, expected);
    // The first token is " Once" with its space stripped after BOS; 13 (<0x0A>) prints a newline.
    assert!(expected.starts_with(b"Once upon a time"));
    assert!(ids.contains(&13) && expected[..expected.len() - 1].contains(&b'\n'));
}

#[test]
fn bytes_tokenizer() {
    let tok = Tokenizer::Bytes;
    let mut out = [0u32; 3];
    assert_eq!(tok.encode(b"\x00\xff", true, true, &mut out), Ok(2));
    assert_eq!(out[..2], [0, 255]);
    assert_eq!(
        tok.encode(b"abcd", false, false, &mut out),
        Err(TokenizerError::OutputTooSmall { needed_at_least: 4, have: 3 })
    );
    assert_eq!(tok.decode(0, 0xE9).as_bytes(), &[0xE9]);
    assert_eq!((tok.bos(), tok.vocab_size()), (None, 256));
}
