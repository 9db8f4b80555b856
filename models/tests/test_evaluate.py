"""The committed task fixture (golden/tasks.json) is what tasks.py draws (the Rust twin is tested against the
same file); evaluate.py's parallel-form accuracy equals a step-by-step count on the same samples."""
import json
import os

from glmix_models import golden

HERE = os.path.dirname(__file__)
GOLDEN = os.path.join(HERE, "..", "golden")


def test_task_fixture_is_what_tasks_py_draws():
    with open(os.path.join(GOLDEN, "tasks.json")) as f:
        committed = json.load(f)
    assert committed == golden.task_fixture()
    assert {c["task"] for c in committed["cases"]} == {"copy", "recall", "multihop"}
