import math

import pytest
import torch

from deepprune.focal import focal_loss


def _data(seed=0, vocab=11):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 6, vocab, generator=g)
    labels = torch.full((3, 6), -100)
    labels[:, 4] = torch.tensor([2, 5, 2])  # response tokens: "yes"=2, "no"=5
    labels[:, 5] = 7  # eos
    return logits, labels


def test_gamma0_alpha1_is_cross_entropy():
    logits, labels = _data()
    ce = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    assert torch.allclose(focal_loss(logits, labels, gamma=0.0), ce, atol=1e-6)


def test_p_half_gives_half_pow_gamma_times_ce():
    logits = torch.zeros(1, 2, 2)  # two classes, p = 0.5
    labels = torch.tensor([[-100, 1]])
    for gamma in (0.0, 1.0, 2.0, 3.5):
        assert math.isclose(
            float(focal_loss(logits, labels, gamma=gamma)), 0.5**gamma * math.log(2), rel_tol=1e-6
        )


def test_alpha_scales_and_num_items_divides():
    logits, labels = _data(1)
    base = focal_loss(logits, labels, gamma=2.0)
    assert torch.allclose(focal_loss(logits, labels, gamma=2.0, alpha=0.5), base / 2)
    n = int((labels != -100).sum())
    assert torch.allclose(focal_loss(logits, labels, num_items_in_batch=2 * n, gamma=2.0), base / 2)


def test_class_aware_alpha_changes_only_the_no_token_gradient():
    logits, labels = _data(2)
    vec = torch.ones(11)
    vec[5] = 0.3  # "no"
    grads = []
    for alpha_vec in (None, vec):
        x = logits.clone().requires_grad_(True)
        focal_loss(x, labels, gamma=2.0, alpha_vec=alpha_vec).backward()
        grads.append(x.grad)
    no_rows = labels[:, 1:] == 5  # positions whose next-token target is "no" (shifted)
    g0, g1 = grads[0][:, :-1], grads[1][:, :-1]
    assert torch.allclose(g1[no_rows], 0.3 * g0[no_rows], atol=1e-7)
    assert torch.equal(g1[~no_rows], g0[~no_rows])
    assert not torch.allclose(g1[no_rows], g0[no_rows])


@pytest.mark.parametrize("detach", [True, False])
def test_detach_changes_gradient_not_value(detach):
    logits, labels = _data(3)
    x = logits.clone().requires_grad_(True)
    v = focal_loss(x, labels, gamma=2.0, detach=detach)
    v.backward()
    assert torch.allclose(v, focal_loss(logits, labels, gamma=2.0, detach=not detach))
    y = logits.clone().requires_grad_(True)
    focal_loss(y, labels, gamma=2.0, detach=not detach).backward()
    assert not torch.allclose(x.grad, y.grad)
