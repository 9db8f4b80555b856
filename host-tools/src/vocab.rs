//! BPE vocabularies: reading llama2.c's `tokenizer.bin` and laying a vocabulary out as the four
//! `tokenizer.*` tensors of a model file.

use anyhow::{ensure, Context, Result};
use glmix::DType;

use crate::writer::TensorData;

/// A BPE vocabulary: one `(piece, score)` per token id.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    /// Pieces and merge scores, indexed by token id.
    pub tokens: Vec<(Vec<u8>, f32)>,
    /// Longest piece in bytes, as the file declares it.
    pub max_token_len: u32,
}

impl Vocab {
    /// Reads llama2.c's tokenizer format: i32 `max_token_length`, then per token f32 score, i32 length,
    /// bytes. `vocab_size` comes from the model (the file does not record it).
    pub fn read_llama2c(path: &std::path::Path, vocab_size: usize) -> Result<Vocab> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read tokenizer {}", path.display()))?;
        let mut pos = 0usize;
        let mut take = |n: usize| -> Result<&[u8]> {
            let s = bytes.get(pos..pos + n).with_context(|| {
                format!("{}: truncated at byte {pos} (is this a llama2.c tokenizer.bin?)", path.display())
            })?;
            pos += n;
            Ok(s)
        };
        let word = |s: &[u8]| [s[0], s[1], s[2], s[3]];
        let max_token_len = i32::from_le_bytes(word(take(4)?));
        ensure!(
            (1..=1024).contains(&max_token_len),
            "{}: implausible max_token_length {max_token_len}",
            path.display()
        );
        let mut tokens = Vec::with_capacity(vocab_size);
        for id in 0..vocab_size {
            let score = f32::from_le_bytes(word(take(4)?));
            let len = i32::from_le_bytes(word(take(4)?));
            ensure!(
                (0..=max_token_len).contains(&len),
                "{}: token {id} has length {len} (max_token_length is {max_token_len}): is this the llama2.c tokenizer.bin of this model?",
                path.display()
            );
            let piece = take(len as usize)?;
            ensure!(!piece.contains(&0), "{}: token {id} contains a NUL byte", path.display());
            tokens.push((piece.to_vec(), score));
        }
        ensure!(
            pos == bytes.len(),
            "{}: {} bytes left after {vocab_size} tokens: does the vocabulary size match the model?",
            path.display(),
            bytes.len() - pos
        );
        Ok(Vocab { tokens, max_token_len: max_token_len as u32 })
    }

    /// The four tensors that carry this vocabulary in a model file.
    pub fn tensors(&self) -> Vec<TensorData> {
        let n = self.tokens.len();
        let mut scores = Vec::with_capacity(4 * n);
        let mut offsets = Vec::with_capacity(4 * (n + 1));
        let mut pieces = Vec::new();
        offsets.extend_from_slice(&0u32.to_le_bytes());
        for (piece, score) in &self.tokens {
            scores.extend_from_slice(&score.to_le_bytes());
            pieces.extend_from_slice(piece);
            offsets.extend_from_slice(&(pieces.len() as u32).to_le_bytes());
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| self.tokens[a as usize].0.cmp(&self.tokens[b as usize].0).then(a.cmp(&b)));
        let sorted = order.iter().flat_map(|id| id.to_le_bytes()).collect();
        let pieces_len = pieces.len();
        vec![
            TensorData { name: "tokenizer.scores".into(), dtype: DType::F32, shape: vec![n], bytes: scores },
            TensorData {
                name: "tokenizer.offsets".into(),
                dtype: DType::U32,
                shape: vec![n + 1],
                bytes: offsets,
            },
            TensorData { name: "tokenizer.sorted".into(), dtype: DType::U32, shape: vec![n], bytes: sorted },
            TensorData {
                name: "tokenizer.pieces".into(),
                dtype: DType::U8,
                shape: vec![pieces_len],
                bytes: pieces,
            },
        ]
    }
}
