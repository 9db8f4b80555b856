//! `glmix_tools::tasks` against `models/golden/tasks.json`, the samples `tasks.py` draws (written by
//! `python -m glmix_models.golden --eval-only`; `models/tests/test_evaluate.py` checks the Python side
//! still produces them). Every case: consecutive samples of one stream, tokens and masks exactly equal.

use glmix_tools::tasks::{Task, TaskStream};
use serde_json::Value;

/// The named task with the fixture's parameters over its defaults.
fn task(name: &str, p: &Value) -> Task {
    p.as_object()
        .unwrap()
        .iter()
        .fold(Task::by_name(name).unwrap(), |t, (k, v)| t.with_param(k, v.as_u64().unwrap() as u32).unwrap())
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
    assert_eq!(names.len(), glmix_tools::tasks::TASK_NAMES.len(), "every task is in the fixture");
}
