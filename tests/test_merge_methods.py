"""Merge methods on small tensors: registry, hand-computed examples, invariants, mergekit cross-check."""

from __future__ import annotations

import math

import pytest
import torch

from mote.merge import available_methods, get_method, merge_method, merge_state_dicts
from mote.merge.direction import gram_matrix, slerp_coefficients
from mote.merge.registry import unregister
from mote.merge.slerp import iterative_slerp, slerp_pair
from mote.merge.sparsify import bernoulli_drop, trim_magnitude
from mote.merge.task_vector import IncompatibleModelsError, apply_task_vector, check_compatible, task_vector

BUILTINS = ["dare_linear", "dare_ties", "fisher", "linear", "regmean", "slerp", "slerp_task_vector", "task_arithmetic",
            "ties"]
# parameters under which N identical models must merge to that model
IDENTITY_PARAMS = {
    "task_arithmetic": {"normalize": True},
    "dare_linear": {"density": 1.0, "normalize": True},
    "dare_ties": {"density": 1.0, "normalize": True},
}


def _stats(method: str, tensors: list[torch.Tensor]) -> list[torch.Tensor] | None:
    if method == "fisher":
        return [torch.rand_like(t) + 0.1 for t in tensors]
    if method == "regmean" and tensors[0].dim() == 2:
        xs = [torch.randn(20, tensors[0].shape[1]) for _ in tensors]
        return [x.T @ x for x in xs]
    return None


# -- the matrix over every registered method -------------------------------------------------------
def test_every_builtin_is_registered() -> None:
    assert set(BUILTINS) <= set(available_methods())
    for name in BUILTINS:
        assert get_method(name).reference_url.startswith("https://")


@pytest.mark.parametrize("name", BUILTINS)
def test_identical_models_merge_to_themselves(name: str) -> None:
    torch.manual_seed(0)
    method = get_method(name)
    base, model = torch.randn(6, 4), torch.randn(6, 4)
    tensors = [model.clone() for _ in range(3)]
    kwargs = method.validate(IDENTITY_PARAMS.get(name, {}), n_models=3)
    out = method(tensors, base, stats=_stats(name, tensors), **kwargs)
    assert out.shape == model.shape and out.dtype == model.dtype
    torch.testing.assert_close(out, model, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", BUILTINS)
def test_methods_keep_dtype_and_stay_finite(name: str) -> None:
    torch.manual_seed(1)
    method = get_method(name)
    base = torch.randn(5, 3, dtype=torch.bfloat16)
    tensors = [base + 0.1 * torch.randn(5, 3, dtype=torch.bfloat16) for _ in range(2)]
    params = {"density": 0.5} if any(p.required for p in method.params) else {}
    out = method(tensors, base, stats=_stats(name, tensors), **method.validate(params, 2))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name", ["task_arithmetic", "ties", "dare_linear", "dare_ties"])
def test_lambda_zero_gives_the_base(name: str) -> None:
    method = get_method(name)
    base = torch.randn(7)
    tensors = [base + torch.randn(7) for _ in range(3)]
    params: dict[str, object] = {"lambda": 0.0}
    if name.startswith("dare"):
        params["density"] = 0.5
    assert torch.equal(method(tensors, base, **method.validate(params, 3)), base)


# -- hand-computed examples ------------------------------------------------------------------------
TIES_TAUS = [
    torch.tensor([3.0, -1.0, 2.0, -0.5, 0.2]),
    torch.tensor([-2.0, 4.0, 1.0, -0.1, 0.3]),
    torch.tensor([1.0, -5.0, -4.0, 0.6, 0.05]),
]


def test_ties_by_hand() -> None:
    # density 0.6 keeps 3 of 5 entries per vector: [3,-1,2,0,0], [-2,4,1,0,0], [1,-5,-4,0,0];
    # elected signs of the sums [2,-2,-1,0,0]: + - - + +; disjoint means: (3+1)/2, (-1-5)/2, -4/1, 0, 0
    ties = get_method("ties")
    base = torch.zeros(5)
    out = ties(TIES_TAUS, base, **ties.validate({"density": 0.6}, 3))
    torch.testing.assert_close(out, torch.tensor([2.0, -3.0, -4.0, 0.0, 0.0]))
    base = torch.ones(5)
    out = ties([base + t for t in TIES_TAUS], base, **ties.validate({"density": 0.6, "lambda": 0.5}, 3))
    torch.testing.assert_close(out, torch.tensor([2.0, -0.5, -1.0, 1.0, 1.0]))


def test_ties_weights_enter_the_sign_vote_and_the_divisor() -> None:
    # weights [1,2,1]: d = [3,-1,2,0,0], [-4,8,2,0,0], [1,-5,-4,0,0]; sums [0,2,0,0,0] -> all +
    ties = get_method("ties")
    out = ties(TIES_TAUS, torch.zeros(5), **ties.validate({"density": 0.6, "weights": [1, 2, 1]}, 3))
    torch.testing.assert_close(out, torch.tensor([2.0, 4.0, 4.0 / 3.0, 0.0, 0.0]))


def test_linear_and_task_arithmetic_by_hand() -> None:
    a, b = torch.tensor([0.0, 2.0]), torch.tensor([4.0, 6.0])
    linear = get_method("linear")
    torch.testing.assert_close(linear([a, b], None, **linear.validate({"weights": [1, 3]}, 2)), torch.tensor([3.0, 5.0]))
    ta = get_method("task_arithmetic")
    base = torch.tensor([1.0, 1.0])
    out = ta([a, b], base, **ta.validate({"weights": [1, 0.5], "lambda": 2.0}, 2))
    # 1 + 2 * (1*(a-1) + 0.5*(b-1)) = 1 + 2 * ([-1, 1] + [1.5, 2.5])
    torch.testing.assert_close(out, torch.tensor([2.0, 8.0]))


def test_fisher_and_regmean_by_hand() -> None:
    fisher = get_method("fisher")
    out = fisher([torch.tensor([0.0, 0.0]), torch.tensor([4.0, 4.0])], None,
                 stats=[torch.tensor([1.0, 0.0]), torch.tensor([3.0, 0.0])], **fisher.validate({"eps": 1e-12}, 2))
    torch.testing.assert_close(out, torch.tensor([3.0, 2.0]))  # Fisher-weighted, then plain mean where F = 0
    regmean = get_method("regmean")
    w1, w2 = torch.tensor([[2.0]]), torch.tensor([[6.0]])
    out = regmean([w1, w2], None, stats=[torch.tensor([[1.0]]), torch.tensor([[3.0]])], **regmean.validate({}, 2))
    torch.testing.assert_close(out, torch.tensor([[5.0]]))  # (1*2 + 3*6) / 4


def test_regmean_is_the_least_squares_fit_to_every_models_outputs() -> None:
    torch.manual_seed(2)
    ws = [torch.randn(3, 4, dtype=torch.float64) for _ in range(2)]
    xs = [torch.randn(30, 4, dtype=torch.float64) for _ in range(2)]
    regmean = get_method("regmean")
    out = regmean(ws, None, stats=[x.T @ x for x in xs], **regmean.validate({"alpha": 1.0}, 2))
    x_all = torch.cat(xs)
    y_all = torch.cat([x @ w.T for x, w in zip(xs, ws, strict=True)])
    expected = torch.linalg.lstsq(x_all, y_all).solution.T
    torch.testing.assert_close(out, expected)


def test_slerp_endpoints_norm_and_right_angle() -> None:
    a, b = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])
    torch.testing.assert_close(slerp_pair(a, b, 0.0), a)
    torch.testing.assert_close(slerp_pair(a, b, 1.0), b)
    torch.testing.assert_close(slerp_pair(a, b, 0.5), torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))
    torch.manual_seed(3)
    x, y = torch.randn(50), torch.randn(50)
    y = y / y.norm() * x.norm()
    for t in (0.1, 0.37, 0.8):
        assert math.isclose(float(slerp_pair(x, y, t).norm()), float(x.norm()), rel_tol=1e-5)


def test_slerp_falls_back_to_lerp_when_nearly_parallel() -> None:
    a = torch.randn(100, dtype=torch.float64)
    b = 2 * a + 1e-6 * torch.randn(100, dtype=torch.float64)
    torch.testing.assert_close(slerp_pair(a, b, 0.25), 0.75 * a + 0.25 * b)


def test_slerp_method_two_models_and_n_models() -> None:
    slerp = get_method("slerp")
    a, b, c = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), torch.tensor([-1.0, 0.0])
    torch.testing.assert_close(slerp([a, b], None, **slerp.validate({"t": 0.5}, 2)), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    # equal weights: slerp(slerp(a, b, 1/2), c, 1/3): from 45 degrees, a third of the way to 180 degrees
    out = slerp([a, b, c], None, **slerp.validate({}, 3))
    torch.testing.assert_close(out, torch.tensor([math.cos(math.radians(90)), math.sin(math.radians(90))]),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(out, iterative_slerp([a, b, c], [1, 1, 1]))


def test_span_coefficients_reproduce_iterative_slerp() -> None:
    torch.manual_seed(4)
    vecs = [{"w": torch.randn(5, 4, dtype=torch.float64), "b": torch.randn(3, dtype=torch.float64)} for _ in range(3)]
    vecs.append({k: 3 * v + 1e-9 for k, v in vecs[0].items()})  # nearly parallel to the first: lerp step
    weights = [0.5, 2.0, 1.0, 0.7]
    gram = gram_matrix(vecs, ["b", "w"])
    flat = [torch.cat([v["b"].reshape(-1), v["w"].reshape(-1)]) for v in vecs]
    for accumulate in ("sum", "mean"):
        coef = slerp_coefficients(gram, torch.tensor(weights), accumulate)
        expected = iterative_slerp(flat, weights, accumulate)
        torch.testing.assert_close(sum(c * f for c, f in zip(coef, flat, strict=True)), expected)



# -- SLERP of task vectors (the form merging papers compare with) ------------------------------------
def _slerp_by_hand(a: list[float], b: list[float], angle: float, t: float) -> list[float]:
    """sin((1-t) angle)/sin(angle) * a + sin(t angle)/sin(angle) * b, written out per entry."""
    s0, s1 = math.sin((1 - t) * angle) / math.sin(angle), math.sin(t * angle) / math.sin(angle)
    return [s0 * x + s1 * y for x, y in zip(a, b, strict=True)]


def test_slerp_task_vector_by_hand_at_a_known_angle() -> None:
    # tau_1 = 2 e_1, tau_2 = 3 (cos 60, sin 60, 0, 0): the angle between the task vectors is 60 degrees
    base = torch.tensor([5.0, -1.0, 0.5, 2.0], dtype=torch.float64)
    tau1 = [2.0, 0.0, 0.0, 0.0]
    tau2 = [3 * math.cos(math.pi / 3), 3 * math.sin(math.pi / 3), 0.0, 0.0]
    models = [base + torch.tensor(tau1, dtype=torch.float64), base + torch.tensor(tau2, dtype=torch.float64)]
    method = get_method("slerp_task_vector")
    for t in (0.0, 0.3, 0.5, 1.0):
        expected = base + torch.tensor(_slerp_by_hand(tau1, tau2, math.pi / 3, t), dtype=torch.float64)
        torch.testing.assert_close(method(models, base, **method.validate({"t": t}, 2)), expected)
    # the default t is 0.5, and weights [1, 1] are the same merge
    mid = base + torch.tensor(_slerp_by_hand(tau1, tau2, math.pi / 3, 0.5), dtype=torch.float64)
    torch.testing.assert_close(method(models, base, **method.validate({}, 2)), mid)
    torch.testing.assert_close(method(models, base, **method.validate({"weights": [1, 1]}, 2)), mid)
    # weights [1, 3]: t = 3 / (1 + 3) towards the second model
    expected = base + torch.tensor(_slerp_by_hand(tau1, tau2, math.pi / 3, 0.75), dtype=torch.float64)
    torch.testing.assert_close(method(models, base, **method.validate({"weights": [1, 3]}, 2)), expected)


def test_slerp_task_vector_three_models_by_hand() -> None:
    # orthonormal task vectors e1, e2, e3 with equal weights: slerp(e1, e2, 1/2) = (e1 + e2)/sqrt 2 (unit,
    # 90 degrees from e3), then a third of the way (30 of 90 degrees) to e3: sin 60 * that + sin 30 * e3
    base = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    eye = torch.eye(4, dtype=torch.float64)
    method = get_method("slerp_task_vector")
    out = method([base + eye[0], base + eye[1], base + eye[2]], base, **method.validate({}, 3))
    c = math.sin(math.pi / 3) / math.sqrt(2)
    torch.testing.assert_close(out, base + torch.tensor([c, c, 0.5, 0.0], dtype=torch.float64))


def test_slerp_task_vector_falls_back_to_lerp_of_the_task_vectors() -> None:
    method = get_method("slerp_task_vector")
    base = torch.randn(30, dtype=torch.float64)
    tau = torch.randn(30, dtype=torch.float64)
    # colinear task vectors (|cos| > 0.9995): base + lerp(tau_1, tau_2, t)
    out = method([base + tau, base + 3 * tau], base, **method.validate({"t": 0.25}, 2))
    torch.testing.assert_close(out, base + 0.75 * tau + 0.25 * 3 * tau)
    # a model equal to the base has task vector 0: lerp, so t moves it linearly towards the other one
    out = method([base.clone(), base + tau], base, **method.validate({"t": 0.25}, 2))
    torch.testing.assert_close(out, base + 0.25 * tau)


def test_slerp_task_vector_differs_from_the_average_where_weight_space_slerp_does_not() -> None:
    """Realistic fine-tunes: weights nearly parallel (|tau| << |theta_0|), task vectors at a wide angle."""
    g = torch.Generator().manual_seed(12)
    base = 0.05 * torch.randn(64, 48, generator=g)  # a MiniLM-sized weight scale
    models = [base + 5e-4 * torch.randn(64, 48, generator=g) for _ in range(2)]  # |tau| ~ 1% of |theta_0|
    cos_weights = float(torch.nn.functional.cosine_similarity(models[0].reshape(-1), models[1].reshape(-1), dim=0))
    assert cos_weights > 0.9995  # mergekit's colinear threshold: weight-space SLERP is a lerp here
    average = get_method("linear")(models, None)
    weight_space, task_vector_slerp = get_method("slerp"), get_method("slerp_task_vector")
    torch.testing.assert_close(weight_space(models, None, **weight_space.validate({}, 2)), average)
    out = task_vector_slerp(models, base, **task_vector_slerp.validate({}, 2))
    # near-orthogonal task vectors: the slerp midpoint is (tau_1 + tau_2) / (2 cos(angle / 2)), ~1.4x the mean
    moved = float((out - average).norm() / (average - base).norm())
    assert moved > 0.3, moved
    taus = [(m - base).double().reshape(-1) for m in models]
    angle = math.acos(float(torch.dot(taus[0], taus[1]) / (taus[0].norm() * taus[1].norm())))
    expected = base.double() + (taus[0] + taus[1]).reshape(64, 48) * (math.sin(angle / 2) / math.sin(angle))
    torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-7)


def test_slerp_task_vector_needs_the_base() -> None:
    method = get_method("slerp_task_vector")
    assert method.needs_base
    with pytest.raises(ValueError, match="needs the base tensor"):
        method([torch.ones(2), torch.zeros(2)], None, **method.validate({}, 2))
    with pytest.raises(ValueError, match="merges task vectors: give the base model"):
        merge_state_dicts(method, method.validate({}, 2), [{"w": torch.ones(2)}, {"w": torch.zeros(2)}], None)
    with pytest.raises(ValueError, match="weights must be > 0"):
        method([torch.ones(2), torch.zeros(2)], torch.zeros(2), **method.validate({"weights": [1.0, -1.0]}, 2))
    with pytest.raises(ValueError, match="exactly 2 models"):
        method([torch.ones(2)] * 3, torch.zeros(2), **method.validate({"t": 0.5}, 3))


def test_separate_slerp_variant_uses_task_vector_slerp() -> None:
    from mote.pipeline.variants import DEFAULT_PARAMETERS, all_variants

    variant = all_variants()["separate-slerp"]
    assert variant.method == "slerp_task_vector"
    get_method(variant.method).validate(DEFAULT_PARAMETERS.get(variant.method, {}), n_models=3)

# -- DARE ------------------------------------------------------------------------------------------
def test_dare_expectation_equals_its_input() -> None:
    torch.manual_seed(5)
    tau = torch.randn(100)
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([bernoulli_drop(tau, 0.5, "inverse", gen) for _ in range(4000)])
    sigma = tau.abs() / math.sqrt(4000)  # std of the mean: |tau| sqrt((1-p)/p) / sqrt(S), p = 0.5
    assert ((draws.mean(0) - tau).abs() <= 5 * sigma + 1e-6).all()


def test_dare_l1_rescale_keeps_the_l1_norm_and_is_seeded() -> None:
    tau = torch.randn(200)
    dropped = bernoulli_drop(tau, 0.3, "l1", torch.Generator().manual_seed(1))
    assert math.isclose(float(dropped.abs().sum()), float(tau.abs().sum()), rel_tol=1e-5)
    assert 0.15 < float((dropped != 0).float().mean()) < 0.45
    dare = get_method("dare_ties")
    base = torch.zeros(200)
    models = [tau, -0.5 * tau + torch.randn(200)]
    one = dare(models, base, **dare.validate({"density": 0.3, "seed": 7}, 2))
    assert torch.equal(one, dare(models, base, **dare.validate({"density": 0.3, "seed": 7}, 2)))
    assert not torch.equal(one, dare(models, base, **dare.validate({"density": 0.3, "seed": 8}, 2)))


def test_trim_magnitude_keeps_at_least_one() -> None:
    torch.testing.assert_close(trim_magnitude(torch.tensor([0.1, -3.0, 2.0]), 0.01), torch.tensor([0.0, -3.0, 0.0]))


# -- task vectors, compatibility and buffers -------------------------------------------------------
def test_task_vector_round_trip_and_int_buffers() -> None:
    base = {"w": torch.randn(3, 2), "embeddings.position_ids": torch.arange(4)}
    tuned = {"w": base["w"] + 1.0, "embeddings.position_ids": torch.arange(4) + 7}
    tau = task_vector(base, tuned)
    assert set(tau) == {"w"}
    back = apply_task_vector(base, tau)
    torch.testing.assert_close(back["w"], tuned["w"])
    assert torch.equal(back["embeddings.position_ids"], base["embeddings.position_ids"])
    assert torch.equal(apply_task_vector(base, tau, scale=0.0)["w"], base["w"])


def test_merge_copies_index_buffers_from_the_base() -> None:
    base = {"a.weight": torch.zeros(3), "embeddings.position_ids": torch.arange(3),
            "embeddings.token_type_ids": torch.zeros(3)}
    models = [{"a.weight": torch.ones(3), "embeddings.position_ids": torch.arange(3) * 5,
               "embeddings.token_type_ids": torch.ones(3)} for _ in range(2)]
    ties = get_method("ties")
    merged, copied = merge_state_dicts(ties, ties.validate({}, 2), models, base)
    assert copied == ["embeddings.position_ids", "embeddings.token_type_ids"]
    assert torch.equal(merged["embeddings.position_ids"], torch.arange(3))
    assert torch.equal(merged["embeddings.token_type_ids"], torch.zeros(3))
    torch.testing.assert_close(merged["a.weight"], torch.ones(3))


def test_check_compatible_names_the_tensor_and_both_shapes() -> None:
    base = {"x": torch.zeros(2), "layer.weight": torch.zeros(4, 3)}
    with pytest.raises(IncompatibleModelsError, match=r"'layer.weight' has shape \(4, 3\) in the base but \(4, 2\) in model 1"):
        check_compatible(base, [dict(base), {"x": torch.zeros(2), "layer.weight": torch.zeros(4, 2)}])
    with pytest.raises(IncompatibleModelsError, match="has no tensor 'x'"):
        check_compatible(base, [{"layer.weight": torch.zeros(4, 3)}])
    with pytest.raises(IncompatibleModelsError, match="has tensor 'y' that the base lacks"):
        check_compatible(base, [{**base, "y": torch.zeros(1)}])


# -- registry and parameter validation -------------------------------------------------------------
def test_registry_rejects_bad_registrations() -> None:
    with pytest.raises(ValueError, match="already registered"):
        merge_method(name="linear", reference_url="x")
    with pytest.raises(ValueError, match="badly formed"):
        merge_method(name="My-Method", reference_url="x")

    def untyped(tensors: list[torch.Tensor], base: torch.Tensor | None, scale=1.0) -> torch.Tensor:  # type: ignore[no-untyped-def]
        return tensors[0]

    with pytest.raises(TypeError, match="no type annotation"):
        merge_method(name="test_untyped", reference_url="x")(untyped)
    unregister("test_untyped")


def test_a_registered_method_gets_validated_parameters() -> None:
    @merge_method(name="test_first", reference_url="https://example.org", min_models=2)
    def first(tensors: list[torch.Tensor], base: torch.Tensor | None, scale: float = 1.0) -> torch.Tensor:
        return tensors[0] * scale

    try:
        method = get_method("test_first")
        assert method([torch.ones(2), torch.zeros(2)], None, **method.validate({"scale": 3}, 2)).tolist() == [3, 3]
        with pytest.raises(ValueError, match="at least 2 models; got 1"):
            method.validate({}, 1)
    finally:
        unregister("test_first")


@pytest.mark.parametrize(
    ("method", "params", "n", "error", "match"),
    [
        ("tise", {}, 2, ValueError, 'Did you mean "ties"'),
        ("ties", {"density": 1.5}, 2, ValueError, r"density=1.5 is not allowed: .*\(0, 1\]"),
        ("ties", {"density": 0}, 2, ValueError, "density=0.0 is not allowed"),
        ("dare_ties", {"density": 0.5, "lambda": -1}, 2, ValueError, "lambda=-1.0 is not allowed: .* negative weight"),
        ("ties", {"weights": [1, 2, 3]}, 2, ValueError, "one weight per model: 2 models but 3 weights"),
        ("ties", {"densty": 0.5}, 2, ValueError, 'Did you mean "density"'),
        ("dare_linear", {}, 2, ValueError, "needs parameter 'density'"),
        ("dare_linear", {"density": 0.5, "rescale": True}, 2, TypeError, "mergekit's rescale: true is 'l1'"),
        ("dare_linear", {"density": 0.5, "rescale": "l2"}, 2, ValueError, "choose one of 'l1', 'inverse', 'none'"),
        ("slerp", {}, 1, ValueError, "at least 2 models; got 1"),
        ("slerp", {"t": 2.0}, 2, ValueError, r"t is in \[0, 1\]"),
        ("slerp_task_vector", {}, 1, ValueError, "at least 2 models; got 1"),
        ("linear", {"normalize": "yes"}, 2, TypeError, "must be true or false; got 'yes'"),
    ],
)
def test_bad_parameters_name_value_allowed_and_fix(
    method: str, params: dict[str, object], n: int, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        get_method(method).validate(params, n)


def test_slerp_rejects_t_with_more_than_two_models() -> None:
    slerp = get_method("slerp")
    with pytest.raises(ValueError, match="exactly 2 models"):
        slerp([torch.ones(2)] * 3, None, **slerp.validate({"t": 0.5}, 3))


# -- mergekit 0.1.5 cross-check (optional dependency) ----------------------------------------------
def _mergekit_merge(tensors: list[torch.Tensor], base: torch.Tensor, method: str, params: dict[str, object]) -> torch.Tensor:
    api = pytest.importorskip("mergekit.merge_methods.api")
    return api.merge_tensors([base, *tensors], method, parameters=params, base_index=0)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("ties", {"density": 0.5, "weights": [1.0, 0.5, 2.0]}),
        ("ties", {"density": 0.3, "weights": [1.0, 1.0, 1.0], "lambda": 0.7, "normalize": False}),
        ("task_arithmetic", {"weights": [1.0, 0.5, 2.0], "lambda": 0.8}),
        ("dare_ties", {"density": 0.6, "weights": [1.0, 0.5, 2.0]}),
        ("dare_linear", {"density": 0.4, "weights": [0.3, 0.5, 0.2], "normalize": True}),
    ],
)
def test_matches_mergekit_per_tensor(method: str, params: dict[str, object]) -> None:
    pytest.importorskip("mergekit")
    g = torch.Generator().manual_seed(9)
    base = {"a.weight": torch.randn(16, 8, generator=g), "b.bias": torch.randn(8, generator=g)}
    models = [{k: v + 0.1 * torch.randn(v.shape, generator=g) for k, v in base.items()} for _ in range(3)]
    ours_method = get_method(method)
    seeded = {**params, "seed": 11} if method.startswith("dare") else params
    ours, _ = merge_state_dicts(ours_method, ours_method.validate(seeded, 3), models, base)
    mk_params = {("weight" if k == "weights" else k): v for k, v in params.items()}
    torch.manual_seed(11)  # mergekit: global RNG, tensors in sorted name order, one draw per model
    for name in sorted(base):
        expected = _mergekit_merge([m[name] for m in models], base[name], method, mk_params)
        torch.testing.assert_close(ours[name], expected, rtol=1e-5, atol=1e-6)


def test_linear_and_slerp_match_mergekit() -> None:
    api = pytest.importorskip("mergekit.merge_methods.api")
    g = torch.Generator().manual_seed(10)
    a, b = torch.randn(12, 5, generator=g), torch.randn(12, 5, generator=g)
    linear, slerp = get_method("linear"), get_method("slerp")
    torch.testing.assert_close(linear([a, b], None, **linear.validate({"weights": [1, 3]}, 2)),
                               api.merge_tensors([a, b], "linear", parameters={"weight": [1.0, 3.0]}))
    torch.testing.assert_close(slerp([a, b], None, **slerp.validate({"t": 0.3}, 2)),
                               api.merge_tensors([a, b], "slerp", parameters={"t": 0.3}, base_index=0),
                               rtol=1e-5, atol=1e-6)


def test_slerp_task_vector_is_mergekit_slerp_of_the_task_vectors() -> None:
    api = pytest.importorskip("mergekit.merge_methods.api")
    g = torch.Generator().manual_seed(13)
    base = torch.randn(12, 5, generator=g)
    models = [base + 0.1 * torch.randn(12, 5, generator=g) for _ in range(2)]
    method = get_method("slerp_task_vector")
    taus = [m - base for m in models]
    expected = base + api.merge_tensors(taus, "slerp", parameters={"t": 0.3}, base_index=0)
    torch.testing.assert_close(method(models, base, **method.validate({"t": 0.3}, 2)), expected, rtol=1e-5, atol=1e-6)
