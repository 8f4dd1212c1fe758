"""Fisher merging and RegMean per tensor: the statistics must move the result away from the plain average.

Each expected value is computed by hand here (Python loops / numpy), not with the code under test, and
each case is built so that the statistic-weighted merge is far from the average: a method that dropped
its statistics (and so fell back to the average) fails every test below. Model-level checks (the
statistics measured on a probe reach the merge) are in ``tests/test_merge_run.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mote.merge import get_method, merge_state_dicts

FISHER_EPS = 1e-8  # fisher's default eps


def _fisher_by_hand(thetas: list[torch.Tensor], fishers: list[torch.Tensor], weights: list[float],
                    eps: float) -> torch.Tensor:
    """Per entry: sum_i w_i (F_i + eps) theta_i / sum_i w_i (F_i + eps), in Python floats."""
    flat_t = [t.reshape(-1).tolist() for t in thetas]
    flat_f = [f.reshape(-1).tolist() for f in fishers]
    out = []
    for j in range(len(flat_t[0])):
        num = sum(w * (f[j] + eps) * t[j] for w, f, t in zip(weights, flat_f, flat_t, strict=True))
        den = sum(w * (f[j] + eps) for w, f in zip(weights, flat_f, strict=True))
        out.append(num / den)
    return torch.tensor(out, dtype=torch.float64).reshape(thetas[0].shape)


def _spread_fishers(shape: tuple[int, ...], n: int, seed: int) -> list[torch.Tensor]:
    """Fishers spanning six orders of magnitude across models (as real squared gradients do)."""
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(shape, generator=g) * 10.0 ** torch.randint(-4, 2, shape, generator=g).float()
            for _ in range(n)]


def test_fisher_is_the_fisher_weighted_mean_by_hand() -> None:
    g = torch.Generator().manual_seed(20)
    thetas = [torch.randn(6, 5, generator=g) for _ in range(3)]
    fishers = _spread_fishers((6, 5), 3, seed=21)
    for f in fishers:
        f[0] = 0.0  # row 0 got no gradient in any model: eps makes it the plain mean there
    fisher = get_method("fisher")
    out = fisher(thetas, None, stats=fishers, **fisher.validate({}, 3))
    expected = _fisher_by_hand(thetas, fishers, [1.0, 1.0, 1.0], FISHER_EPS)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-6)
    mean = torch.stack(thetas).mean(0)
    torch.testing.assert_close(out[0], mean[0])
    assert float((out - mean).abs().max()) > 0.5  # a clear margin: dropping the Fisher would fail here


def test_fisher_weights_and_eps_by_hand() -> None:
    g = torch.Generator().manual_seed(22)
    thetas = [torch.randn(4, 3, generator=g, dtype=torch.float64) for _ in range(2)]
    fishers = _spread_fishers((4, 3), 2, seed=23)
    fishers = [f.double() for f in fishers]
    fisher = get_method("fisher")
    out = fisher(thetas, None, stats=fishers, **fisher.validate({"weights": [1.0, 4.0], "eps": 0.01}, 2))
    expected = _fisher_by_hand(thetas, fishers, [1.0, 4.0], 0.01)
    torch.testing.assert_close(out, expected)
    weighted_mean = (thetas[0] + 4 * thetas[1]) / 5
    assert float((out - weighted_mean).abs().max()) > 0.3


def test_fisher_zero_for_one_model_gives_the_other_model() -> None:
    g = torch.Generator().manual_seed(24)
    thetas = [torch.randn(8, generator=g, dtype=torch.float64) for _ in range(2)]
    fisher = get_method("fisher")
    stats = [torch.zeros(8, dtype=torch.float64), torch.full((8,), 1e-2, dtype=torch.float64)]
    out = fisher(thetas, None, stats=stats, **fisher.validate({}, 2))
    # model 0 keeps weight eps / (1e-2 + 2 eps) ~ 1e-6
    torch.testing.assert_close(out, thetas[1], rtol=0, atol=1e-5 * float((thetas[0] - thetas[1]).abs().max()))


def test_fisher_statistics_reach_it_through_the_merge_loop() -> None:
    """merge_state_dicts hands each tensor's per-model statistics, by name, to the method."""
    g = torch.Generator().manual_seed(25)
    models = [{"a.weight": torch.randn(3, 4, generator=g), "a.bias": torch.randn(3, generator=g)} for _ in range(2)]
    fishers = [{"a.weight": f} for f in _spread_fishers((3, 4), 2, seed=26)]  # no Fisher for the bias
    fisher = get_method("fisher")
    merged, _ = merge_state_dicts(fisher, fisher.validate({}, 2), models, None, stats=fishers)
    expected = _fisher_by_hand([m["a.weight"] for m in models], [f["a.weight"] for f in fishers], [1.0, 1.0],
                               FISHER_EPS)
    torch.testing.assert_close(merged["a.weight"].double(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(merged["a.bias"], (models[0]["a.bias"] + models[1]["a.bias"]) / 2)
    assert float((merged["a.weight"] - (models[0]["a.weight"] + models[1]["a.weight"]) / 2).abs().max()) > 0.3


# -- RegMean ---------------------------------------------------------------------------------------
def _regmean_by_hand(weights: list[np.ndarray], grams: list[np.ndarray], alpha: float,
                     scale: list[float]) -> np.ndarray:
    """``W* = (sum_i s_i W_i G~_i) (sum_i s_i G~_i)^-1`` for ``y = x W^T`` (W is (out, in), G is (in, in)),
    ``G~ = alpha G + (1 - alpha) diag(G)``. This is the transpose of ``(sum G~)^-1 sum G~ W^T``
    (G symmetric), written the other way round on purpose."""
    shrunk = [alpha * g + (1 - alpha) * np.diag(np.diag(g)) for g in grams]
    lhs = sum(s * w @ g for s, w, g in zip(scale, weights, shrunk, strict=True))
    total = sum(s * g for s, g in zip(scale, shrunk, strict=True))
    return np.asarray(lhs @ np.linalg.inv(total))


def test_regmean_takes_each_input_dimension_from_the_model_that_uses_it() -> None:
    # model 1's inputs live in dims 0-1, model 2's in dims 2-4: block-diagonal Grams, so (for any alpha) the
    # merged weight's columns 0-1 are model 1's and columns 2-4 model 2's, far from their average
    g = torch.Generator().manual_seed(30)
    w1, w2 = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    x1 = torch.zeros(40, 5, dtype=torch.float64)
    x1[:, :2] = torch.randn(40, 2, generator=g, dtype=torch.float64)
    x2 = torch.zeros(40, 5, dtype=torch.float64)
    x2[:, 2:] = torch.randn(40, 3, generator=g, dtype=torch.float64)
    expected = torch.cat([w1[:, :2], w2[:, 2:]], dim=1)
    regmean = get_method("regmean")
    for alpha in (1.0, 0.9, 0.5):
        out = regmean([w1, w2], None, stats=[x1.T @ x1, x2.T @ x2], **regmean.validate({"alpha": alpha}, 2))
        torch.testing.assert_close(out, expected)
    assert float((expected - (w1 + w2) / 2).abs().max()) > 0.5


@pytest.mark.parametrize(("alpha", "scale"), [(0.9, [1.0, 1.0, 1.0]), (1.0, [1.0, 1.0, 1.0]), (0.6, [1.0, 3.0, 0.5])])
def test_regmean_matches_the_closed_form_by_hand(alpha: float, scale: list[float]) -> None:
    rng = np.random.default_rng(31)
    ws = [rng.standard_normal((4, 6)) for _ in range(3)]
    # anisotropic inputs: each model's inputs are stretched along different dimensions
    xs = [rng.standard_normal((50, 6)) * rng.uniform(0.1, 5.0, size=6) for _ in range(3)]
    grams = [x.T @ x / len(x) for x in xs]
    regmean = get_method("regmean")
    params = {"alpha": alpha} if scale == [1.0, 1.0, 1.0] else {"alpha": alpha, "weights": scale}
    out = regmean([torch.from_numpy(w) for w in ws], None, stats=[torch.from_numpy(g) for g in grams],
                  **regmean.validate(params, 3))
    expected = _regmean_by_hand(ws, grams, alpha, scale)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-8, atol=1e-10)
    average = sum(s * w for s, w in zip(scale, ws, strict=True)) / sum(scale)
    assert float(np.abs(expected - average).max()) > 0.3


def test_regmean_float32_layer_and_merge_loop() -> None:
    """Float32 weights with float32 Grams (as the probe writes them), through merge_state_dicts by name."""
    rng = np.random.default_rng(32)
    ws = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2)]
    xs = [rng.standard_normal((30, 4)) * rng.uniform(0.1, 4.0, size=4) for _ in range(2)]
    grams = [(x.T @ x / len(x)).astype(np.float32) for x in xs]
    models = [{"lin.weight": torch.from_numpy(w), "lin.bias": torch.full((3,), float(i))} for i, w in enumerate(ws)]
    regmean = get_method("regmean")
    merged, _ = merge_state_dicts(regmean, regmean.validate({}, 2), models, None,
                                  stats=[{"lin.weight": torch.from_numpy(g)} for g in grams])
    expected = _regmean_by_hand([w.astype(np.float64) for w in ws], [g.astype(np.float64) for g in grams], 0.9,
                                [1.0, 1.0])
    assert merged["lin.weight"].dtype == torch.float32
    np.testing.assert_allclose(merged["lin.weight"].numpy(), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(merged["lin.bias"], torch.full((3,), 0.5))  # no Gram: the average
    assert float(np.abs(expected - (ws[0] + ws[1]) / 2).max()) > 0.2
