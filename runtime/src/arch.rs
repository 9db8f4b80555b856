//! The architecture table: everything that follows from a file header and its layer descriptors,
//! written once.
//!
//! - [`Config`] and [`MixerConfig`] are the typed header and layer table. [`Config::from_header`] and
//!   [`MixerConfig::from_desc`] decode them with every validity rule (dimensions, codes, heads, and
//!   which pattern x form pairs are mixers: [`is_defined`]); [`Config::header`] and
//!   [`MixerConfig::desc`] encode them back, so a writer builds its header from typed values.
//! - [`tensors`] lists the tensors a model carries, in file order: name, [`Role`], shape, allowed
//!   dtypes ([`Storage`]) and whether the file must carry it or must not.
//!
//! [`crate::Model::parse`] checks a file against this table; the host tool's `convert`,
//! `import-llama2c` and random models write from it, and a test compares the Python reference's
//! export with it (`runtime/tests/arch_table.rs`). A new form adds its code to [`Form`], its rule to
//! [`is_defined`] and its tensors to [`Role`] and [`tensors`]: nothing else describes an architecture.

use core::fmt;

use crate::format::{
    Classifier, FileHeader, Form, LayerDesc, MlpKind, NormKind, Positional, TokenizerKind, MAX_DIM,
    MAX_LAYERS,
};
use crate::model::{Field, LoadError};
use crate::pattern::Pattern;
use crate::tensor::DType;

/// The role of a tensor in the architecture (names in `docs/model-spec.md`). Per-layer roles come
/// first, in the order a layer's tensors sit in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Role {
    /// `layers.{l}.mixer_norm.weight`
    MixerNorm = 0,
    /// `layers.{l}.mixer_norm.bias` (LayerNorm)
    MixerNormBias,
    /// `layers.{l}.mixer.wq.weight` (RWKV-7: receptance)
    Wq,
    /// `layers.{l}.mixer.wk.weight`
    Wk,
    /// `layers.{l}.mixer.wv.weight`
    Wv,
    /// `layers.{l}.mixer.wo.weight`
    Wo,
    /// `layers.{l}.mixer.gamma` (chained form)
    Gamma,
    /// `layers.{l}.mixer.wd.weight` (state-space form: decay gates)
    Wd,
    /// `layers.{l}.mixer.wl.weight` (log-linear state space: level weights)
    Wl,
    /// `layers.{l}.mixer.level_bias` (level-aware coefficients: `[n_heads, L]`, [`level_biases`])
    LevelBias,
    /// `layers.{l}.mixer.wa.weight` (level-aware recurrent form: the diagonal's gate)
    Wa,
    /// `layers.{l}.mixer.wa.bias` (level-aware recurrent form: the gate's bias)
    WaBias,
    /// `layers.{l}.mixer.mix` (RWKV-7: token-shift mix of r, w, k, v, a, g, `[6][dim]`)
    Mix,
    /// `layers.{l}.mixer.w0` (RWKV-7: decay bias)
    W0,
    /// `layers.{l}.mixer.w1.weight` (RWKV-7: decay LoRA down)
    DecayDown,
    /// `layers.{l}.mixer.w2.weight` (RWKV-7: decay LoRA up)
    DecayUp,
    /// `layers.{l}.mixer.a0` (RWKV-7: learning-rate bias)
    A0,
    /// `layers.{l}.mixer.a1.weight` (RWKV-7: learning-rate LoRA down)
    RateDown,
    /// `layers.{l}.mixer.a2.weight` (RWKV-7: learning-rate LoRA up)
    RateUp,
    /// `layers.{l}.mixer.v0` (RWKV-7: value-residual bias)
    V0,
    /// `layers.{l}.mixer.v1.weight` (RWKV-7: value-residual LoRA down)
    ResidualDown,
    /// `layers.{l}.mixer.v2.weight` (RWKV-7: value-residual LoRA up)
    ResidualUp,
    /// `layers.{l}.mixer.g1.weight` (RWKV-7: gate LoRA down)
    GateDown,
    /// `layers.{l}.mixer.g2.weight` (RWKV-7: gate LoRA up)
    GateUp,
    /// `layers.{l}.mixer.k_k` (RWKV-7: key scale before the L2 norm)
    KeyNorm,
    /// `layers.{l}.mixer.k_a` (RWKV-7: key scale by the learning rate)
    KeyRate,
    /// `layers.{l}.mixer.r_k` (RWKV-7: bonus weights, `[n_heads * head_dim]`)
    Bonus,
    /// `layers.{l}.mixer.ln_x.weight` (RWKV-7: group norm)
    GroupNorm,
    /// `layers.{l}.mixer.ln_x.bias` (RWKV-7: group norm)
    GroupNormBias,
    /// `layers.{l}.mlp_norm.weight`
    MlpNorm,
    /// `layers.{l}.mlp_norm.bias` (LayerNorm)
    MlpNormBias,
    /// `layers.{l}.mlp.shift` (squared-ReLU channel mix: token-shift mix)
    MlpShift,
    /// `layers.{l}.mlp.w1.weight`
    W1,
    /// `layers.{l}.mlp.w2.weight`
    W2,
    /// `layers.{l}.mlp.w3.weight` (SwiGLU)
    W3,
    /// `tok_embeddings.weight`
    TokEmbeddings,
    /// `emb_norm.weight` (normed embedding: RWKV's ln0)
    EmbNorm,
    /// `emb_norm.bias` (normed embedding, LayerNorm)
    EmbNormBias,
    /// `norm.weight`
    Norm,
    /// `norm.bias` (LayerNorm)
    NormBias,
    /// `output.weight` (separate classifier)
    Output,
    /// `tokenizer.scores`
    TokScores,
    /// `tokenizer.offsets`
    TokOffsets,
    /// `tokenizer.sorted`
    TokSorted,
    /// `tokenizer.pieces`
    TokPieces,
}

/// Number of per-layer roles.
pub const LAYER_ROLES: usize = 35;
/// Number of model-level roles.
pub const GLOBAL_ROLES: usize = 10;

/// Per-layer roles in file order.
pub const LAYER_ROLE_LIST: [Role; LAYER_ROLES] = [
    Role::MixerNorm,
    Role::MixerNormBias,
    Role::Wq,
    Role::Wk,
    Role::Wv,
    Role::Wo,
    Role::Gamma,
    Role::Wd,
    Role::Wl,
    Role::LevelBias,
    Role::Wa,
    Role::WaBias,
    Role::Mix,
    Role::W0,
    Role::DecayDown,
    Role::DecayUp,
    Role::A0,
    Role::RateDown,
    Role::RateUp,
    Role::V0,
    Role::ResidualDown,
    Role::ResidualUp,
    Role::GateDown,
    Role::GateUp,
    Role::KeyNorm,
    Role::KeyRate,
    Role::Bonus,
    Role::GroupNorm,
    Role::GroupNormBias,
    Role::MlpNorm,
    Role::MlpNormBias,
    Role::MlpShift,
    Role::W1,
    Role::W2,
    Role::W3,
];

/// Model-level roles; a file holds the embedding (and its norm) first, then the layers, then the rest
/// in this order.
pub const GLOBAL_ROLE_LIST: [Role; GLOBAL_ROLES] = [
    Role::TokEmbeddings,
    Role::EmbNorm,
    Role::EmbNormBias,
    Role::Norm,
    Role::NormBias,
    Role::Output,
    Role::TokScores,
    Role::TokOffsets,
    Role::TokSorted,
    Role::TokPieces,
];

/// Which dtypes a tensor accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Storage {
    /// Always `f32` (norm weights, gains, tokenizer scores): kept exact whatever the quantization.
    F32,
    /// Any weight dtype ([`DType::is_weight`]): what a conversion quantizes.
    Weight,
    /// `u32` (tokenizer tables).
    U32,
    /// `u8` (tokenizer pieces).
    U8,
}

impl Storage {
    /// True if a tensor of this storage may be stored as `dtype`.
    pub const fn allows(self, dtype: DType) -> bool {
        match self {
            Storage::F32 => matches!(dtype, DType::F32),
            Storage::Weight => dtype.is_weight(),
            Storage::U32 => matches!(dtype, DType::U32),
            Storage::U8 => matches!(dtype, DType::U8),
        }
    }
}

impl Role {
    /// The tensor name of this role (for per-layer roles, the part after `layers.{l}.`).
    pub const fn name(self) -> &'static str {
        match self {
            Role::MixerNorm => "mixer_norm.weight",
            Role::MixerNormBias => "mixer_norm.bias",
            Role::Wq => "mixer.wq.weight",
            Role::Wk => "mixer.wk.weight",
            Role::Wv => "mixer.wv.weight",
            Role::Wo => "mixer.wo.weight",
            Role::Gamma => "mixer.gamma",
            Role::Wd => "mixer.wd.weight",
            Role::Wl => "mixer.wl.weight",
            Role::LevelBias => "mixer.level_bias",
            Role::Wa => "mixer.wa.weight",
            Role::WaBias => "mixer.wa.bias",
            Role::Mix => "mixer.mix",
            Role::W0 => "mixer.w0",
            Role::DecayDown => "mixer.w1.weight",
            Role::DecayUp => "mixer.w2.weight",
            Role::A0 => "mixer.a0",
            Role::RateDown => "mixer.a1.weight",
            Role::RateUp => "mixer.a2.weight",
            Role::V0 => "mixer.v0",
            Role::ResidualDown => "mixer.v1.weight",
            Role::ResidualUp => "mixer.v2.weight",
            Role::GateDown => "mixer.g1.weight",
            Role::GateUp => "mixer.g2.weight",
            Role::KeyNorm => "mixer.k_k",
            Role::KeyRate => "mixer.k_a",
            Role::Bonus => "mixer.r_k",
            Role::GroupNorm => "mixer.ln_x.weight",
            Role::GroupNormBias => "mixer.ln_x.bias",
            Role::MlpNorm => "mlp_norm.weight",
            Role::MlpNormBias => "mlp_norm.bias",
            Role::MlpShift => "mlp.shift",
            Role::W1 => "mlp.w1.weight",
            Role::W2 => "mlp.w2.weight",
            Role::W3 => "mlp.w3.weight",
            Role::TokEmbeddings => "tok_embeddings.weight",
            Role::EmbNorm => "emb_norm.weight",
            Role::EmbNormBias => "emb_norm.bias",
            Role::Norm => "norm.weight",
            Role::NormBias => "norm.bias",
            Role::Output => "output.weight",
            Role::TokScores => "tokenizer.scores",
            Role::TokOffsets => "tokenizer.offsets",
            Role::TokSorted => "tokenizer.sorted",
            Role::TokPieces => "tokenizer.pieces",
        }
    }

    /// The dtypes this role accepts.
    pub const fn storage(self) -> Storage {
        match self {
            Role::MixerNorm
            | Role::MixerNormBias
            | Role::Gamma
            | Role::LevelBias
            | Role::WaBias
            | Role::Mix
            | Role::W0
            | Role::A0
            | Role::V0
            | Role::KeyNorm
            | Role::KeyRate
            | Role::Bonus
            | Role::GroupNorm
            | Role::GroupNormBias
            | Role::MlpNorm
            | Role::MlpNormBias
            | Role::MlpShift
            | Role::EmbNorm
            | Role::EmbNormBias
            | Role::Norm
            | Role::NormBias
            | Role::TokScores => Storage::F32,
            Role::TokOffsets | Role::TokSorted => Storage::U32,
            Role::TokPieces => Storage::U8,
            _ => Storage::Weight,
        }
    }

    /// The dtype a writer stores this role in when weights are quantized to `quant`.
    pub const fn stored_as(self, quant: DType) -> DType {
        match self.storage() {
            Storage::Weight => quant,
            Storage::F32 => DType::F32,
            Storage::U32 => DType::U32,
            Storage::U8 => DType::U8,
        }
    }

    /// True for the roles a layer has (named `layers.{l}.*`).
    pub const fn is_layer(self) -> bool {
        (self as usize) < LAYER_ROLES
    }

    /// True for the roles stored as one-dimensional tensors `[n]` (norm weights and biases, gains,
    /// RWKV-7's per-channel vectors, tokenizer tables); matrices are `[rows, cols]` (the weights, the
    /// `f32` level biases and RWKV-7's `f32` `mixer.mix`). The file compares both as `(rows, cols)`, a
    /// vector being one row.
    pub const fn is_vector(self) -> bool {
        !matches!(self.storage(), Storage::Weight) && !matches!(self, Role::LevelBias | Role::Mix)
    }

    /// True for the tokenizer's tables (written from the vocabulary, not from a checkpoint).
    pub const fn is_tokenizer(self) -> bool {
        matches!(self, Role::TokScores | Role::TokOffsets | Role::TokSorted | Role::TokPieces)
    }

    /// Index among the per-layer roles (`self as usize`) or among the global ones.
    pub(crate) const fn slot(self) -> usize {
        if self.is_layer() {
            self as usize
        } else {
            self as usize - LAYER_ROLES
        }
    }

    /// Parses `layers.{l}.<suffix>` (with `l < n_layers`, no leading zeros) or a model-level name.
    pub fn from_name(name: &str, n_layers: usize) -> Option<(Option<usize>, Role)> {
        if let Some(rest) = name.strip_prefix("layers.") {
            let (num, suffix) = rest.split_once('.')?;
            if num.is_empty() || (num.len() > 1 && num.starts_with('0')) {
                return None;
            }
            let layer: usize = num.parse().ok()?;
            if layer >= n_layers {
                return None;
            }
            let role = LAYER_ROLE_LIST.into_iter().find(|r| r.name() == suffix)?;
            return Some((Some(layer), role));
        }
        GLOBAL_ROLE_LIST.into_iter().find(|r| r.name() == name).map(|r| (None, r))
    }
}

/// Model-wide configuration, decoded from the header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// Model width.
    pub dim: usize,
    /// MLP hidden width.
    pub hidden_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Number of layers.
    pub n_layers: usize,
    /// Context the model was trained at.
    pub max_context: usize,
    /// Norm kind.
    pub norm: NormKind,
    /// Norm epsilon.
    pub norm_eps: f32,
    /// Positional encoding.
    pub positional: Positional,
    /// RoPE base.
    pub rope_theta: f32,
    /// MLP kind.
    pub mlp: MlpKind,
    /// Tied or separate classifier.
    pub classifier: Classifier,
    /// Tokenizer kind.
    pub tokenizer: TokenizerKind,
    /// The embedding is normed before the first layer (`emb_norm.*`; RWKV's ln0).
    pub emb_norm: bool,
    /// BOS token id (BPE).
    pub bos: u32,
    /// EOS token id (BPE).
    pub eos: u32,
    /// Longest tokenizer piece (BPE).
    pub max_token_len: u32,
}

/// One layer's token mixer configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixerConfig {
    /// Which past positions each step reads.
    pub pattern: Pattern,
    /// How the coefficients are computed.
    pub form: Form,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Level-aware coefficients ([`is_level_aware_defined`], [`crate::mixer::attention`]).
    pub level_aware: bool,
    /// RWKV-7's LoRA ranks `[w, a, v, g]` ([`LORA_W`] ...; all zero for other forms). A zero `v` rank
    /// means the layer has no value residual: it sets the step's first value (RWKV-7's layer 0).
    pub lora: [usize; 4],
    /// RWKV-7's group-norm epsilon (zero for other forms).
    pub group_norm_eps: f32,
}

/// Index of the decay LoRA's rank in [`MixerConfig::lora`].
pub const LORA_W: usize = 0;
/// Index of the in-context learning rate LoRA's rank.
pub const LORA_A: usize = 1;
/// Index of the value-residual LoRA's rank.
pub const LORA_V: usize = 2;
/// Index of the output-gate LoRA's rank.
pub const LORA_G: usize = 3;

impl MixerConfig {
    /// A layer of `form` on `pattern` with `n_heads` heads of `head_dim` (and as many key/value
    /// heads), no LoRA ranks.
    pub const fn new(pattern: Pattern, form: Form, n_heads: usize, head_dim: usize) -> MixerConfig {
        MixerConfig {
            pattern,
            form,
            n_heads,
            n_kv_heads: n_heads,
            head_dim,
            level_aware: false,
            lora: [0; 4],
            group_norm_eps: 0.0,
        }
    }
}

/// True if `pattern` x `form` is a mixer this runtime defines: every form runs on every pattern,
/// except the state space, which runs on `order 1` (one matrix) and `pow2_lattice` (log-linear, one
/// matrix per level, [`crate::loglinear`]) only.
pub const fn is_defined(pattern: Pattern, form: Form) -> bool {
    match form {
        Form::StateSpace => {
            matches!(pattern, Pattern::Order(1)) || crate::loglinear::is_loglinear(pattern, form)
        }
        Form::Rwkv7 => matches!(pattern, Pattern::Order(1)),
        Form::Attention | Form::Recurrent | Form::Chained => true,
    }
}

/// [`is_defined`]'s rule in words, for error messages.
pub const DEFINED_RULE: &str =
    "state_space is defined on pattern order 1 (param 1) and pow2_lattice only, rwkv7 on order 1 only";

/// True if `pattern` x `form` may have level-aware coefficients (a bias per head and level on the read
/// scores; the recurrent form also gates its diagonal, [`crate::mixer::attention`]): the recurrent and
/// chained forms, on every pattern whose reads have a rank of their own, that is every pattern but
/// dense (whose `L` would be the whole context). The level of a read is its rank by recency in R(t).
pub const fn is_level_aware_defined(pattern: Pattern, form: Form) -> bool {
    matches!(form, Form::Recurrent | Form::Chained) && !matches!(pattern, Pattern::Dense)
}

/// [`is_level_aware_defined`]'s rule in words, for error messages.
pub const LEVEL_AWARE_RULE: &str =
    "level_aware is defined for the recurrent and chained forms on every pattern but dense";

/// `L`, the level biases per head of a level-aware layer in a file trained at `max_context`: one per
/// level a step can read plus one, `Pattern::max_reads(max_context) + 1` (the Python reference's
/// `n_level_weights`: `cap + 1` when capped, `w + 1` for window and order). Levels `>= L - 1` share
/// bias `L - 1`.
pub const fn level_biases(pattern: Pattern, max_context: u32) -> usize {
    pattern.max_reads(max_context) as usize + 1
}

fn check_dim(field: Field, value: u32) -> Result<usize, LoadError> {
    if value == 0 || value > MAX_DIM {
        return Err(LoadError::BadDimension { field, value });
    }
    Ok(value as usize)
}

fn saturate(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

impl Config {
    /// Decodes and validates the header's model fields (counts and codes; not the file's length,
    /// checksum or tensor count, which [`crate::Model::parse`] checks).
    pub fn from_header(h: &FileHeader) -> Result<Config, LoadError> {
        if h.n_layers == 0 || h.n_layers as usize > MAX_LAYERS {
            return Err(LoadError::BadLayerCount { n_layers: h.n_layers });
        }
        let positional =
            Positional::from_code(h.positional).ok_or(LoadError::UnknownPositional { code: h.positional })?;
        let eps_ok = h.norm_eps.is_finite() && h.norm_eps > 0.0;
        if !eps_ok {
            return Err(LoadError::BadDimension { field: Field::NormEps, value: h.norm_eps.to_bits() });
        }
        if positional != Positional::None && !(h.rope_theta.is_finite() && h.rope_theta > 0.0) {
            return Err(LoadError::BadDimension { field: Field::RopeTheta, value: h.rope_theta.to_bits() });
        }
        Ok(Config {
            dim: check_dim(Field::Dim, h.dim)?,
            hidden_dim: check_dim(Field::HiddenDim, h.hidden_dim)?,
            vocab_size: check_dim(Field::VocabSize, h.vocab_size)?,
            n_layers: h.n_layers as usize,
            max_context: check_dim(Field::MaxContext, h.max_context)?,
            norm: NormKind::from_code(h.norm).ok_or(LoadError::UnknownNorm { code: h.norm })?,
            norm_eps: h.norm_eps,
            positional,
            rope_theta: h.rope_theta,
            mlp: MlpKind::from_code(h.mlp).ok_or(LoadError::UnknownMlp { code: h.mlp })?,
            classifier: Classifier::from_code(h.classifier)
                .ok_or(LoadError::UnknownClassifier { code: h.classifier })?,
            tokenizer: TokenizerKind::from_code(h.tokenizer)
                .ok_or(LoadError::UnknownTokenizer { code: h.tokenizer })?,
            emb_norm: match h.emb_norm {
                0 => false,
                1 => true,
                code => return Err(LoadError::UnknownEmbNorm { code }),
            },
            bos: h.bos,
            eos: h.eos,
            max_token_len: h.max_token_len,
        })
    }

    /// The header this configuration is read from; `file_len`, `checksum` and `n_tensors` are zero
    /// (the writer fills them in). Sizes above `u32::MAX` saturate (and then fail [`Self::from_header`]).
    pub fn header(&self) -> FileHeader {
        FileHeader {
            magic: crate::format::MAGIC,
            version: crate::format::VERSION,
            file_len: 0,
            checksum: 0,
            n_layers: saturate(self.n_layers),
            n_tensors: 0,
            dim: saturate(self.dim),
            hidden_dim: saturate(self.hidden_dim),
            vocab_size: saturate(self.vocab_size),
            max_context: saturate(self.max_context),
            norm_eps: self.norm_eps,
            rope_theta: self.rope_theta,
            norm: self.norm as u8,
            positional: self.positional as u8,
            mlp: self.mlp as u8,
            classifier: self.classifier as u8,
            tokenizer: self.tokenizer as u8,
            emb_norm: self.emb_norm as u8,
            bos: self.bos,
            eos: self.eos,
            max_token_len: self.max_token_len,
        }
    }
}

impl MixerConfig {
    /// Width of all query heads together.
    pub const fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }
    /// Width of all key/value heads together.
    pub const fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
    /// True for the log-linear state space (one matrix per lattice level; [`crate::loglinear`]).
    pub const fn is_loglinear(&self) -> bool {
        crate::loglinear::is_loglinear(self.pattern, self.form)
    }

    /// Decodes and validates layer `layer`'s descriptor under the model's positional encoding.
    pub fn from_desc(layer: u16, d: &LayerDesc, positional: Positional) -> Result<MixerConfig, LoadError> {
        let unknown = LoadError::UnknownPattern { layer, code: d.pattern, param: d.param };
        let pattern = Pattern::from_code(d.pattern, d.param).ok_or(unknown)?;
        if matches!(pattern, Pattern::Window(0) | Pattern::Order(0)) || d.param > MAX_DIM {
            return Err(unknown);
        }
        let form = Form::from_code(d.form).ok_or(LoadError::UnknownForm { layer, code: d.form })?;
        let (n_heads, n_kv_heads, head_dim) =
            (d.n_heads as usize, d.n_kv_heads as usize, d.head_dim as usize);
        let bad = LoadError::BadHeads { layer };
        if n_heads == 0 || n_kv_heads == 0 || head_dim == 0 || n_heads % n_kv_heads != 0 {
            return Err(bad);
        }
        // Grouped queries share keys and values; only attention reads them that way.
        if form != Form::Attention && n_kv_heads != n_heads {
            return Err(bad);
        }
        if !is_defined(pattern, form) {
            return Err(LoadError::UndefinedMixer { layer, pattern: d.pattern, form: d.form });
        }
        if d.flags & !crate::format::LAYER_LEVEL_AWARE != 0 {
            return Err(LoadError::UnknownLayerFlags { layer, flags: d.flags });
        }
        let level_aware = d.flags & crate::format::LAYER_LEVEL_AWARE != 0;
        if level_aware && !is_level_aware_defined(pattern, form) {
            return Err(LoadError::UndefinedLevelAware { layer });
        }
        if positional != Positional::None && head_dim % 2 != 0 {
            return Err(bad);
        }
        let lora = d.lora.map(usize::from);
        let eps = d.group_norm_eps;
        let low_rank = LoadError::BadLowRank { layer };
        if form == Form::Rwkv7 {
            let ranks = [lora[LORA_W], lora[LORA_A], lora[LORA_G]];
            if ranks.contains(&0) || !(eps.is_finite() && eps > 0.0) {
                return Err(low_rank);
            }
        } else if lora != [0; 4] || eps.to_bits() != 0 {
            return Err(low_rank);
        }
        Ok(MixerConfig {
            pattern,
            form,
            n_heads,
            n_kv_heads,
            head_dim,
            level_aware,
            lora,
            group_norm_eps: eps,
        })
    }

    /// The layer descriptor this configuration is read from (head counts above `u16::MAX` saturate).
    pub fn desc(&self) -> LayerDesc {
        let narrow = |n: usize| n.min(u16::MAX as usize) as u16;
        LayerDesc {
            pattern: self.pattern.code(),
            form: self.form as u8,
            flags: if self.level_aware { crate::format::LAYER_LEVEL_AWARE } else { 0 },
            param: self.pattern.param(),
            n_heads: narrow(self.n_heads),
            n_kv_heads: narrow(self.n_kv_heads),
            head_dim: narrow(self.head_dim),
            lora: self.lora.map(narrow),
            group_norm_eps: self.group_norm_eps,
        }
    }
}

/// One tensor of an architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The layer (`None` for a model-level tensor).
    pub layer: Option<usize>,
    /// What it is.
    pub role: Role,
    /// True if the file must carry it; false if it must not.
    pub required: bool,
    /// Rows (1 for a vector).
    pub rows: u32,
    /// Columns; `None` where any length is valid (the tokenizer's concatenated pieces).
    pub cols: Option<u32>,
}

impl TensorSpec {
    /// True if a tensor of `[rows, cols]` fits this spec.
    pub fn fits(&self, rows: u32, cols: u32) -> bool {
        rows == self.rows && self.cols.is_none_or(|c| c == cols)
    }

    /// The shape as a checkpoint or a file entry writes it: `[cols]` for a vector
    /// ([`Role::is_vector`]), `[rows, cols]` for a matrix; `None` where any length is valid.
    pub fn dims(&self) -> Option<([u32; 2], usize)> {
        let cols = self.cols?;
        Some(if self.role.is_vector() { ([cols, 0], 1) } else { ([self.rows, cols], 2) })
    }

    /// The tensor's name (`layers.3.mixer.wq.weight`), as a value that formats it.
    pub const fn name(&self) -> TensorName {
        TensorName { layer: self.layer, role: self.role }
    }
}

/// A tensor's full name; `Display` writes it (no allocation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorName {
    /// The layer (`None` for a model-level tensor).
    pub layer: Option<usize>,
    /// The role.
    pub role: Role,
}

impl fmt::Display for TensorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.layer {
            Some(l) => write!(f, "layers.{l}.{}", self.role.name()),
            None => f.write_str(self.role.name()),
        }
    }
}

/// Rows of `wl` (`n_heads * L`, [`crate::loglinear::level_weights`]) for a file's `max_context`.
fn level_weight_rows(m: &MixerConfig, max_context: usize) -> u32 {
    let levels = crate::loglinear::level_weights(m.pattern, saturate(max_context));
    saturate(m.n_heads.saturating_mul(levels))
}

/// Layer `l`'s tensors, in [`LAYER_ROLE_LIST`] order, present or not.
pub fn layer_tensors(c: &Config, m: &MixerConfig, l: usize) -> [TensorSpec; LAYER_ROLES] {
    let (d, h, q, kv) = (saturate(c.dim), saturate(c.hidden_dim), saturate(m.q_dim()), saturate(m.kv_dim()));
    let heads = saturate(m.n_heads);
    let levels = saturate(level_biases(m.pattern, saturate(c.max_context)));
    let gated = m.level_aware && m.form == Form::Recurrent;
    let bias = c.norm == NormKind::LayerNorm;
    let rwkv = m.form == Form::Rwkv7;
    let [lw, la, lv, lg] = m.lora.map(saturate);
    let residual = rwkv && lv > 0;
    LAYER_ROLE_LIST.map(|role| {
        let (required, rows, cols) = match role {
            Role::MixerNorm | Role::MlpNorm => (true, 1, d),
            Role::MixerNormBias | Role::MlpNormBias => (bias, 1, d),
            Role::Wq => (true, q, d),
            Role::Wk | Role::Wv => (true, kv, d),
            Role::Wo => (true, d, q),
            Role::Gamma => (m.form == Form::Chained, 1, heads),
            Role::Wd => (m.form == Form::StateSpace, q, d),
            Role::Wl => (m.is_loglinear(), level_weight_rows(m, c.max_context), d),
            Role::LevelBias => (m.level_aware, heads, levels),
            Role::Wa => (gated, heads, d),
            Role::WaBias => (gated, 1, heads),
            Role::Mix => (rwkv, 6, d),
            Role::W0
            | Role::A0
            | Role::KeyNorm
            | Role::KeyRate
            | Role::Bonus
            | Role::GroupNorm
            | Role::GroupNormBias => (rwkv, 1, q),
            Role::DecayDown => (rwkv, lw, d),
            Role::DecayUp => (rwkv, q, lw),
            Role::RateDown => (rwkv, la, d),
            Role::RateUp => (rwkv, q, la),
            Role::V0 => (residual, 1, q),
            Role::ResidualDown => (residual, lv, d),
            Role::ResidualUp => (residual, q, lv),
            Role::GateDown => (rwkv, lg, d),
            Role::GateUp => (rwkv, q, lg),
            Role::MlpShift => (c.mlp == MlpKind::SqReluShift, 1, d),
            Role::W1 => (true, h, d),
            Role::W2 => (true, d, h),
            Role::W3 => (c.mlp == MlpKind::SwiGlu, h, d),
            _ => (false, 0, 0),
        };
        TensorSpec { layer: Some(l), role, required, rows, cols: Some(cols) }
    })
}

/// The model-level tensors, in [`GLOBAL_ROLE_LIST`] order, present or not.
pub fn global_tensors(c: &Config) -> [TensorSpec; GLOBAL_ROLES] {
    let (v, d) = (saturate(c.vocab_size), saturate(c.dim));
    let bpe = c.tokenizer == TokenizerKind::Bpe;
    let bias = c.norm == NormKind::LayerNorm;
    GLOBAL_ROLE_LIST.map(|role| {
        let (required, rows, cols) = match role {
            Role::TokEmbeddings => (true, v, Some(d)),
            Role::EmbNorm => (c.emb_norm, 1, Some(d)),
            Role::EmbNormBias => (c.emb_norm && bias, 1, Some(d)),
            Role::Norm => (true, 1, Some(d)),
            Role::NormBias => (bias, 1, Some(d)),
            Role::Output => (c.classifier == Classifier::Separate, v, Some(d)),
            Role::TokScores | Role::TokSorted => (bpe, 1, Some(v)),
            Role::TokOffsets => (bpe, 1, Some(v.saturating_add(1))),
            Role::TokPieces => (bpe, 1, None),
            _ => (false, 0, None),
        };
        TensorSpec { layer: None, role, required, rows, cols }
    })
}

/// Every tensor of a model, in file order (embedding and its norm, each layer, final norm, classifier,
/// tokenizer tables), with `required == false` for those the architecture does not use.
pub fn tensors<'c>(c: &'c Config, mixers: &'c [MixerConfig]) -> impl Iterator<Item = TensorSpec> + 'c {
    let [emb, emb_norm, emb_bias, rest @ ..] = global_tensors(c);
    let layers = mixers.iter().enumerate().flat_map(move |(l, m)| layer_tensors(c, m, l));
    [emb, emb_norm, emb_bias].into_iter().chain(layers).chain(rest)
}

/// The tensors a checkpoint supplies, in file order: every one [`tensors`] requires except the
/// tokenizer's tables (written from the vocabulary).
pub fn checkpoint_tensors<'c>(
    c: &'c Config,
    mixers: &'c [MixerConfig],
) -> impl Iterator<Item = TensorSpec> + 'c {
    tensors(c, mixers).filter(|t| t.required && !t.role.is_tokenizer())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in LAYER_ROLE_LIST {
            assert_eq!(Role::from_name(&alloc_free_name(3, role), 4), Some((Some(3), role)));
            assert!(role.is_layer());
        }
        for role in GLOBAL_ROLE_LIST {
            assert_eq!(Role::from_name(role.name(), 1), Some((None, role)));
            assert!(!role.is_layer());
        }
        assert_eq!(Role::from_name("layers.4.mixer.wq.weight", 4), None, "layer out of range");
        assert_eq!(Role::from_name("layers.01.mixer.wq.weight", 4), None, "leading zero");
        assert_eq!(Role::from_name("layers..mixer.wq.weight", 4), None);
        assert_eq!(Role::from_name("output", 4), None);
    }

    /// `layers.{l}.{suffix}` into a fixed buffer, through [`TensorName`]'s `Display`.
    fn alloc_free_name(l: usize, role: Role) -> heapless::String<48> {
        use core::fmt::Write;
        let mut s = heapless::String::new();
        write!(s, "{}", TensorName { layer: Some(l), role }).unwrap();
        s
    }

    #[test]
    fn only_state_space_is_restricted() {
        for (code, param) in (0..=6).flat_map(|code| [0, 1, 3].map(|param| (code, param))) {
            let p = Pattern::from_code(code, param).unwrap();
            assert_eq!(Pattern::from_name(p.name(), param), Some(p));
            for f in [Form::Attention, Form::Recurrent, Form::Chained] {
                assert!(is_defined(p, f));
            }
            // order 1, or the pow2 lattice with any cap.
            let ss = (code, param) == (2, 1) || code == 4;
            assert_eq!(is_defined(p, Form::StateSpace), ss, "{p:?}");
        }
    }

    #[test]
    fn header_and_desc_round_trip() {
        let c = Config {
            dim: 64,
            hidden_dim: 172,
            vocab_size: 512,
            n_layers: 2,
            max_context: 256,
            norm: NormKind::RmsNorm,
            norm_eps: 1e-5,
            positional: Positional::RopeHalf,
            rope_theta: 500.0,
            mlp: MlpKind::Gelu,
            classifier: Classifier::Separate,
            tokenizer: TokenizerKind::Bpe,
            emb_norm: false,
            bos: 1,
            eos: 2,
            max_token_len: 9,
        };
        assert_eq!(Config::from_header(&c.header()), Ok(c));
        let m = MixerConfig::new(Pattern::Pow2Lattice { cap: 5 }, Form::StateSpace, 4, 16);
        assert_eq!(MixerConfig::from_desc(1, &m.desc(), c.positional), Ok(m));
        let la = MixerConfig {
            pattern: Pattern::Sq1Lattice { cap: 0 },
            form: Form::Recurrent,
            level_aware: true,
            ..m
        };
        assert_eq!(MixerConfig::from_desc(1, &la.desc(), c.positional), Ok(la));
        let la_ss = MixerConfig { level_aware: true, ..m };
        assert_eq!(
            MixerConfig::from_desc(1, &la_ss.desc(), c.positional),
            Err(LoadError::UndefinedLevelAware { layer: 1 })
        );
        let la_dense = MixerConfig { pattern: Pattern::Dense, ..la };
        assert_eq!(
            MixerConfig::from_desc(0, &la_dense.desc(), c.positional),
            Err(LoadError::UndefinedLevelAware { layer: 0 })
        );
        let flags = LayerDesc { flags: 0x82, ..la.desc() };
        assert_eq!(
            MixerConfig::from_desc(2, &flags, c.positional),
            Err(LoadError::UnknownLayerFlags { layer: 2, flags: 0x82 })
        );
        let undefined = MixerConfig { pattern: Pattern::Window(4), ..m };
        assert_eq!(
            MixerConfig::from_desc(1, &undefined.desc(), c.positional),
            Err(LoadError::UndefinedMixer { layer: 1, pattern: 1, form: 3 })
        );
    }

    #[test]
    fn tensor_list_follows_forms_and_options() {
        let c = Config {
            dim: 32,
            hidden_dim: 64,
            vocab_size: 256,
            n_layers: 2,
            max_context: 64,
            norm: NormKind::RmsNorm,
            norm_eps: 1e-5,
            positional: Positional::None,
            rope_theta: 1e4,
            mlp: MlpKind::SwiGlu,
            classifier: Classifier::Tied,
            tokenizer: TokenizerKind::Bytes,
            emb_norm: false,
            bos: 0,
            eos: 0,
            max_token_len: 0,
        };
        let m = |pattern, form| MixerConfig::new(pattern, form, 2, 16);
        let mixers =
            [m(Pattern::Order(3), Form::Chained), m(Pattern::Pow2Lattice { cap: 0 }, Form::StateSpace)];
        let present: heapless::Vec<(Option<usize>, Role, u32, Option<u32>), 64> =
            tensors(&c, &mixers).filter(|t| t.required).map(|t| (t.layer, t.role, t.rows, t.cols)).collect();
        // The embedding first, each layer's in role order, then the final norm (tied, bytes tokenizer).
        assert_eq!(present.first(), Some(&(None, Role::TokEmbeddings, 256, Some(32))));
        assert_eq!(present.last(), Some(&(None, Role::Norm, 1, Some(32))));
        assert!(present.contains(&(Some(0), Role::Gamma, 1, Some(2))));
        assert!(present.contains(&(Some(1), Role::Wd, 32, Some(32))));
        // Log-linear: L = |R(63)| + 1 = 7 level weights per head.
        assert!(present.contains(&(Some(1), Role::Wl, 14, Some(32))));
        assert_eq!(present.len(), 1 + (10 + 11) + 1);
        // Level-aware: a bias per head and level (L = max |R(t)| + 1), the recurrent form's gate too.
        let la = |pattern, form| MixerConfig { level_aware: true, ..m(pattern, form) };
        let mixers =
            [la(Pattern::Pow2Lattice { cap: 0 }, Form::Recurrent), la(Pattern::Order(4), Form::Chained)];
        let present: heapless::Vec<(Option<usize>, Role, u32, Option<u32>), 64> =
            tensors(&c, &mixers).filter(|t| t.required).map(|t| (t.layer, t.role, t.rows, t.cols)).collect();
        assert!(present.contains(&(Some(0), Role::LevelBias, 2, Some(7))));
        assert!(present.contains(&(Some(0), Role::Wa, 2, Some(32))));
        assert!(present.contains(&(Some(0), Role::WaBias, 1, Some(2))));
        assert!(present.contains(&(Some(1), Role::LevelBias, 2, Some(5))));
        assert!(!present.iter().any(|t| t.0 == Some(1) && matches!(t.1, Role::Wa | Role::WaBias)));
        assert_eq!(present.len(), 1 + (9 + 3) + (10 + 1) + 1);
    }

    #[test]
    fn level_aware_rule() {
        for (code, param) in (0..=6).flat_map(|code| [0, 1, 3].map(|param| (code, param))) {
            let p = Pattern::from_code(code, param).unwrap();
            for f in Form::ALL {
                let want = code != 0 && matches!(f, Form::Recurrent | Form::Chained);
                assert_eq!(is_level_aware_defined(p, *f), want, "{p:?} {f:?}");
            }
        }
        // L: levels a step of a 64-context file reads, plus one.
        assert_eq!(level_biases(Pattern::Pow2 { cap: 0 }, 64), 7);
        assert_eq!(level_biases(Pattern::Sq1Lattice { cap: 3 }, 64), 4);
        assert_eq!(level_biases(Pattern::Window(4), 64), 5);
    }

    #[test]
    fn rwkv7_layers_carry_their_ranks_and_eps() {
        let m = MixerConfig {
            lora: [3, 4, 0, 5],
            group_norm_eps: 64e-5,
            ..MixerConfig::new(Pattern::Order(1), Form::Rwkv7, 2, 8)
        };
        assert_eq!(MixerConfig::from_desc(0, &m.desc(), Positional::None), Ok(m));
        let bad = LoadError::BadLowRank { layer: 0 };
        for broken in [
            MixerConfig { lora: [0, 4, 0, 5], ..m },
            MixerConfig { group_norm_eps: 0.0, ..m },
            MixerConfig { group_norm_eps: f32::NAN, ..m },
            MixerConfig { form: Form::StateSpace, ..m },
            MixerConfig { lora: [0; 4], group_norm_eps: 1e-5, form: Form::Attention, ..m },
        ] {
            assert_eq!(MixerConfig::from_desc(0, &broken.desc(), Positional::None), Err(bad), "{broken:?}");
        }
        let window = MixerConfig { pattern: Pattern::Window(4), ..m };
        assert_eq!(
            MixerConfig::from_desc(0, &window.desc(), Positional::None),
            Err(LoadError::UndefinedMixer { layer: 0, pattern: 1, form: 4 })
        );
        // The flags byte and the LoRA ranks are separate fields: level-aware RWKV-7 is refused by rule.
        let flagged = MixerConfig { level_aware: true, ..m };
        assert_eq!(flagged.desc().lora, [3, 4, 0, 5]);
        assert_eq!(
            MixerConfig::from_desc(0, &flagged.desc(), Positional::None),
            Err(LoadError::UndefinedLevelAware { layer: 0 })
        );
        let mut h = Config::from_header(&rwkv_config().header()).unwrap().header();
        h.emb_norm = 2;
        assert_eq!(Config::from_header(&h), Err(LoadError::UnknownEmbNorm { code: 2 }));
    }

    fn rwkv_config() -> Config {
        Config {
            dim: 16,
            hidden_dim: 64,
            vocab_size: 256,
            n_layers: 2,
            max_context: 64,
            norm: NormKind::LayerNorm,
            norm_eps: 1e-5,
            positional: Positional::None,
            rope_theta: 0.0,
            mlp: MlpKind::SqReluShift,
            classifier: Classifier::Separate,
            tokenizer: TokenizerKind::Bytes,
            emb_norm: true,
            bos: 0,
            eos: 0,
            max_token_len: 0,
        }
    }

    #[test]
    fn rwkv7_tensor_list() {
        let c = rwkv_config();
        let m = |v| MixerConfig {
            lora: [3, 4, v, 5],
            group_norm_eps: 64e-5,
            ..MixerConfig::new(Pattern::Order(1), Form::Rwkv7, 2, 8)
        };
        let mixers = [m(0), m(6)];
        let present: heapless::Vec<(Option<usize>, Role, u32, Option<u32>), 96> =
            tensors(&c, &mixers).filter(|t| t.required).map(|t| (t.layer, t.role, t.rows, t.cols)).collect();
        // The embedding and its LayerNorm first; the final norm with its bias and the head last.
        assert_eq!(
            present[..3],
            [
                (None, Role::TokEmbeddings, 256, Some(16)),
                (None, Role::EmbNorm, 1, Some(16)),
                (None, Role::EmbNormBias, 1, Some(16))
            ]
        );
        assert_eq!(
            present[present.len() - 3..],
            [
                (None, Role::Norm, 1, Some(16)),
                (None, Role::NormBias, 1, Some(16)),
                (None, Role::Output, 256, Some(16))
            ]
        );
        for l in [Some(0), Some(1)] {
            for t in [
                (Role::Mix, 6, 16),
                (Role::DecayDown, 3, 16),
                (Role::DecayUp, 16, 3),
                (Role::RateUp, 16, 4),
                (Role::GateDown, 5, 16),
                (Role::Bonus, 1, 16),
                (Role::MlpShift, 1, 16),
                (Role::MixerNormBias, 1, 16),
            ] {
                assert!(present.contains(&(l, t.0, t.1, Some(t.2))), "{l:?} {t:?}");
            }
            assert!(!present.iter().any(|p| p.0 == l && matches!(p.1, Role::W3 | Role::Wd | Role::Gamma)));
        }
        // The value residual from the layer with a rank on.
        assert!(!present.iter().any(|p| p.0 == Some(0) && matches!(p.1, Role::V0 | Role::ResidualDown)));
        assert!(present.contains(&(Some(1), Role::ResidualDown, 6, Some(16))));
        assert!(present.contains(&(Some(1), Role::V0, 1, Some(16))));
        // Per layer: 4 projections, 2 norms + 2 biases, mix, 7 vectors, 6 LoRA matrices, MLP shift + w1 + w2.
        assert_eq!(present.len(), 3 + (4 + 4 + 1 + 7 + 6 + 3) + (4 + 4 + 1 + 7 + 6 + 3 + 3) + 3);
        assert!(!Role::Mix.is_vector() && Role::Bonus.is_vector() && Role::Mix.storage() == Storage::F32);
    }
}
