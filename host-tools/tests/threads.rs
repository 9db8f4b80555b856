//! `--threads`: `glmix generate` prints the same text for 1, 2 and 3 threads, for f32, q8_0 and q4_0
//! weights, greedy and sampled (a sampled run would part ways at the first logit that differed in a
//! single bit). stories260K from `../shared/data/llama2c_stories260K` (or `$GLMIX_SHARED_DATA`); skips
//! when it is missing, fails when `CI` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

mod data;

fn data_dir() -> Option<PathBuf> {
    data::shared("llama2c_stories260K")
}

fn glmix(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_glmix")).args(args).output().unwrap();
    assert!(out.status.success(), "glmix {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn generate_prints_the_same_text_for_every_thread_count() {
    let Some(dir) = data_dir() else { return };
    let work = std::env::temp_dir().join(format!("glmix-threads-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let (bin, tok) = (dir.join("stories260K.bin"), dir.join("tok512.bin"));
    for quant in ["f32", "q8_0", "q4_0"] {
        let model = work.join(format!("s-{quant}.glmx"));
        glmix(&[
            "import-llama2c",
            path(&bin),
            "--tokenizer",
            path(&tok),
            "-o",
            path(&model),
            "--quant",
            quant,
            "-q",
        ]);
        for sampling in [["-t", "0"], ["-t", "1"]] {
            let run = |threads: &str| {
                let mut args = vec!["generate", "--model", path(&model), "-n", "200", "-s", "7"];
                args.extend(sampling);
                args.extend(["--threads", threads]);
                glmix(&args)
            };
            let one = run("1");
            assert!(one.len() > 100, "{quant} {sampling:?}: {one:?}");
            for threads in ["2", "3"] {
                assert_eq!(run(threads), one, "{quant} {sampling:?} --threads {threads}");
            }
        }
    }
    std::fs::remove_dir_all(&work).unwrap();
}
