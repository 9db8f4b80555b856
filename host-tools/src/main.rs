//! `glmix`: convert, import, inspect and run glmix models on the desktop.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use glmix::DType;
use glmix_tools::eval::{self, Split};
use glmix_tools::tasks::Task;
use glmix_tools::{
    bench, convert, generate, inspect, limits, llama2c, output, pool, preflight, report, rwkv, writer,
};

#[derive(Parser)]
#[command(name = "glmix", version, about = "Convert, inspect and run glmix token-mixer language models", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Storage type for weight matrices (norm weights always stay f32).
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Quant {
    /// 32-bit float (4 bytes per weight).
    F32,
    /// 16-bit float (2 bytes per weight).
    F16,
    /// bfloat16 (2 bytes per weight).
    Bf16,
    /// ggml Q8_0: blocks of 32 int8 + f16 scale (1.0625 bytes per weight).
    #[value(name = "q8_0")]
    Q8_0,
    /// ggml Q4_0: blocks of 32 nibbles + f16 scale (0.5625 bytes per weight).
    #[value(name = "q4_0")]
    Q4_0,
}

impl From<Quant> for DType {
    fn from(q: Quant) -> DType {
        match q {
            Quant::F32 => DType::F32,
            Quant::F16 => DType::F16,
            Quant::Bf16 => DType::BF16,
            Quant::Q8_0 => DType::Q8_0,
            Quant::Q4_0 => DType::Q4_0,
        }
    }
}

/// Synthetic task for `eval --task`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum TaskName {
    /// n symbols, a gap drawn per sample, SEP, the same n symbols again (answers: the copy).
    Copy,
    /// The original copy without the gap: every answer n + 1 positions after its source.
    CopyFixed,
    /// Multi-query associative recall: key-value pairs, SEP, then queried keys (answers: their values).
    Recall,
    /// Pointer chasing: shuffled chain links, SEP, a start symbol (answers: the walk, hop by hop).
    Multihop,
    /// Interleaved variable chains in causal order, SEP, one variable (answer: its value, hops hidden).
    MultihopHidden,
}

/// Which part of the text file `eval --text` scores.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SplitArg {
    /// The last 10 % of the bytes (from floor(0.9 * size) on): train.py's held-out split.
    Heldout,
    /// The first 90 % (train.py's training split).
    Train,
    /// The whole file.
    All,
}

/// Task parameters (each belongs to one task; defaults are models/glmix_models/tasks.py's).
#[derive(clap::Args, Debug)]
struct TaskParams {
    /// copy, copy-fixed: symbols to copy [default: 64].
    #[arg(long, help_heading = "Task parameters")]
    n: Option<u32>,
    /// copy, copy-fixed: symbol alphabet size [default: 32].
    #[arg(long, help_heading = "Task parameters")]
    vocab: Option<u32>,
    /// copy: largest gap between the symbols and SEP [default: 31].
    #[arg(long, help_heading = "Task parameters")]
    max_gap: Option<u32>,
    /// recall: key-value pairs [default: 16].
    #[arg(long, help_heading = "Task parameters")]
    n_pairs: Option<u32>,
    /// recall: queries after SEP [default: 16].
    #[arg(long, help_heading = "Task parameters")]
    n_queries: Option<u32>,
    /// recall: key alphabet size [default: 4096].
    #[arg(long, help_heading = "Task parameters")]
    n_keys: Option<u32>,
    /// recall, multihop-hidden: value alphabet size [default: 4096, 16].
    #[arg(long, help_heading = "Task parameters")]
    n_values: Option<u32>,
    /// multihop: symbol alphabet size [default: 64].
    #[arg(long, help_heading = "Task parameters")]
    n_symbols: Option<u32>,
    /// multihop, multihop-hidden: chains [default: 4].
    #[arg(long, help_heading = "Task parameters")]
    n_chains: Option<u32>,
    /// multihop: hops per chain [default: 4].
    #[arg(long, help_heading = "Task parameters")]
    hops: Option<u32>,
    /// multihop-hidden: variable alphabet size [default: 64].
    #[arg(long, help_heading = "Task parameters")]
    n_vars: Option<u32>,
    /// multihop-hidden: smallest depth asked for [default: 4].
    #[arg(long, help_heading = "Task parameters")]
    min_depth: Option<u32>,
    /// multihop-hidden: largest depth asked for, the length of every chain [default: 8].
    #[arg(long, help_heading = "Task parameters")]
    max_depth: Option<u32>,
}

impl TaskParams {
    /// The task with these parameters over its defaults; a parameter of another task is an error.
    fn task(&self, name: TaskName) -> Result<Task> {
        macro_rules! named {
            ($($param:ident),*) => { [$((stringify!($param), self.$param)),*] };
        }
        let given = named!(
            n, vocab, max_gap, n_pairs, n_queries, n_keys, n_values, n_symbols, n_chains, hops, n_vars,
            min_depth, max_depth
        );
        let mut task = match name {
            TaskName::Copy => Task::COPY,
            TaskName::CopyFixed => Task::COPY_FIXED,
            TaskName::Recall => Task::RECALL,
            TaskName::Multihop => Task::MULTIHOP,
            TaskName::MultihopHidden => Task::MULTIHOP_HIDDEN,
        };
        for (param, value) in given {
            if let Some(v) = value {
                task = task.with_param(param, v)?;
            }
        }
        Ok(task)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Convert a PyTorch safetensors checkpoint and its JSON config (docs/model-spec.md) into a model file.
    ///
    /// An rwkv.cpp RWKV-7 file (recognised by its magic "ggmf"; models/glmix_models/rwkv7.py's
    /// `write_ggmf` writes one) is converted too, without --config: it is `glmix import-rwkv`.
    Convert {
        /// The safetensors checkpoint (F32, F16 or BF16 tensors), or an rwkv.cpp RWKV-7 file.
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        /// The JSON config describing the architecture (a safetensors checkpoint needs it; an
        /// rwkv.cpp file carries its shape and takes none).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Where to write the model file (written atomically).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Storage type of weight matrices.
        #[arg(long, value_enum, default_value = "q8_0")]
        quant: Quant,
        /// Do not print the per-tensor quantization error table.
        #[arg(short, long)]
        quiet: bool,
        /// Convert weights that are NaN or infinite instead of refusing them.
        #[arg(long)]
        allow_nonfinite: bool,
    },
    /// Import a llama2.c checkpoint (legacy v0 f32 or v2 int8) and its tokenizer.bin.
    #[command(name = "import-llama2c")]
    ImportLlama2c {
        /// The llama2.c model.bin.
        model: PathBuf,
        /// The llama2.c tokenizer.bin matching the model.
        #[arg(long, value_name = "FILE")]
        tokenizer: PathBuf,
        /// Where to write the model file.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Storage type of weight matrices.
        #[arg(long, value_enum, default_value = "f32")]
        quant: Quant,
        /// Do not print the per-tensor quantization error table.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Import an RWKV-7 model from rwkv.cpp's file format (FP32 or FP16, file versions 100 and 101).
    ///
    /// Supported: RWKV-7 ("x070"). RWKV v4, v5.1, v5.2 and v6 files are recognised and refused, and
    /// so are rwkv.cpp's quantized files (import the FP32/FP16 file and quantize here with --quant).
    /// Matrices are stored as --quant; LayerNorm weights and biases, the token-shift mixes and RWKV-7's
    /// per-channel vectors stay f32. A vocabulary of 256 gets the bytes tokenizer.
    #[command(name = "import-rwkv")]
    ImportRwkv {
        /// The rwkv.cpp model file.
        model: PathBuf,
        /// Where to write the model file (written atomically).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Storage type of weight matrices.
        #[arg(long, value_enum, default_value = "f32")]
        quant: Quant,
        /// The context the model was trained at, recorded in the file (informational: rwkv.cpp's
        /// files do not carry it, and an RWKV-7 model runs in constant memory at any context).
        #[arg(long, default_value_t = glmix_tools::rwkv::DEFAULT_CONTEXT,
              value_parser = clap::value_parser!(u32).range(1..=(1 << 24)))]
        context: u32,
        /// Do not print the per-tensor quantization error table.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Generate text, printed to stdout as llama2.c's run.c prints it; statistics go to stderr.
    Generate {
        /// The model file.
        #[arg(short, long, value_name = "FILE")]
        model: PathBuf,
        /// Prompt text: any bytes, UTF-8 or not (a byte-level model reads them as they are; a BPE
        /// model encodes bytes no piece covers with its byte-fallback tokens, as llama2.c does).
        /// `-` reads the prompt from stdin.
        #[arg(short, long, default_value = "")]
        prompt: OsString,
        /// Read the prompt from this file (any bytes, as --prompt).
        #[arg(long, value_name = "FILE")]
        prompt_file: Option<PathBuf>,
        /// Positions to run, prompt included.
        #[arg(short = 'n', long, default_value_t = 256)]
        steps: u32,
        /// Sampling temperature (0 = greedy); a finite number >= 0.
        #[arg(short, long, default_value_t = 1.0, value_parser = limits::temperature)]
        temperature: f32,
        /// Top-p (nucleus) threshold in [0, 1]; 0 or 1 disables it.
        #[arg(long, default_value_t = 0.9, value_parser = limits::top_p)]
        top_p: f32,
        /// Keep only the k most likely tokens (0 disables it).
        #[arg(long, default_value_t = 0)]
        top_k: u32,
        /// RNG seed (default: the current time, as run.c).
        #[arg(short, long)]
        seed: Option<u64>,
        /// Context to plan state memory for (default: --steps).
        #[arg(long)]
        context: Option<u32>,
        /// Refuse a state larger than this (bytes, or with K, M, G, T) [default: the available memory].
        #[arg(long, value_name = "SIZE", value_parser = limits::memory_size)]
        max_memory: Option<u64>,
        /// Threads for the matrix-vector products (default: the CPUs this process may use; 1: the
        /// single-threaded path). The output is the same bits for every count.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
    /// Evaluate a model with the runtime, one token at a time: accuracy on a seeded synthetic task
    /// (--task) or bits per character on text (--text).
    ///
    /// --task: N samples drawn from one splitmix64(SEED) stream exactly as models/glmix_models/tasks.py
    /// draws them; each sample is fed with teacher forcing and argmax(logits) (ties: the lowest token id)
    /// is compared with the answer tokens. --text: train.py's held-out method (non-overlapping windows of
    /// context + 1 tokens, the session reset at each window, every position scored).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["task", "text"])))]
    Eval {
        /// The model file.
        #[arg(short, long, value_name = "FILE")]
        model: PathBuf,
        /// Synthetic task to score.
        #[arg(long, value_enum)]
        task: Option<TaskName>,
        /// Text file to score (bits per character for byte-level models).
        #[arg(long, value_name = "FILE")]
        text: Option<PathBuf>,
        /// --task: samples to evaluate.
        #[arg(long, default_value_t = 500)]
        samples: u32,
        /// --task: seed of the sample stream (train.py's held-out stream is 987654321).
        #[arg(long, default_value_t = 987_654_321)]
        seed: u64,
        #[command(flatten)]
        params: TaskParams,
        /// --text: part of the file to score.
        #[arg(long, value_enum, default_value = "heldout")]
        split: SplitArg,
        /// --text: score only the first N bytes of the split.
        #[arg(long, value_name = "N")]
        max_chars: Option<usize>,
        /// --text: window length in tokens [default: the model's trained context].
        #[arg(long)]
        context: Option<u32>,
        /// Print one JSON object on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// Threads for the matrix-vector products (default: the CPUs this process may use; 1: the
        /// single-threaded path). The output is the same bits for every count.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
    /// Show a model file's header, layers, tensors, flash size and memory plan.
    Inspect {
        /// The model file.
        model: PathBuf,
        /// Context length (tokens) to plan state memory for.
        #[arg(long, default_value_t = 4096)]
        context: u32,
    },
    /// Measure time per token and state bytes of every token mixer at several positions (docs/costs.md).
    Bench {
        /// Positions (tokens already in the cache) at which to time decoding.
        #[arg(long, value_delimiter = ',', default_values_t = [256, 4096, 65536])]
        positions: Vec<u32>,
        /// Directory for bench.md, bench.csv and bench.svg (created if missing).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Model width.
        #[arg(long, default_value_t = 64)]
        dim: usize,
        /// Layers (every layer uses the mixer being measured).
        #[arg(long, default_value_t = 2)]
        layers: usize,
        /// Heads per layer (head width = dim / heads).
        #[arg(long, default_value_t = 4)]
        heads: usize,
        /// MLP width.
        #[arg(long, default_value_t = 128)]
        hidden: usize,
        /// Storage type of weight matrices.
        #[arg(long, value_enum, default_value = "f32")]
        quant: Quant,
        /// Steps timed at each position (the median is reported).
        #[arg(long, default_value_t = 64)]
        window: u32,
        /// Do not time the dense mixers beyond this position (default: time them everywhere).
        #[arg(long, default_value_t = u32::MAX)]
        dense_max: u32,
        /// Only mixers whose name contains one of these (comma separated), e.g. `lattice,order 1`.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Vocabulary size.
        #[arg(long, default_value_t = 256)]
        vocab: usize,
        /// Instead of the ladder: decode this many tokens from position 0 with a llama-shaped model
        /// (dense attention in every layer) and print tokens per second and state bytes.
        /// Example, the stories15M shape: `--generate 256 --dim 288 --layers 6 --heads 6 --hidden 768 --vocab 32000`.
        #[arg(long, value_name = "TOKENS")]
        generate: Option<u32>,
        /// With --generate: runs (the best is reported).
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// With --generate: time this model file instead of a random one (the shape options are ignored).
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
        /// Threads for the matrix-vector products (default: the CPUs this process may use; 1: the
        /// single-threaded path). The output is the same bits for every count.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: Option<u16>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the process's worker pool for `--threads` (default: every CPU available).
/// Runs a conversion under a progress bar that its per-tensor callback `(name, done, total)` moves.
fn with_tensor_bar<T>(
    label: &str,
    run: impl FnOnce(&mut dyn FnMut(&str, usize, usize)) -> Result<T>,
) -> Result<T> {
    let bar = report::progress(label, 0);
    let out = run(&mut |name, _, total| {
        bar.set_length(total as u64);
        bar.set_message(name.to_string());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    Ok(out)
}

/// The model file `path`'s bytes parsed; an error names the file.
fn parse_named<'a>(path: &Path, bytes: &'a [u8]) -> Result<glmix::Model<'a>> {
    writer::parse_model(bytes).with_context(|| path.display().to_string())
}

/// `glmix import-rwkv`, and `glmix convert` of an rwkv.cpp file: `label` names `model` in the output
/// checks' messages.
fn import_rwkv(
    model: &Path,
    label: &str,
    output: &Path,
    quant: Quant,
    context: u32,
    quiet: bool,
) -> Result<()> {
    let inputs = [(label, model)];
    output::check_output(output, &inputs)?;
    let (file, reports) =
        with_tensor_bar("importing", |on_tensor| rwkv::import(model, quant.into(), context, on_tensor))?;
    finish(&file, &reports, output, &inputs, quiet)
}

fn start_pool(threads: Option<u16>) {
    pool::init(threads.map_or_else(pool::default_threads, usize::from));
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Convert { weights, config, output, quant, quiet, allow_nonfinite } => {
            let ggmf = rwkv::is_ggmf(&weights);
            if let Ok(true) = ggmf {
                anyhow::ensure!(
                    config.is_none(),
                    "{} is an rwkv.cpp file, which carries its own shape: drop --config",
                    weights.display()
                );
                return import_rwkv(&weights, "--weights", &output, quant, rwkv::DEFAULT_CONTEXT, quiet);
            }
            let Some(config) = config else {
                ggmf?;
                anyhow::bail!(
                    "{} is not an rwkv.cpp file, so it needs --config (only an rwkv.cpp file carries its shape)",
                    weights.display()
                );
            };
            let inputs = [("--weights", weights.as_path()), ("--config", config.as_path())];
            output::check_output(&output, &inputs)?;
            preflight::config(&config)?;
            preflight::safetensors(&weights, allow_nonfinite)?;
            let (file, reports) = with_tensor_bar("converting", |on_tensor| {
                convert::convert(&weights, &config, quant.into(), on_tensor)
            })?;
            finish(&file, &reports, &output, &inputs, quiet)
        }
        Command::ImportLlama2c { model, tokenizer, output, quant, quiet } => {
            let inputs = [("the model", model.as_path()), ("--tokenizer", tokenizer.as_path())];
            output::check_output(&output, &inputs)?;
            let (file, reports) = with_tensor_bar("importing", |on_tensor| {
                llama2c::import(&model, &tokenizer, quant.into(), on_tensor)
            })?;
            finish(&file, &reports, &output, &inputs, quiet)
        }
        Command::ImportRwkv { model, output, quant, context, quiet } => {
            import_rwkv(&model, "the model", &output, quant, context, quiet)
        }
        Command::Generate {
            model,
            prompt,
            prompt_file,
            steps,
            temperature,
            top_p,
            top_k,
            seed,
            context,
            max_memory,
            threads,
        } => {
            start_pool(threads);
            let bytes = writer::read_aligned(&model)?;
            let parsed = parse_named(&model, bytes.as_bytes())?;
            let flag = if context.is_some() { "--context" } else { "-n, the default context" };
            limits::check_state(&parsed, context.unwrap_or(steps).max(1), max_memory, flag)?;
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
            });
            let opts = generate::Options {
                prompt: generate::prompt_input(prompt_bytes(prompt)?, prompt_file.as_deref())?,
                steps,
                temperature,
                topp: top_p,
                topk: top_k,
                seed,
                context,
            };
            let stats = generate::generate(&parsed, &opts, &mut std::io::stdout().lock(), |_| {})?;
            if stats.positions > 1 && stats.seconds > 0.0 {
                eprintln!("achieved tok/s: {:.1}", (stats.positions - 1) as f64 / stats.seconds);
            }
            eprintln!(
                "state: {} bytes for a context of {} tokens",
                stats.state_bytes,
                opts.context.unwrap_or(opts.steps)
            );
            Ok(())
        }
        Command::Eval {
            model,
            task,
            text,
            samples,
            seed,
            params,
            split,
            max_chars,
            context,
            json,
            threads,
        } => {
            start_pool(threads);
            let bytes = writer::read_aligned(&model)?;
            let parsed = parse_named(&model, bytes.as_bytes())?;
            match (task, text) {
                (Some(name), _) => {
                    if max_chars.is_some() || context.is_some() {
                        anyhow::bail!(
                            "--max-chars and --context apply to --text; a task plans its own context"
                        );
                    }
                    run_eval_task(&parsed, params.task(name)?, samples, seed, json)
                }
                (None, Some(path)) => {
                    let split = match split {
                        SplitArg::Heldout => Split::Heldout,
                        SplitArg::Train => Split::Train,
                        SplitArg::All => Split::All,
                    };
                    run_eval_text(&parsed, &path, split, max_chars, context, json)
                }
                (None, None) => anyhow::bail!("give --task or --text"),
            }
        }
        Command::Inspect { model, context } => {
            anyhow::ensure!(context >= 1, "--context must be at least 1");
            let bytes = writer::read_aligned(&model)?;
            print!(
                "{}",
                inspect::describe(bytes.as_bytes(), context)
                    .with_context(|| format!("{}", model.display()))?
            );
            Ok(())
        }
        Command::Bench {
            positions,
            out,
            dim,
            layers,
            heads,
            hidden,
            quant,
            window,
            dense_max,
            only,
            seed,
            vocab,
            generate,
            runs,
            model,
            threads,
        } => {
            start_pool(threads);
            let opts = bench::Options {
                positions,
                dim,
                layers,
                heads,
                hidden,
                vocab,
                dtype: quant.into(),
                window,
                dense_max,
                only,
                seed,
            };
            match generate {
                Some(tokens) => {
                    let (t, what) = match &model {
                        Some(path) => {
                            let bytes = writer::read_aligned(path)?;
                            let m = writer::parse_model(bytes.as_bytes())
                                .with_context(|| path.display().to_string())?;
                            (bench::throughput_of(&m, tokens, runs)?, path.display().to_string())
                        }
                        None => (
                            bench::throughput(&opts, tokens, runs)?,
                            format!(
                                "dim {dim} layers {layers} heads {heads} hidden {hidden} vocab {vocab} {:?}",
                                opts.dtype
                            ),
                        ),
                    };
                    let cpu = t.cpu_tok_s.map_or_else(|| "n/a".into(), |v| format!("{v:.1}"));
                    println!(
                        "{what}: {} tokens from position 0, best of {runs}: {cpu} tok/s (thread CPU time), {:.1} tok/s (wall); state {} bytes (caches), {} bytes with scratch",
                        t.tokens, t.wall_tok_s, t.state_bytes, t.total_bytes
                    );
                    Ok(())
                }
                None => run_bench(&opts, out.as_deref()),
            }
        }
    }
}

fn run_eval_task(model: &glmix::Model<'_>, task: Task, samples: u32, seed: u64, json: bool) -> Result<()> {
    eval::check_task(model, &task)?;
    let bar = report::progress(task.name(), u64::from(samples));
    let r = eval::eval_task(model, task, samples, seed, |_| bar.inc(1))?;
    bar.finish_and_clear();
    let (us, tps) = speed(r.seconds, r.tokens);
    if json {
        let mut out = serde_json::json!({
            "task": task.name(),
            "params": task_params_json(&task),
            "samples": r.samples,
            "seed": r.seed,
            "answers": r.answers,
            "correct": r.correct,
            "accuracy": r.accuracy(),
            "context": r.context,
            "tokens": r.tokens,
        });
        print_json_with_speed(&mut out, r.state_bytes, r.seconds, (us, tps));
    } else {
        println!(
            "{}: accuracy {:.2} % ({} / {} answers, {} samples, seed {})",
            describe_task(&task),
            100.0 * r.accuracy(),
            r.correct,
            r.answers,
            r.samples,
            r.seed
        );
        println!(
            "state: {} bytes for a context of {} tokens; {:.1} us/token ({:.0} tok/s over {} tokens)",
            r.state_bytes, r.context, us, tps, r.tokens
        );
    }
    Ok(())
}

/// Microseconds per token and tokens per second of `tokens` tokens in `seconds`.
fn speed(seconds: f64, tokens: u64) -> (f64, f64) {
    (seconds * 1e6 / tokens.max(1) as f64, tokens as f64 / seconds.max(1e-12))
}

/// Prints an eval's JSON object `out` with the fields every eval reports: `state_bytes`, `seconds`,
/// `us_per_token` and `tokens_per_second` (`speed`'s pair).
fn print_json_with_speed(
    out: &mut serde_json::Value,
    state_bytes: usize,
    seconds: f64,
    (us, tps): (f64, f64),
) {
    if let Some(o) = out.as_object_mut() {
        o.insert("state_bytes".into(), state_bytes.into());
        o.insert("seconds".into(), seconds.into());
        o.insert("us_per_token".into(), us.into());
        o.insert("tokens_per_second".into(), tps.into());
    }
    println!("{out}");
}

fn task_params_json(task: &Task) -> serde_json::Value {
    task.params().into_iter().map(|(k, v)| (k.to_string(), serde_json::json!(v))).collect()
}

fn describe_task(task: &Task) -> String {
    let params = task_params_json(task);
    let parts: Vec<String> =
        params.as_object().map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect()).unwrap_or_default();
    format!("{} ({})", task.name(), parts.join(", "))
}

fn run_eval_text(
    model: &glmix::Model<'_>,
    path: &Path,
    split: Split,
    max_chars: Option<usize>,
    context: Option<u32>,
    json: bool,
) -> Result<()> {
    let all = limits::read_text(path)?;
    let text = eval::split_text(&all, split, max_chars);
    let bar = report::progress("windows", 0);
    let r = eval::eval_text(model, text, context, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    let (us, tps) = speed(r.seconds, r.scored);
    let split_name = format!("{split:?}").to_lowercase();
    if json {
        let mut out = serde_json::json!({
            "text": path.display().to_string(),
            "split": split_name,
            "chars": r.chars,
            "text_tokens": r.text_tokens,
            "context": r.context,
            "windows": r.windows,
            "scored": r.scored,
            "scored_bytes": r.scored_bytes,
            "byte_level": r.byte_level,
            "nats_per_token": r.nats_per_token(),
            "bits_per_token": r.bits_per_token(),
            "bits_per_char": r.bits_per_byte(),
        });
        print_json_with_speed(&mut out, r.state_bytes, r.seconds, (us, tps));
    } else {
        println!(
            "{} ({split_name} split, {} bytes): {:.4} bits per character, {:.4} nats per token, {:.4} bits per token",
            path.display(),
            r.chars,
            r.bits_per_byte(),
            r.nats_per_token(),
            r.bits_per_token()
        );
        println!(
            "{} windows of {} tokens ({} predictions, the last {} tokens unscored); state {} bytes; {:.1} us/token ({:.0} tok/s)",
            r.windows,
            r.context,
            r.scored,
            r.text_tokens - r.windows * r.context as usize - 1,
            r.state_bytes,
            us,
            tps
        );
    }
    Ok(())
}

fn run_bench(opts: &bench::Options, out: Option<&Path>) -> Result<()> {
    let bar = report::progress("decoding", bench::total_steps(opts));
    let rows = bench::run(opts, |mixer, n| {
        bar.set_message(mixer.to_string());
        bar.inc(n);
    })?;
    bar.finish_and_clear();
    let command: Vec<String> = std::env::args().skip(1).collect();
    let caption = format!(
        "glmix {}: dim {}, {} layers x {} heads, hidden {}, {}; median thread-CPU ns of {} timed steps per position",
        command.join(" "),
        opts.dim,
        opts.layers,
        opts.heads,
        opts.hidden,
        opts.dtype.name(),
        opts.window
    );
    let table = bench::markdown(&rows);
    let csv = bench::csv(&rows);
    println!("{caption}\n\n{table}\n{csv}");
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, text) in [
            ("bench.md", format!("{caption}\n\n{table}")),
            ("bench.csv", csv),
            ("bench.svg", bench::svg(&rows, &caption)),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        }
        eprintln!("wrote bench.md, bench.csv, bench.svg to {}", dir.display());
    }
    Ok(())
}

fn finish(
    file: &writer::ModelFile,
    reports: &[convert::TensorReport],
    output: &Path,
    inputs: &[(&str, &Path)],
    quiet: bool,
) -> Result<()> {
    let bytes = file.to_bytes()?;
    // Check what we wrote with the runtime's own parser before anything reaches the disk.
    let aligned = writer::AlignedBytes::new(&bytes);
    glmix::Model::parse(aligned.as_bytes()).context("the model does not pass the runtime's checks")?;
    output::write_atomically(output, &bytes, inputs)?;
    if !quiet {
        eprint!("{}", report::error_table(reports));
    }
    eprintln!("wrote {} ({} bytes, {} tensors)", output.display(), bytes.len(), file.tensors.len());
    Ok(())
}

/// The `--prompt` argument's bytes, as the operating system passed them (not necessarily UTF-8).
#[cfg(unix)]
fn prompt_bytes(prompt: OsString) -> Result<Vec<u8>> {
    Ok(std::os::unix::ffi::OsStringExt::into_vec(prompt))
}

/// The `--prompt` argument's bytes: UTF-8 (arguments that are not valid Unicode are refused).
#[cfg(not(unix))]
fn prompt_bytes(prompt: OsString) -> Result<Vec<u8>> {
    match prompt.into_string() {
        Ok(s) => Ok(s.into_bytes()),
        Err(_) => anyhow::bail!("--prompt is not valid Unicode"),
    }
}
