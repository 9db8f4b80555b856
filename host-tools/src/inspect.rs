//! `glmix inspect`: what a model file holds and what it costs.

use std::fmt::Write;

use anyhow::Result;
use glmix::format::{Classifier, Form, Positional, TokenizerKind};
use glmix::plan::Plan;
use glmix::Model;

/// A human-readable description of the model in `bytes`, with the memory plan for `context` tokens.
pub fn describe(bytes: &[u8], context: u32) -> Result<String> {
    let model = Model::parse(bytes)?;
    let c = model.config();
    let mut out = String::new();
    let positional = match c.positional {
        Positional::None => "none".to_string(),
        Positional::RopeInterleaved => format!("rope_interleaved (theta {})", c.rope_theta),
        Positional::RopeHalf => format!("rope_half (theta {})", c.rope_theta),
    };
    let version = bytes.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()).map_or(0, u32::from_le_bytes);
    writeln!(out, "glmix model, format version {version}")?;
    writeln!(
        out,
        "  dim {}  hidden {}  layers {}  vocab {}  trained context {}",
        c.dim, c.hidden_dim, c.n_layers, c.vocab_size, c.max_context
    )?;
    writeln!(
        out,
        "  norm {} (eps {:e}){}  positional {}  mlp {}  classifier {}",
        c.norm.name(),
        c.norm_eps,
        if c.emb_norm { "  embedding normed" } else { "" },
        positional,
        c.mlp.name(),
        match c.classifier {
            Classifier::Tied => "tied to embedding",
            Classifier::Separate => "separate",
        }
    )?;
    writeln!(
        out,
        "  tokenizer {}",
        match c.tokenizer {
            TokenizerKind::None => "none (token ids only)".to_string(),
            TokenizerKind::Bytes => "bytes".to_string(),
            TokenizerKind::Bpe => format!("bpe ({} pieces, bos {}, eos {})", c.vocab_size, c.bos, c.eos),
        }
    )?;
    writeln!(out, "\nlayers:")?;
    writeln!(
        out,
        "  {:>5}  {:<22} {:<12} {:>6} {:>9} {:>9}  options",
        "layer", "pattern", "form", "heads", "kv heads", "head dim"
    )?;
    for (l, m) in model.mixers().iter().enumerate() {
        write!(
            out,
            "  {:>5}  {:<22} {:<12} {:>6} {:>9} {:>9}  {}",
            l,
            format!("{:?}", m.pattern),
            m.form.name(),
            m.n_heads,
            m.n_kv_heads,
            m.head_dim,
            if m.level_aware { "level_aware" } else { "-" }
        )?;
        if m.form == Form::Rwkv7 {
            let [w, a, v, g] = m.lora;
            write!(out, "  LoRA w {w} a {a} v {v} g {g}, group-norm eps {:e}", m.group_norm_eps)?;
        }
        writeln!(out)?;
    }
    writeln!(out, "\ntensors:")?;
    writeln!(out, "  {:<36} {:>6} {:>14} {:>10}", "name", "dtype", "shape", "bytes")?;
    for i in 0..model.n_tensors() {
        if let Some(e) = model.entry(i as u16) {
            let (r, cols) = e.rows_cols();
            let shape = if e.n_dims == 1 { cols.to_string() } else { format!("{r}x{cols}") };
            let dtype = e.dtype().map_or("?", |d| d.name());
            writeln!(out, "  {:<36} {:>6} {:>14} {:>10}", e.name(), dtype, shape, e.len)?;
        }
    }
    writeln!(out, "\nflash: {} bytes (the whole file)", model.flash_bytes())?;
    let plan = Plan::new(&model, context);
    writeln!(out, "\nmemory plan for a context of {context} tokens (RAM, f32 words x 4):")?;
    writeln!(out, "  {:>5}  {:>8} {:>10}", "layer", "slots", "bytes")?;
    for (l, p) in plan.layers().iter().enumerate() {
        writeln!(out, "  {:>5}  {:>8} {:>10}", l, p.slots, p.words() * 4)?;
    }
    writeln!(out, "  state (all layers): {} bytes", plan.state_bytes())?;
    writeln!(out, "  scratch:            {} bytes", plan.scratch_bytes())?;
    writeln!(out, "  total RAM:          {} bytes", plan.total_bytes())?;
    let bounded: Vec<String> = model
        .mixers()
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.pattern.is_unbounded())
        .map(|(l, _)| l.to_string())
        .collect();
    if bounded.is_empty() {
        writeln!(out, "  every layer runs in constant memory: the context is unbounded")?;
    } else {
        writeln!(
            out,
            "  layers {} serve positions 0..{context} only (context overflow is an error)",
            bounded.join(", ")
        )?;
    }
    Ok(out)
}
