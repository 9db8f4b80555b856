"""The PyTorch reference against the runtime's architecture table (``glmix::arch``): the same (pattern, form)
pairs are mixers, and ``export_state_dict`` writes exactly the tensors, in the shapes, that the runtime's table
lists. ``arch_table.json`` is written by the runtime (``runtime/tests/arch_table.rs`` fails when it is stale)."""
import json
import os

import pytest

from glmix_models.model import LayerSpec, ModelArgs, Transformer

with open(os.path.join(os.path.dirname(__file__), "arch_table.json")) as f:
    TABLE = json.load(f)


def args(case):
    m = TABLE["model"]
    ls = LayerSpec(case["pattern"], case["param"], case["form"], m["n_heads"], m["n_heads"], m["head_dim"],
                   case["level_aware"])
    return ModelArgs(vocab_size=m["vocab_size"], dim=m["dim"], hidden_dim=m["hidden_dim"], n_layers=1,
                     max_context=m["max_context"], tied_embeddings=case["tied"], positional="none",
                     mlp=case["mlp"], layers=[ls])


def test_table_covers_every_form_and_both_outcomes():
    cases = TABLE["cases"]
    assert {c["form"] for c in cases} == {"attention", "recurrent", "chained", "state_space"}
    assert {c["defined"] for c in cases} == {True, False}
    assert {(c["level_aware"], c["defined"]) for c in cases} == {(a, b) for a in (True, False) for b in (True, False)}


@pytest.mark.parametrize("case", TABLE["cases"], ids=lambda c: f'{c["pattern"]}{c["param"]}-{c["form"]}-{c["mlp"]}{"-la" * c["level_aware"]}')
def test_reference_follows_the_runtime_table(case):
    if not case["defined"]:
        with pytest.raises(ValueError):
            args(case)
        return
    exported = Transformer(args(case)).export_state_dict()
    got = {name: list(t.shape) for name, t in exported.items()}
    want = {name: shape for name, shape in case["tensors"]}
    assert got == want
