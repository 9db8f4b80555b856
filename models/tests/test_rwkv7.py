"""RWKV-7: the chunked generalized delta rule == the step loop; the model's chunked form == its step form and
== token-by-token decoding; and, when the shared data is present, rwkv.cpp's tiny model gives rwkv.cpp's
logits."""
import os
from pathlib import Path

import pytest
import torch

from glmix_models.rwkv7 import Rwkv7Config, Rwkv7LM, load_ggmf, wkv7_chunked, wkv7_step

TOL = 1e-5


def wkv_inputs(T, seed, B=2, H=2, N=8, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    r, k, v = rand(B, H, T, N), rand(B, H, T, N) * 0.5, rand(B, H, T, N)
    # The decay range of RWKV-7: exp(-0.606531 * sigmoid(.)) in (0.545, 1).
    w = torch.exp(-0.606531 * torch.sigmoid(rand(B, H, T, N) * 2))
    kk = torch.nn.functional.normalize(rand(B, H, T, N), dim=-1)
    a = torch.sigmoid(rand(B, H, T, N))
    s0 = rand(B, H, N, N) * 0.3
    return [x.to(dtype) for x in (r, w, k, v, kk, a, s0)]


@pytest.mark.parametrize("T,chunk", [(1, 16), (7, 16), (7, 1), (33, 4), (33, 16), (64, 16), (50, 64)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_equals_step(T, chunk, dtype):
    r, w, k, v, kk, a, s0 = wkv_inputs(T, seed=T * 31 + chunk, dtype=dtype)
    for state in (None, s0):
        y1, S1 = wkv7_step(r, w, k, v, kk, a, state)
        y2, S2 = wkv7_chunked(r, w, k, v, kk, a, state, chunk=chunk)
        torch.testing.assert_close(y2, y1, atol=TOL, rtol=TOL)
        torch.testing.assert_close(S2, S1, atol=TOL, rtol=TOL)


def test_step_is_the_delta_rule():
    # One step against the matrix formula S (diag(w) - kk^T (kk * a)) + v k^T, y = S r.
    r, w, k, v, kk, a, s0 = wkv_inputs(1, seed=5, B=1, H=1, dtype=torch.float64)
    y, S = wkv7_step(r, w, k, v, kk, a, s0)
    kk0, a0 = kk[0, 0, 0], a[0, 0, 0]
    want = s0[0, 0] @ (torch.diag(w[0, 0, 0]) - torch.outer(kk0, kk0 * a0)) + torch.outer(v[0, 0, 0], k[0, 0, 0])
    torch.testing.assert_close(S[0, 0], want)
    torch.testing.assert_close(y[0, 0, 0], want @ r[0, 0, 0])


def tiny_model():
    cfg = Rwkv7Config(vocab=32, dim=16, n_layers=2, n_heads=2, ffn_dim=64, lora_w=8, lora_a=8, lora_v=4,
                      lora_g=8)
    return Rwkv7LM(cfg, seed=3)


def test_model_forms_and_token_by_token_agree():
    model = tiny_model()
    tokens = torch.randint(0, 32, (2, 21), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        chunked, s_chunked = model(tokens, form="chunked", chunk=8)
        step, s_step = model(tokens, form="step")
        torch.testing.assert_close(chunked, step, atol=TOL, rtol=TOL)
        # Decoding one token at a time carries the state (token shifts and S) across calls.
        state, outs = None, []
        for t in range(tokens.shape[1]):
            out, state = model(tokens[:, t:t + 1], state=state, form="step")
            outs.append(out)
        torch.testing.assert_close(torch.cat(outs, dim=1), step, atol=TOL, rtol=TOL)
        for (a1, f1, m1), (a2, f2, m2) in zip(state, s_chunked):
            torch.testing.assert_close(m1, m2, atol=TOL, rtol=TOL)
            torch.testing.assert_close(a1, a2)
            torch.testing.assert_close(f1, f2)
    assert model.cfg.state_words() == 2 * (2 * 16 + 2 * 8 * 8)


def test_model_trains():
    # The chunked form is differentiable: a few Adam steps lower the loss on a fixed batch.
    model = tiny_model()
    tokens = torch.randint(0, 32, (4, 17), generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        logits, _ = model(tokens[:, :-1], form="chunked", chunk=8)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 32), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def shared_rwkv_dir():
    base = Path(os.environ.get("GLMIX_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    d = base / "rwkv_cpp_tiny"
    if not d.is_dir():
        assert "CI" not in os.environ, f"CI is set but {d} is missing"
        pytest.skip(f"{d} not found (set GLMIX_SHARED_DATA)")
    return d


@pytest.mark.parametrize("form", ["step", "chunked"])
def test_tiny_rwkv7_matches_rwkv_cpp(form):
    d = shared_rwkv_dir()
    model = load_ggmf(d / "tiny-rwkv-7v0-834K-FP32.bin")
    want = torch.frombuffer(bytearray((d / "expected-logits-7v0-834K.bin").read_bytes()), dtype=torch.float32)
    with torch.no_grad():
        logits, _ = model(torch.tensor([[0x22, 0x69, 0x6E]]), form=form, chunk=2)
    diff = logits[0, -1] - want
    assert diff.abs().max().item() < TOL, diff.abs().max().item()
    assert abs(diff.sum().item()) <= 0.00105


def test_golden_reproduces(tmp_path):
    # The committed golden (models/golden_rwkv7) is what write_golden makes: same file bytes, same logits.
    import json

    from glmix_models.rwkv7 import GOLDEN_TOKENS, golden_logits, write_golden

    committed = Path(__file__).resolve().parents[1] / "golden_rwkv7"
    write_golden(str(tmp_path))
    assert (tmp_path / "model.bin").read_bytes() == (committed / "model.bin").read_bytes()
    golden = json.loads((committed / "logits.json").read_text())
    assert golden["tokens"] == GOLDEN_TOKENS
    fresh = golden_logits(load_ggmf(committed / "model.bin"), GOLDEN_TOKENS)
    torch.testing.assert_close(fresh, torch.tensor(golden["logits"], dtype=torch.float64), atol=1e-7, rtol=1e-7)
    # The chunked form in float32 agrees with the float64 definition.
    with torch.no_grad():
        f32, _ = load_ggmf(committed / "model.bin")(torch.tensor([GOLDEN_TOKENS]), form="chunked", chunk=16)
    torch.testing.assert_close(f32[0].double(), fresh, atol=TOL, rtol=TOL)
