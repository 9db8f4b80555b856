"""The step-matched grid's planning and queue (glmix_models.grid) and the results tables' helpers."""

import itertools
import json
import os
import sys
import time

from glmix_models import grid, results


def test_grid_runs_are_step_matched_and_complete():
    runs, notes = grid.all_runs({"tasks", "ablation", "lm"}, level_aware=True)
    tasks = [r for r in runs if r.key.startswith("tasks/")]
    ablation = [r for r in runs if r.key.startswith("ablation/")]
    lm = [r for r in runs if r.kind == "lm"]
    assert len(tasks) == len(grid.TASKS) * len(grid.STRUCTURES) * len(grid.SEEDS)
    # 2 lattices x {chained off, recurrent on, chained on} x 2 tasks x 2 seeds (recurrent off is the tasks grid's)
    assert len(ablation) == 2 * 3 * 2 * 2
    assert len(lm) == len(grid.LM_FAMILIES)
    assert len({r.key for r in runs}) == len(runs)
    for r in runs:
        args = r.train_args(1234)
        assert "--max_time" not in args  # no clock: the schedule follows steps
        assert args[args.index("--steps") + 1] == "1234"
        if r.kind == "task":
            assert args[args.index("--batch_size") + 1] == str(grid.TASK_BATCH)
    assert sum("--level_aware" in r.args for r in ablation) == 2 * 2 * 2 * 2
    assert not notes


def test_level_aware_cells_are_skipped_with_a_note_without_the_flag():
    runs, notes = grid.all_runs({"ablation"}, level_aware=False)
    assert len(runs) == 2 * 2 * 2 and all("-chained/" in r.key for r in runs)
    assert notes and "level_aware" in notes[0]


def test_task_setting_is_tasks_py_defaults():
    targs, ctx = grid.task_setting("copy")
    assert targs == {"n": 64, "vocab": 32, "max_gap": 31} and ctx == 159


def test_makespan_longest_first():
    assert grid.schedule_makespan([], 4) == 0
    assert grid.schedule_makespan([5, 3, 3, 2, 2, 1], 2) == 8
    assert grid.schedule_makespan([10, 1, 1], 8) == 10


def test_choose_steps_is_the_largest_fitting_multiple():
    runs, _ = grid.all_runs({"tasks", "lm"}, tasks={"copy"}, structures={"attention", "gla"}, level_aware=False)
    cells = {"tasks/copy/attention": {"rate": 20.0, "fixed_s": 5.0}, "tasks/copy/gla": {"rate": 7.0, "fixed_s": 9.0},
             "lm/attention": {"rate": 10.0, "fixed_s": 12.0}, "lm/gla": {"rate": 3.0, "fixed_s": 12.0}}
    for budget, parallel, frac in itertools.product((50, 400, 3000), (1, 2, 8), (0.5, 1.0)):
        s = grid.choose_steps(cells, runs, budget, parallel, frac)
        assert s % 100 == 0
        fits = [t for t in range(0, 20001, 100) if grid.plan_makespan(cells, runs, t, parallel, frac) <= budget]
        assert s == (max(fits) if fits else 0)


def test_queue_caps_concurrency_and_records_every_job(tmp_path):
    log = tmp_path / "events"
    code = ("import os, sys, time; f = open(sys.argv[1], 'a'); f.write('s %f\\n' % time.time()); f.flush(); "
            "time.sleep(0.3); f.write('e %f\\n' % time.time()); sys.exit(int(sys.argv[2]))")
    jobs = [(f"j{i}", str(tmp_path / f"j{i}"), [sys.executable, "-c", code, str(log), str(int(i == 3))])
            for i in range(5)]
    seen = []
    done = grid.run_queue(jobs, 2, str(tmp_path / "status.json"), on_update=lambda k, d, r: seen.append(k))
    assert sorted(done) == sorted(seen) == [f"j{i}" for i in range(5)]
    assert [done[f"j{i}"]["rc"] for i in range(5)] == [0, 0, 0, 1, 0]
    events = sorted((float(t), kind) for kind, t in (line.split() for line in log.read_text().splitlines()))
    live = peak = 0
    for _, kind in events:
        live += 1 if kind == "s" else -1
        peak = max(peak, live)
    assert peak <= 2
    assert json.load(open(tmp_path / "status.json"))["done"] == 5


def test_queue_deadline_kills_and_stops(tmp_path):
    jobs = [(f"j{i}", str(tmp_path / f"j{i}"), [sys.executable, "-c", "import time; time.sleep(30)"])
            for i in range(3)]
    t0 = time.time()
    done = grid.run_queue(jobs, 2, deadline=t0 + 1.0)
    assert time.time() - t0 < 10
    assert sorted(done) == ["j0", "j1"] and all(r["rc"] is None for r in done.values())


def test_measured_rate_from_a_log(tmp_path):
    d = tmp_path / "run"
    os.makedirs(d)
    recs = [{"event": "start"}] + [{"step": s, "tok_per_s": 1, "elapsed": 2.0 + 0.1 * s} for s in range(5, 45, 5)]
    (d / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    rate, t, step = grid.measured_rate(str(d))
    assert abs(rate - 10.0) < 1e-9 and step == 40 and abs(t - 6.0) < 1e-9
    assert grid.last_step(str(d)) == 40


def test_results_helpers():
    assert results.mean_both([50.0, 60.0]) == "55.00 (50.00, 60.00)"
    assert results.mean_both([None]) == "-"
    assert results.classify("/r", "/r/tasks/copy/pow2/s1337") == {"grid": "tasks", "task": "copy",
                                                                  "structure": "pow2", "seed": 1337}
    assert results.classify("/r", "/r/lm/gla") == {"grid": "lm", "family": "gla"}
    assert results.classify("/r", "/r/probe/tasks/copy/pow2/s1337") is None
    rows = [{"grid": "tasks", "task": "copy", "structure": "a", "seed": 1, "torch": 50.0, "f32": 50.0, "q8_0": 50.6},
            {"grid": "tasks", "task": "copy", "structure": "b", "seed": 1, "torch": 50.0, "f32": 50.0, "q8_0": 50.2}]
    g1, g2, over = results.gaps(rows)
    assert g1 == 0 and abs(g2 - 0.6) < 1e-9 and over == ["tasks/copy/a/s1"]


def test_mean_both_marks_a_missing_seed():
    assert results.mean_both([50.0, None]) == "50.00 (50.00, -)"
    assert results.mean_both([7.0]) == "7.00"


def test_pack_keeps_logs_and_caps_models(tmp_path):
    import tarfile

    runs = tmp_path / "runs"
    rows = []
    for task, size in (("copy", 300_000), ("recall", 900_000)):
        d = runs / "tasks" / task / "attention" / "s1"
        os.makedirs(d / "export")
        (d / "train_log.jsonl").write_text('{"event": "start"}\n')
        (d / "export" / "config.json").write_text("{}")
        (d / "stdout.txt").write_bytes(b"x" * 5000 + b"END")
        (d / "model-q8_0.glmx").write_bytes(os.urandom(size))
        rows.append({"grid": "tasks", "task": task, "structure": "attention", "seed": 1})
    parts = results.pack(str(runs), rows, str(tmp_path / "out"), limit_mb=1.0, part_mb=0.25)
    assert len(parts) > 1 and all(os.path.getsize(p) <= 0.25 * 2 ** 20 for p in parts)
    whole = tmp_path / "whole.tgz"
    whole.write_bytes(b"".join(open(p, "rb").read() for p in parts))
    with tarfile.open(whole) as tar:
        names = tar.getnames()
        manifest = tar.extractfile("results/MANIFEST.txt").read().decode()
        tail = tar.extractfile("results/tasks/copy/attention/s1/stdout-tail.txt").read()
    assert "results/tasks/copy/attention/s1/model.glmx" in names  # the copy model fits (priority over recall)
    assert "results/tasks/recall/attention/s1/model.glmx" not in names
    assert "tasks/recall/attention/s1/model.glmx" in manifest
    assert "results/tasks/recall/attention/s1/train_log.jsonl" in names
    assert tail.endswith(b"END") and len(tail) == 2048


def test_recall_lr_sweep_is_attention_at_other_rates():
    runs, _ = grid.all_runs({"sweep"}, level_aware=False)
    assert [r.key for r in runs] == [f"sweep/recall/attention-lr{lr:g}/s{grid.SEEDS[0]}" for lr in grid.SWEEP_LRS]
    for r, lr in zip(runs, grid.SWEEP_LRS):
        assert float(r.args[r.args.index("--lr") + 1]) == lr and "--data" in r.args and "recall" in r.args
    assert 2e-3 not in grid.SWEEP_LRS  # the grid's own rate is the tasks grid's run
    assert results.classify("/r", "/r/sweep/recall/attention-lr0.001/s1337")["grid"] == "sweep"
