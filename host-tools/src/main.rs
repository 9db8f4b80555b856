//! `glmix`: convert, import, inspect and run glmix models on the desktop.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use glmix::DType;
use glmix_tools::{bench, convert, generate, inspect, llama2c, report, writer};

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

#[derive(Subcommand)]
enum Command {
    /// Convert a PyTorch safetensors checkpoint and its JSON config (docs/model-spec.md) into a model file.
    Convert {
        /// The safetensors checkpoint (F32, F16 or BF16 tensors).
        #[arg(long, value_name = "FILE")]
        weights: PathBuf,
        /// The JSON config describing the architecture.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where to write the model file (written atomically).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Storage type of weight matrices.
        #[arg(long, value_enum, default_value = "q8_0")]
        quant: Quant,
        /// Do not print the per-tensor quantization error table.
        #[arg(short, long)]
        quiet: bool,
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
    /// Generate text, printed to stdout as llama2.c's run.c prints it; statistics go to stderr.
    Generate {
        /// The model file.
        #[arg(short, long, value_name = "FILE")]
        model: PathBuf,
        /// Prompt text.
        #[arg(short, long, default_value = "")]
        prompt: String,
        /// Positions to run, prompt included.
        #[arg(short = 'n', long, default_value_t = 256)]
        steps: u32,
        /// Sampling temperature (0 = greedy).
        #[arg(short, long, default_value_t = 1.0)]
        temperature: f32,
        /// Top-p (nucleus) threshold; 0 or 1 disables it.
        #[arg(long, default_value_t = 0.9)]
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Convert { weights, config, output, quant, quiet } => {
            let bar = report::progress("converting", 0);
            let (file, reports) = convert::convert(&weights, &config, quant.into(), |name, _, total| {
                bar.set_length(total as u64);
                bar.set_message(name.to_string());
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            finish(&file, &reports, &output, quiet)
        }
        Command::ImportLlama2c { model, tokenizer, output, quant, quiet } => {
            let bar = report::progress("importing", 0);
            let (file, reports) = llama2c::import(&model, &tokenizer, quant.into(), |name, _, total| {
                bar.set_length(total as u64);
                bar.set_message(name.to_string());
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            finish(&file, &reports, &output, quiet)
        }
        Command::Generate { model, prompt, steps, temperature, top_p, top_k, seed, context } => {
            let bytes = writer::AlignedBytes::read(&model)?;
            let parsed = glmix::Model::parse(bytes.as_bytes())
                .map_err(|e| anyhow::anyhow!("{}: {e}", model.display()))?;
            let seed = seed.unwrap_or_else(|| {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
            });
            let opts =
                generate::Options { prompt, steps, temperature, topp: top_p, topk: top_k, seed, context };
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
        Command::Inspect { model, context } => {
            let bytes = writer::AlignedBytes::read(&model)?;
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
        } => {
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
                            let bytes = writer::AlignedBytes::read(path)?;
                            let m = glmix::Model::parse(bytes.as_bytes())
                                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
    quiet: bool,
) -> Result<()> {
    let bytes = file.to_bytes()?;
    // Check what we wrote with the runtime's own parser before anything reaches the disk.
    let aligned = writer::AlignedBytes::new(&bytes);
    glmix::Model::parse(aligned.as_bytes())
        .map_err(|e| anyhow::anyhow!("the model does not pass the runtime's checks: {e}"))?;
    writer::write_atomically(output, &bytes)?;
    if !quiet {
        eprint!("{}", report::error_table(reports));
    }
    eprintln!("wrote {} ({} bytes, {} tensors)", output.display(), bytes.len(), file.tensors.len());
    Ok(())
}
