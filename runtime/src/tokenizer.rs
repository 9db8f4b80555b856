//! Tokenizers: raw bytes, and llama2.c's SentencePiece-style BPE, reproduced bit for bit.
//!
//! # The BPE vocabulary
//!
//! A [`BpeVocab`] borrows four tables that live in the model file (flash), never copied:
//!
//! | table     | type      | length | meaning                                                            |
//! |-----------|-----------|--------|--------------------------------------------------------------------|
//! | `scores`  | `[f32]`   | `n`    | merge score of token `i` (higher merges first)                     |
//! | `offsets` | `[u32]`   | `n+1`  | token `i`'s piece is `pieces[offsets[i]..offsets[i+1]]`            |
//! | `sorted`  | `[u32]`   | `n`    | all ids, ordered by piece bytes (lexicographic), ties: smaller id |
//! | `pieces`  | `[u8]`    | any    | the concatenated piece bytes                                       |
//!
//! [`BpeVocab::new`] checks every invariant once (lengths, offsets in range and non-decreasing,
//! `sorted` a permutation in `(piece, id)` order, pieces at most `max_token_len` bytes and free of NUL),
//! so that afterwards every accessor is infallible and nothing can panic.
//!
//! # Encoding (llama2.c `encode`)
//!
//! 1. BOS if asked.
//! 2. If the text is non-empty, the "dummy prefix": the token whose piece is `" "`.
//! 3. The text is cut into UTF-8 code points the way run.c does it: a group is one byte followed by at
//!    most three continuation bytes (`10xxxxxx`); nothing else is checked, so invalid UTF-8 simply makes
//!    other groups. A group found in the vocabulary becomes its token; otherwise each of its bytes
//!    becomes the byte-fallback token `byte + 3` (`<0x00>` is token 3).
//! 4. Repeatedly, the adjacent pair whose concatenated piece is in the vocabulary with the highest
//!    score is merged (first pair on ties; scores must beat `-1e10` as in run.c). The pass runs over
//!    every token, BOS included, exactly as run.c does.
//! 5. EOS if asked.
//!
//! Everything happens in place in the caller's `out` buffer; pair look-ups compare `a ++ b` against the
//! candidates without building the concatenation.
//!
//! # Decoding (llama2.c `decode` + `safe_printf`)
//!
//! [`Tokenizer::decode`] returns a [`Piece`]: after BOS one leading space is stripped, and a piece
//! `<0xXX>` stands for the raw byte `XX`. [`Piece::printable`] applies run.c's `safe_printf` filter
//! (a one-byte piece is printed only if it is `isprint` or `isspace` in the C locale).
//!
//! # Differences from run.c (only where run.c is undefined)
//!
//! * run.c receives C strings, so its text never contains NUL; here a NUL byte is an ordinary byte
//!   (byte fallback token 3). Pieces may not contain NUL (run.c would truncate them).
//! * run.c would write `-1` or an out-of-range id when `" "` is missing or `byte + 3 >= n`; here these are
//!   errors ([`TokenizerError::NoDummyPrefix`], [`TokenizerError::ByteFallbackOutOfRange`]).
//! * Duplicate pieces: run.c's `bsearch` may return any of them; here the smallest id wins (the
//!   stories260K vocabulary has no duplicates).

use core::cmp::Ordering;

/// Errors of vocabulary validation and encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TokenizerError {
    /// The vocabulary has no tokens, or more than `u32::MAX`.
    BadVocabSize {
        /// Number of scores given.
        n: usize,
    },
    /// `offsets` must have `n + 1` entries.
    OffsetsLength {
        /// `n + 1`.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// `sorted` must have `n` entries.
    SortedLength {
        /// `n`.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// `offsets[id + 1] < offsets[id]`.
    OffsetsDecreasing {
        /// The token whose end offset is below its start.
        id: u32,
    },
    /// The last offset lies past the end of `pieces`.
    OffsetOutOfRange {
        /// The last offset.
        offset: u32,
        /// Length of `pieces`.
        pieces_len: usize,
    },
    /// A piece is longer than `max_token_len`.
    PieceTooLong {
        /// The token.
        id: u32,
        /// Its piece length.
        len: usize,
        /// The declared maximum.
        max_token_len: u32,
    },
    /// A piece contains a NUL byte (run.c handles pieces as C strings).
    PieceContainsNul {
        /// The token.
        id: u32,
    },
    /// `sorted[position]` is not a valid token id.
    SortedIdOutOfRange {
        /// Index into `sorted`.
        position: usize,
        /// The id found there.
        id: u32,
        /// Vocabulary size.
        n: u32,
    },
    /// `sorted[position - 1]` and `sorted[position]` are not in strictly increasing `(piece, id)` order
    /// (also catches repeated ids).
    SortedOutOfOrder {
        /// Index into `sorted`.
        position: usize,
    },
    /// The BOS or EOS id is not below `n`.
    SpecialTokenOutOfRange {
        /// The offending id.
        id: u32,
        /// Vocabulary size.
        n: u32,
    },
    /// The output buffer is too small. For BPE, `text.len() + 3` always suffices.
    OutputTooSmall {
        /// Slots the encoder needed (the working set before merging, plus EOS).
        needed_at_least: usize,
        /// `out.len()`.
        have: usize,
    },
    /// Non-empty text needs the dummy-prefix token `" "`, and the vocabulary has none.
    NoDummyPrefix,
    /// A byte needed the fallback token `byte + 3`, which is not below `n`.
    ByteFallbackOutOfRange {
        /// The byte.
        byte: u8,
        /// Vocabulary size.
        n: u32,
    },
}

impl core::fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::BadVocabSize { n } => write!(f, "vocabulary size {n} is not in 1..=u32::MAX"),
            Self::OffsetsLength { expected, got } => {
                write!(f, "offsets has {got} entries, expected n + 1 = {expected}")
            }
            Self::SortedLength { expected, got } => {
                write!(f, "sorted has {got} entries, expected n = {expected}")
            }
            Self::OffsetsDecreasing { id } => write!(f, "offsets decrease at token {id}"),
            Self::OffsetOutOfRange { offset, pieces_len } => {
                write!(f, "offset {offset} is past the {pieces_len} piece bytes")
            }
            Self::PieceTooLong { id, len, max_token_len } => {
                write!(f, "token {id} has {len} bytes, more than max_token_len {max_token_len}")
            }
            Self::PieceContainsNul { id } => write!(f, "token {id}'s piece contains a NUL byte"),
            Self::SortedIdOutOfRange { position, id, n } => {
                write!(f, "sorted[{position}] = {id} is not below the vocabulary size {n}")
            }
            Self::SortedOutOfOrder { position } => {
                write!(f, "sorted[{position}] is not after sorted[{position} - 1] in (piece, id) order")
            }
            Self::SpecialTokenOutOfRange { id, n } => {
                write!(f, "special token {id} is not below the vocabulary size {n}")
            }
            Self::OutputTooSmall { needed_at_least, have } => write!(
                f,
                "token buffer too small: need at least {needed_at_least}, have {have} (text.len() + 3 always suffices)"
            ),
            Self::NoDummyPrefix => write!(f, "the vocabulary has no \" \" token for the dummy prefix"),
            Self::ByteFallbackOutOfRange { byte, n } => {
                write!(f, "byte {byte:#04x} needs fallback token byte + 3, not below vocabulary size {n}")
            }
        }
    }
}

impl core::error::Error for TokenizerError {}

/// Score a merge must beat, as run.c's `best_score = -1e10`.
const MERGE_SCORE_FLOOR: f32 = -1e10;

/// Id of the first byte-fallback token (`<0x00>`): ids 0, 1, 2 are `<unk>`, BOS, EOS.
const BYTE_FALLBACK_BASE: u32 = 3;

/// A validated llama2.c BPE vocabulary, borrowed from the model file.
#[derive(Clone, Copy, Debug)]
pub struct BpeVocab<'a> {
    scores: &'a [f32],  // [n]
    offsets: &'a [u32], // [n + 1]
    sorted: &'a [u32],  // [n]
    pieces: &'a [u8],   // [offsets[n]..]
    max_token_len: u32,
    bos: u32,
    eos: u32,
}

impl<'a> BpeVocab<'a> {
    /// Validates the tables (see the [module docs](self)); after `Ok` no accessor can fail.
    ///
    /// `bos` and `eos` are the ids encoding emits for BOS / EOS (1 and 2 in llama2.c) and `decode`
    /// strips a leading space after `bos`.
    pub fn new(
        scores: &'a [f32],
        offsets: &'a [u32],
        sorted: &'a [u32],
        pieces: &'a [u8],
        max_token_len: u32,
        bos: u32,
        eos: u32,
    ) -> Result<Self, TokenizerError> {
        let n = scores.len();
        let n32 = match u32::try_from(n) {
            Ok(v) if v > 0 => v,
            _ => return Err(TokenizerError::BadVocabSize { n }),
        };
        if offsets.len() != n + 1 {
            return Err(TokenizerError::OffsetsLength { expected: n + 1, got: offsets.len() });
        }
        if sorted.len() != n {
            return Err(TokenizerError::SortedLength { expected: n, got: sorted.len() });
        }
        for (id, w) in (0u32..).zip(offsets.windows(2)) {
            if let [start, end] = *w {
                if end < start {
                    return Err(TokenizerError::OffsetsDecreasing { id });
                }
                let len = (end - start) as usize;
                if len > max_token_len as usize {
                    return Err(TokenizerError::PieceTooLong { id, len, max_token_len });
                }
            }
        }
        if let Some(&last) = offsets.last() {
            if last as usize > pieces.len() {
                return Err(TokenizerError::OffsetOutOfRange { offset: last, pieces_len: pieces.len() });
            }
        }
        for id in [bos, eos] {
            if id >= n32 {
                return Err(TokenizerError::SpecialTokenOutOfRange { id, n: n32 });
            }
        }
        let vocab = BpeVocab { scores, offsets, sorted, pieces, max_token_len, bos, eos };
        for id in 0..n32 {
            if vocab.piece(id).contains(&0) {
                return Err(TokenizerError::PieceContainsNul { id });
            }
        }
        let mut prev: Option<u32> = None;
        for (position, &id) in sorted.iter().enumerate() {
            if id >= n32 {
                return Err(TokenizerError::SortedIdOutOfRange { position, id, n: n32 });
            }
            if let Some(p) = prev {
                let order = vocab.piece(p).cmp(vocab.piece(id)).then(p.cmp(&id));
                if order != Ordering::Less {
                    return Err(TokenizerError::SortedOutOfOrder { position });
                }
            }
            prev = Some(id);
        }
        // Strictly increasing (piece, id) pairs: no id repeats, so `sorted` is a permutation of 0..n.
        Ok(vocab)
    }

    /// Number of tokens `n`.
    pub fn len(&self) -> u32 {
        // Validated in `new`: 1 <= n <= u32::MAX.
        self.scores.len() as u32
    }

    /// Always false: a validated vocabulary has at least one token.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Longest piece, in bytes.
    pub fn max_token_len(&self) -> u32 {
        self.max_token_len
    }

    /// The BOS id.
    pub fn bos(&self) -> u32 {
        self.bos
    }

    /// The EOS id.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The piece bytes of `id` (empty for `id >= n`).
    pub fn piece(&self, id: u32) -> &'a [u8] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i.wrapping_add(1))) {
            (Some(&start), Some(&end)) => self.pieces.get(start as usize..end as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The merge score of `id` (`-inf` for `id >= n`).
    pub fn score(&self, id: u32) -> f32 {
        self.scores.get(id as usize).copied().unwrap_or(f32::NEG_INFINITY)
    }

    /// The id whose piece is exactly `bytes`; the smallest such id if several share it.
    pub fn lookup(&self, bytes: &[u8]) -> Option<u32> {
        self.lookup_by(|piece| piece.cmp(bytes))
    }

    /// The id whose piece is `a ++ b`, without building the concatenation; the smallest such id if
    /// several share it.
    pub fn lookup_concat(&self, a: &[u8], b: &[u8]) -> Option<u32> {
        if a.len() + b.len() > self.max_token_len as usize {
            return None; // every piece is at most max_token_len bytes (checked in `new`)
        }
        self.lookup_by(|piece| piece.iter().cmp(a.iter().chain(b.iter())))
    }

    /// Lower-bound binary search over `sorted`; `cmp(piece)` orders a candidate against the target.
    fn lookup_by(&self, cmp: impl Fn(&[u8]) -> Ordering) -> Option<u32> {
        let pos = self.sorted.partition_point(|&id| cmp(self.piece(id)) == Ordering::Less);
        let &id = self.sorted.get(pos)?;
        (cmp(self.piece(id)) == Ordering::Equal).then_some(id)
    }

    /// llama2.c's `encode`; see [`Tokenizer::encode`].
    fn encode(&self, text: &[u8], bos: bool, eos: bool, out: &mut [u32]) -> Result<usize, TokenizerError> {
        let have = out.len();
        // `count` runs on past `have` so that the error can say how much was needed.
        let mut count = 0usize;
        let mut push = |out: &mut [u32], id: u32| {
            if let Some(slot) = out.get_mut(count) {
                *slot = id;
            }
            count += 1;
        };
        if bos {
            push(out, self.bos);
        }
        if !text.is_empty() {
            push(out, self.lookup(b" ").ok_or(TokenizerError::NoDummyPrefix)?);
        }
        let mut rest = text;
        while !rest.is_empty() {
            // One code point as run.c groups it: any byte, then up to 3 continuation bytes.
            let conts = rest.iter().skip(1).take(3).take_while(|&&c| c & 0xC0 == 0x80).count();
            let (group, tail) = rest.split_at((1 + conts).min(rest.len()));
            rest = tail;
            if let Some(id) = self.lookup(group) {
                push(out, id);
            } else {
                for &byte in group {
                    let id = BYTE_FALLBACK_BASE + u32::from(byte);
                    if id >= self.len() {
                        return Err(TokenizerError::ByteFallbackOutOfRange { byte, n: self.len() });
                    }
                    push(out, id);
                }
            }
        }
        let needed = count + usize::from(eos);
        if needed > have {
            return Err(TokenizerError::OutputTooSmall { needed_at_least: needed, have });
        }

        let mut n = count;
        while let Some(tokens) = out.get_mut(..n) {
            // Find the best adjacent merge: highest score, first pair on ties (strict `>`).
            let mut best_score = MERGE_SCORE_FLOOR;
            let mut best: Option<(usize, u32)> = None;
            for (i, w) in tokens.windows(2).enumerate() {
                if let [a, b] = *w {
                    if let Some(id) = self.lookup_concat(self.piece(a), self.piece(b)) {
                        let score = self.score(id);
                        if score > best_score {
                            best_score = score;
                            best = Some((i, id));
                        }
                    }
                }
            }
            let Some((i, id)) = best else { break };
            // tokens[i] = id; delete tokens[i + 1] by shifting the tail left.
            if let Some(slot) = tokens.get_mut(i) {
                *slot = id;
            }
            if let Some(tail) = tokens.get_mut(i + 1..) {
                let k = tail.len().min(1);
                tail.rotate_left(k);
            }
            n -= 1;
        }

        if eos {
            if let Some(slot) = out.get_mut(n) {
                *slot = self.eos;
            }
            n += 1;
        }
        Ok(n)
    }

    /// llama2.c's `decode`; see [`Tokenizer::decode`].
    fn decode(&self, prev: u32, token: u32) -> Piece<'a> {
        let mut piece = self.piece(token);
        if prev == self.bos {
            if let Some(rest) = piece.strip_prefix(b" ") {
                piece = rest;
            }
        }
        match parse_byte_piece(piece) {
            Some(byte) => Piece(PieceKind::Byte(byte)),
            None => Piece(PieceKind::Text(piece)),
        }
    }
}

/// run.c's `sscanf(piece, "<0x%02hhX>", &byte) == 1`: the prefix `<0x`, optional C whitespace, then
/// one or two hex digits (either case); whatever follows is ignored, as `sscanf` ignores it once the
/// conversion succeeded. (Signed or `0x`-prefixed numbers, which `%X` would also take, never occur in
/// SentencePiece vocabularies and are not recognised.)
fn parse_byte_piece(piece: &[u8]) -> Option<u8> {
    let rest = piece.strip_prefix(b"<0x")?;
    let start = rest.iter().take_while(|&&c| c_isspace(c)).count();
    let mut digits = rest.iter().skip(start).map_while(|&c| (c as char).to_digit(16)).take(2);
    let hi = digits.next()?;
    Some(match digits.next() {
        Some(lo) => (hi * 16 + lo) as u8,
        None => hi as u8,
    })
}

/// C-locale `isspace`.
fn c_isspace(c: u8) -> bool {
    c == b' ' || (0x09..=0x0D).contains(&c)
}

/// C-locale `isprint`.
fn c_isprint(c: u8) -> bool {
    (0x20..=0x7E).contains(&c)
}

/// The bytes one decoded token stands for (see [`Tokenizer::decode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece<'a>(PieceKind<'a>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceKind<'a> {
    Text(&'a [u8]),
    Byte(u8),
}

impl Piece<'static> {
    /// The empty piece.
    pub const EMPTY: Piece<'static> = Piece(PieceKind::Text(&[]));
}

impl Piece<'_> {
    /// All the bytes of the piece.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            PieceKind::Text(s) => s,
            PieceKind::Byte(b) => core::slice::from_ref(b),
        }
    }

    /// The raw byte, when the token is a byte token (`<0xXX>`, or any token of [`Tokenizer::Bytes`]).
    pub fn raw_byte(&self) -> Option<u8> {
        match self.0 {
            PieceKind::Byte(b) => Some(b),
            PieceKind::Text(_) => None,
        }
    }

    /// The bytes run.c's `safe_printf` prints: nothing for an empty piece or for a one-byte piece that
    /// is neither `isprint` nor `isspace` in the C locale (control codes, bytes >= 0x80), else
    /// [`as_bytes`](Self::as_bytes). Use this to reproduce run.c's stdout; byte-level models that
    /// emit UTF-8 one byte at a time want `as_bytes`.
    pub fn printable(&self) -> &[u8] {
        let bytes = self.as_bytes();
        match *bytes {
            [b] if !(c_isprint(b) || c_isspace(b)) => &[],
            _ => bytes,
        }
    }
}

impl AsRef<[u8]> for Piece<'_> {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// A tokenizer, as the model file selects it.
#[derive(Clone, Copy, Debug)]
pub enum Tokenizer<'a> {
    /// Token = byte value; 256 tokens, no special tokens.
    Bytes,
    /// llama2.c's BPE with byte fallback.
    Bpe(BpeVocab<'a>),
}

impl<'a> Tokenizer<'a> {
    /// Vocabulary size.
    pub fn vocab_size(&self) -> u32 {
        match self {
            Tokenizer::Bytes => 256,
            Tokenizer::Bpe(v) => v.len(),
        }
    }

    /// The BOS id a sequence starts with (`None` for [`Tokenizer::Bytes`]).
    pub fn bos(&self) -> Option<u32> {
        match self {
            Tokenizer::Bytes => None,
            Tokenizer::Bpe(v) => Some(v.bos),
        }
    }

    /// The EOS id (`None` for [`Tokenizer::Bytes`]).
    pub fn eos(&self) -> Option<u32> {
        match self {
            Tokenizer::Bytes => None,
            Tokenizer::Bpe(v) => Some(v.eos),
        }
    }

    /// Encodes `text` into `out`, returning the number of tokens written.
    ///
    /// BPE follows llama2.c's `encode` exactly (see the [module docs](self)); any bytes are accepted,
    /// including invalid UTF-8 and NUL. `out` is also the working buffer, so it must hold the tokens
    /// *before* merging: `out.len() >= text.len() + 3` (BOS, dummy prefix, one token per byte, EOS)
    /// always suffices. [`Tokenizer::Bytes`] writes one token per byte (`out.len() >= text.len()`)
    /// and ignores `bos` / `eos`, having no such tokens.
    ///
    /// ```
    /// use glmix::tokenizer::Tokenizer;
    /// let mut out = [0u32; 4];
    /// assert_eq!(Tokenizer::Bytes.encode(b"hi", true, false, &mut out), Ok(2));
    /// assert_eq!(out[..2], [104, 105]);
    /// ```
    pub fn encode(
        &self,
        text: &[u8],
        bos: bool,
        eos: bool,
        out: &mut [u32],
    ) -> Result<usize, TokenizerError> {
        match self {
            Tokenizer::Bytes => {
                let have = out.len();
                let dst = out
                    .get_mut(..text.len())
                    .ok_or(TokenizerError::OutputTooSmall { needed_at_least: text.len(), have })?;
                for (d, &b) in dst.iter_mut().zip(text) {
                    *d = u32::from(b);
                }
                Ok(text.len())
            }
            Tokenizer::Bpe(v) => v.encode(text, bos, eos, out),
        }
    }

    /// The bytes to print for `token`, which follows `prev` (llama2.c's `decode`).
    ///
    /// BPE: after BOS (`prev == bos`) one leading space is stripped; a piece `<0xXX>` is the raw byte
    /// `XX`. Pass the result's [`Piece::printable`] to the output to match run.c's stdout. Bytes: the
    /// token is the byte. Out-of-range tokens decode to the empty piece.
    pub fn decode(&self, prev: u32, token: u32) -> Piece<'a> {
        match self {
            Tokenizer::Bytes => match u8::try_from(token) {
                Ok(b) => Piece(PieceKind::Byte(b)),
                Err(_) => Piece::EMPTY,
            },
            Tokenizer::Bpe(v) => v.decode(prev, token),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny vocabulary: <unk>, BOS, EOS, 256 byte tokens, then the listed pieces.
    struct Tables {
        scores: [f32; 270],
        offsets: [u32; 271],
        sorted: [u32; 270],
        pieces: [u8; 2048],
    }

    fn tables(extra: &[(&[u8], f32)]) -> Tables {
        let mut t = Tables { scores: [0.0; 270], offsets: [0; 271], sorted: [0; 270], pieces: [0; 2048] };
        let mut all: [&[u8]; 270] = [&[]; 270];
        let mut byte_names = [[0u8; 6]; 256];
        all[0] = b"<unk>";
        all[1] = b"\n<s>\n";
        all[2] = b"\n</s>\n";
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for b in 0..256 {
            byte_names[b] = [b'<', b'0', b'x', HEX[b >> 4], HEX[b & 15], b'>'];
        }
        for b in 0..256 {
            all[3 + b] = &byte_names[b];
        }
        assert!(extra.len() <= 11);
        let mut n = 259;
        for &(p, s) in extra {
            all[n] = p;
            t.scores[n] = s;
            n += 1;
        }
        // pad to 270 with unique unused pieces
        let pads: [&[u8]; 11] = [b"~0", b"~1", b"~2", b"~3", b"~4", b"~5", b"~6", b"~7", b"~8", b"~9", b"~a"];
        let mut k = 0;
        while n < 270 {
            all[n] = pads[k];
            t.scores[n] = -1e20;
            n += 1;
            k += 1;
        }
        let mut off = 0usize;
        for (o, p) in t.offsets.iter_mut().zip(all) {
            *o = off as u32;
            t.pieces[off..off + p.len()].copy_from_slice(p);
            off += p.len();
        }
        t.offsets[270] = off as u32;
        for i in 0..270 {
            t.sorted[i] = i as u32;
        }
        t.sorted.sort_by(|&a, &b| all[a as usize].cmp(all[b as usize]).then(a.cmp(&b)));
        t
    }

    fn vocab(t: &Tables) -> BpeVocab<'_> {
        let end = t.offsets[270] as usize;
        BpeVocab::new(&t.scores, &t.offsets, &t.sorted, &t.pieces[..end], 6, 1, 2).unwrap()
    }

    #[test]
    fn merges_highest_score_first_pair_on_ties() {
        let t = tables(&[(b" ", 0.0), (b"a", 0.0), (b"b", 0.0), (b"ab", 1.0), (b" a", 2.0), (b"ba", 1.0)]);
        let v = vocab(&t);
        let tok = Tokenizer::Bpe(v);
        let mut out = [0u32; 16];
        // " a" (2.0) first, then " ab"? not in vocab; then "ba" vs ... tokens: [" a", "b", "a"] -> "ba" (1.0)
        let n = tok.encode(b"aba", false, false, &mut out).unwrap();
        assert_eq!(&out[..n], &[v.lookup(b" a").unwrap(), v.lookup(b"ba").unwrap()]);
        // ties: "abab" -> [" a","b","a","b"] -> "ba"(1.0) at 1 and "ab"? tokens after first merge:
        // [" a", "b", "a", "b"]: pairs " ab"(none) "ba"(1.0) "ab"(1.0) -> first: "ba".
        let n = tok.encode(b"abab", false, false, &mut out).unwrap();
        assert_eq!(&out[..n], &[v.lookup(b" a").unwrap(), v.lookup(b"ba").unwrap(), v.lookup(b"b").unwrap()]);
    }

    #[test]
    fn byte_fallback_and_sizes() {
        let t = tables(&[(b" ", 0.0)]);
        let tok = Tokenizer::Bpe(vocab(&t));
        let mut out = [0u32; 8];
        let n = tok.encode(&[0xE9, 0x00], true, true, &mut out).unwrap();
        assert_eq!(&out[..n], &[1, 259, 0xE9 + 3, 3, 2]);
        assert_eq!(
            tok.encode(&[0xE9, 0x00], true, true, &mut out[..4]),
            Err(TokenizerError::OutputTooSmall { needed_at_least: 5, have: 4 })
        );
        assert_eq!(tok.encode(b"", false, false, &mut []), Ok(0));
    }

    #[test]
    fn decode_rules() {
        let t = tables(&[(b" ", 0.0), (b" hi", 0.0), (b"<0x4", 0.0)]);
        let tok = Tokenizer::Bpe(vocab(&t));
        assert_eq!(tok.decode(1, 260).as_bytes(), b"hi");
        assert_eq!(tok.decode(5, 260).as_bytes(), b" hi");
        assert_eq!(tok.decode(1, 3 + 0x41).as_bytes(), b"A");
        assert_eq!(tok.decode(1, 3 + 0x41).raw_byte(), Some(0x41));
        assert_eq!(tok.decode(1, 261).raw_byte(), Some(4)); // sscanf accepts one digit
        assert_eq!(tok.decode(1, 3 + 0x07).printable(), b"");
        assert_eq!(tok.decode(1, 3 + 0x0A).printable(), b"\n");
        assert_eq!(tok.decode(1, 3 + 0xC3).printable(), b"");
        assert_eq!(tok.decode(1, 9999).as_bytes(), b"");
        assert_eq!(Tokenizer::Bytes.decode(0, 0xC3).printable(), b"");
        assert_eq!(Tokenizer::Bytes.decode(0, 0xC3).as_bytes(), &[0xC3]);
        assert_eq!(Tokenizer::Bytes.decode(0, 256), Piece::EMPTY);
    }

    #[test]
    fn validation() {
        let s = [0.0f32; 2];
        let p = b"ab";
        assert!(BpeVocab::new(&s, &[0, 1, 2], &[0, 1], p, 1, 0, 1).is_ok());
        assert_eq!(
            BpeVocab::new(&s, &[0, 1, 2], &[1, 0], p, 1, 0, 1).unwrap_err(),
            TokenizerError::SortedOutOfOrder { position: 1 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 1, 2], &[0, 0], p, 1, 0, 1).unwrap_err(),
            TokenizerError::SortedOutOfOrder { position: 1 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 2, 1], &[0, 1], p, 2, 0, 1).unwrap_err(),
            TokenizerError::OffsetsDecreasing { id: 1 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 1, 3], &[0, 1], p, 2, 0, 1).unwrap_err(),
            TokenizerError::OffsetOutOfRange { offset: 3, pieces_len: 2 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 2, 2], &[1, 0], p, 1, 0, 1).unwrap_err(),
            TokenizerError::PieceTooLong { id: 0, len: 2, max_token_len: 1 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 1, 2], &[0, 2], p, 1, 0, 1).unwrap_err(),
            TokenizerError::SortedIdOutOfRange { position: 1, id: 2, n: 2 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 1, 2], &[0, 1], b"a\0", 1, 0, 1).unwrap_err(),
            TokenizerError::PieceContainsNul { id: 1 }
        );
        assert_eq!(
            BpeVocab::new(&s, &[0, 1, 2], &[0, 1], p, 1, 0, 2).unwrap_err(),
            TokenizerError::SpecialTokenOutOfRange { id: 2, n: 2 }
        );
        assert_eq!(
            BpeVocab::new(&[], &[0], &[], p, 1, 0, 0).unwrap_err(),
            TokenizerError::BadVocabSize { n: 0 }
        );
        // Duplicates: the smallest id wins.
        let v = BpeVocab::new(&s, &[0, 1, 2], &[0, 1], b"aa", 1, 0, 1).unwrap();
        assert_eq!(v.lookup(b"a"), Some(0));
        assert_eq!(v.lookup_concat(b"a", b""), Some(0));
        assert_eq!(v.lookup(b"b"), None);
        // Missing dummy prefix and byte fallback out of range.
        assert_eq!(
            Tokenizer::Bpe(v).encode(b"a", false, false, &mut [0; 4]),
            Err(TokenizerError::NoDummyPrefix)
        );
        let v = BpeVocab::new(&s, &[0, 1, 2], &[0, 1], b" a", 1, 0, 1).unwrap();
        assert_eq!(
            Tokenizer::Bpe(v).encode(b"b", false, false, &mut [0; 4]),
            Err(TokenizerError::ByteFallbackOutOfRange { byte: b'b', n: 2 })
        );
    }

    #[test]
    fn concat_lookup_matches_plain_lookup() {
        let t = tables(&[(b" ", 0.0), (b"ab", 0.0), (b"abc", 0.0), (b"b", 0.0)]);
        let v = vocab(&t);
        for (a, b) in
            [(&b"a"[..], &b"bc"[..]), (b"ab", b"c"), (b"", b"ab"), (b"abc", b""), (b"a", b"b"), (b"ab", b"b")]
        {
            let mut buf = [0u8; 8];
            buf[..a.len()].copy_from_slice(a);
            buf[a.len()..a.len() + b.len()].copy_from_slice(b);
            assert_eq!(v.lookup_concat(a, b), v.lookup(&buf[..a.len() + b.len()]), "{a:?} {b:?}");
        }
    }
}
