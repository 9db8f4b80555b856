//! `glmix_tools::tasks` against `models/golden/tasks.json`, the samples `tasks.py` draws (written by
//! `python -m glmix_models.golden --eval-only`; `models/tests/test_evaluate.py` checks the Python side
//! still produces them). Every case: consecutive samples of one stream, tokens and masks exactly equal.

use glmix_tools::tasks::{Task, TaskStream};
use serde_json::Value;

fn param(params: &Value, key: &str, default: u32) -> u32 {
    params.get(key).map_or(default, |v| v.as_u64().unwrap() as u32)
}

fn task(name: &str, p: &Value) -> Task {
    match Task::by_name(name).unwrap() {
        Task::Copy { n, vocab } => Task::Copy { n: param(p, "n", n), vocab: param(p, "vocab", vocab) },
        Task::Recall { n_pairs, n_queries, n_keys, n_values } => Task::Recall {
            n_pairs: param(p, "n_pairs", n_pairs),
            n_queries: param(p, "n_queries", n_queries),
            n_keys: param(p, "n_keys", n_keys),
            n_values: param(p, "n_values", n_values),
        },
        Task::MultiHop { n_symbols, n_chains, hops } => Task::MultiHop {
            n_symbols: param(p, "n_symbols", n_symbols),
            n_chains: param(p, "n_chains", n_chains),
            hops: param(p, "hops", hops),
        },
    }
}

#[test]
fn rust_tasks_reproduce_the_python_fixture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/golden/tasks.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 12, "fixture has {} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    for case in cases {
        let t = task(case["task"].as_str().unwrap(), &case["params"]);
        names.insert(t.name());
        let seed = case["seed"].as_u64().unwrap();
        let want = case["samples"].as_array().unwrap();
        assert!(!want.is_empty());
        let got: Vec<_> = TaskStream::new(t, seed).unwrap().take(want.len()).collect();
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let tokens: Vec<u32> =
                w["tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
            let mask: Vec<bool> =
                w["mask"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() != 0).collect();
            assert_eq!(g.tokens, tokens, "{t:?} seed {seed} sample {i}: tokens");
            assert_eq!(g.mask, mask, "{t:?} seed {seed} sample {i}: mask");
        }
    }
    assert_eq!(names.len(), 3, "every task is in the fixture");
}
