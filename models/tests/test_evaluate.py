"""The committed task fixture (golden/tasks.json) is what tasks.py draws (the Rust twin is tested against the
same file); evaluate.py's parallel-form accuracy equals a step-by-step count on the same samples."""
import json
import os
from dataclasses import replace

import pytest
import torch

from glmix_models import evaluate, golden
from glmix_models.model import LayerSpec, ModelArgs, Transformer
from glmix_models.tasks import TASKS, Copy, SplitMix64
from glmix_models.train import CONFIGS, ShakespeareData
from glmix_models.train import evaluate as evaluate_train

HERE = os.path.dirname(__file__)
GOLDEN = os.path.join(HERE, "..", "golden")


def test_task_fixture_is_what_tasks_py_draws():
    with open(os.path.join(GOLDEN, "tasks.json")) as f:
        committed = json.load(f)
    assert committed == golden.task_fixture()
    assert {c["task"] for c in committed["cases"]} == set(TASKS)


@pytest.mark.parametrize("m,c", [(1, 1), (2, 2), (5, 3), (7, 0), (10, 10), (64, 32), (4096, 16)])
def test_sparse_choose_is_the_dense_definition(m, c):
    for seed in range(100):
        a, b = SplitMix64(seed), SplitMix64(seed)
        assert a.choose(m, c) == b.choose_dense(m, c)
        assert a.state == b.state  # same draws consumed: the stream continues identically


def test_agreement_fixture_is_what_evaluate_py_predicts():
    with open(os.path.join(GOLDEN, "task_eval.json")) as f:
        committed = json.load(f)["cases"]
    fresh = golden.agreement_fixture(GOLDEN)["cases"]
    assert len(committed) == len(fresh) == len(golden.AGREEMENT_MODELS) * len(golden.AGREEMENT_TASKS)
    for c, n in zip(committed, fresh):
        assert (c["model"], c["task"], c["params"], c["correct"]) == (n["model"], n["task"], n["params"], n["correct"])
        assert c["predictions"] == n["predictions"]
        assert c["margins"] == pytest.approx(n["margins"], rel=1e-3, abs=1e-6)


def tiny_task_checkpoint(tmp_path, vocab=9, context=24, seed=0):
    torch.manual_seed(seed)
    ls = LayerSpec("pow2_lattice", 0, "recurrent", 2, 2, 8)
    args = ModelArgs(vocab_size=vocab, dim=16, hidden_dim=32, n_layers=2, max_context=context, mlp="gelu",
                     layers=[ls, ls])
    m = Transformer(args)
    with torch.no_grad():  # larger than the init, so that predictions vary across positions
        for p in m.parameters():
            p.add_(0.5 * torch.randn_like(p))
    path = tmp_path / "best.pt"
    torch.save({"model": m.state_dict(), "config": {"data": "copy"}, "model_args": args.to_config()}, path)
    return str(path), m.eval()


@torch.no_grad()
def step_count(m, task, n, seed):
    """Accuracy the way the runtime computes it: one token at a time through the decode (step) form."""
    rng, correct, answers = SplitMix64(seed), 0, 0
    for _ in range(n):
        toks, mask = task.sample(rng)
        caches = m.new_caches(1, len(toks))
        for i in range(len(toks) - 1):
            logits = m.step(torch.tensor([toks[i]]), caches)
            if mask[i + 1]:
                answers += 1
                correct += int(logits[0].argmax()) == toks[i + 1]
    return correct, answers


def test_cli_task_accuracy_equals_a_step_by_step_count(tmp_path, capsys):
    path, m = tiny_task_checkpoint(tmp_path)
    evaluate.main(["--task", "copy", "--checkpoint", path, "--samples", "12", "--seed", "3", "--n", "8",
                   "--vocab", "7", "--max_gap", "4", "--json"])
    r = json.loads(capsys.readouterr().out)
    correct, answers = step_count(m, Copy(n=8, vocab=7, max_gap=4), 12, 3)
    assert (r["correct"], r["answers"]) == (correct, answers) == (r["correct"], 12 * 8)
    assert 0 < correct < answers  # a count that is neither trivially 0 nor trivially all
    assert r["params"] == {"n": 8, "vocab": 7, "max_gap": 4} and r["accuracy"] == correct / answers


def test_task_too_big_for_the_model_is_an_error(tmp_path):
    path, _ = tiny_task_checkpoint(tmp_path)
    with pytest.raises(SystemExit, match="vocabulary has 9"):
        evaluate.main(["--task", "copy", "--checkpoint", path, "--n", "8"])  # vocab 32 + SEP > 9
    with pytest.raises(SystemExit, match="context is 24"):
        evaluate.main(["--task", "copy", "--checkpoint", path, "--n", "20", "--vocab", "7"])


def test_text_loss_is_train_py_heldout_evaluation(tmp_path):
    torch.manual_seed(1)
    ls = LayerSpec("pow2_lattice", 0, "recurrent", 2, 2, 8)
    m = Transformer(ModelArgs(vocab_size=256, dim=16, hidden_dim=32, n_layers=1, max_context=16, layers=[ls])).eval()
    raw = bytes(torch.randint(32, 127, (3001,)).tolist())
    path = tmp_path / "input.txt"
    path.write_bytes(raw)
    cfg = replace(CONFIGS["shakespeare-tiny"], context=16, batch_size=7, eval_batches=0)
    ref = evaluate_train(m, ShakespeareData(str(path), 16, torch.device("cpu"), 0), cfg,
                         lambda: torch.autocast("cpu", enabled=False))
    held = evaluate.split_bytes(raw, "heldout")
    assert len(held) == 3001 - int(0.9 * 3001)
    r = evaluate.text_loss(m, held)
    assert r["windows"] == (len(held) - 1) // 16
    assert r["bits_per_char"] == pytest.approx(ref["val_bpc"], rel=1e-6)
    assert evaluate.text_loss(m, held[:40])["windows"] == 2
