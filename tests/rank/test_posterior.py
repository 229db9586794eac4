"""reelsense.rank._model: the posterior in the features' space and the batches of users."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reelsense.rank._model import (
    _BATCH_ENTRIES,
    _BATCH_USERS,
    PairFeedback,
    _posterior_primal,
    _user_batches,
    posterior,
)


def _woodbury(x: torch.Tensor, y: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, s2: float) -> tuple:
    """posterior's observation-space solution of a batch whose histories are longer than its
    features: zero features are added (their prior is independent and x is 0 on them) until
    ``n <= d``, then dropped."""
    b, n, d = x.shape
    pad = n - d
    m, stats, fitted = posterior(
        torch.cat([x, torch.zeros(b, n, pad, dtype=x.dtype)], dim=2),
        y,
        torch.cat([mean, torch.zeros(pad, dtype=x.dtype)]),
        torch.block_diag(cov, torch.eye(pad, dtype=x.dtype)),
        s2,
        with_cov=True,
    )
    assert stats is not None
    return m[:, :d], stats[0][:d, :d], stats[1], fitted


@pytest.mark.parametrize(("b", "n", "d"), [(3, 40, 10), (4, 300, 64), (2, 50, 49), (1, 7, 1)])
def test_the_features_space_posterior_is_the_woodbury_one(b: int, n: int, d: int) -> None:
    gen = torch.Generator().manual_seed(n * d)
    x = torch.randn(b, n, d, dtype=torch.float64, generator=gen)
    y = torch.randn(b, n, dtype=torch.float64, generator=gen)
    x[0, n // 2 :] = 0.0  # a shorter history, padded
    y[0, n // 2 :] = 0.0
    a = torch.randn(d, d, dtype=torch.float64, generator=gen)
    cov = a @ a.T / d + 0.01 * torch.eye(d, dtype=torch.float64)
    mean = torch.randn(d, dtype=torch.float64, generator=gen)
    m, stats, fitted = _posterior_primal(x, y, mean, cov, 0.7, with_cov=True)
    assert stats is not None
    expected = _woodbury(x, y, mean, cov, 0.7)
    for got, want in zip((m, stats[0], stats[1], fitted), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # posterior() itself takes the features' space for these shapes
    torch.testing.assert_close(posterior(x, y, mean, cov, 0.7)[0], m, rtol=0, atol=0)


def test_batches_hold_every_user_once_in_order_of_history_and_within_the_budget() -> None:
    lengths = np.array([3, 5000, 1, 700, 2000, 2000, 9, 0, 40] + [2000] * 60)
    users = np.flatnonzero(lengths > 0)
    user = np.repeat(np.arange(lengths.size), lengths)
    pairs = PairFeedback(user, np.zeros(user.size, np.int64), np.zeros(user.size), np.zeros(user.size, bool))
    dim = 636
    groups = _user_batches(pairs, users, dim)
    flat = np.concatenate(groups)
    assert sorted(flat.tolist()) == users.tolist()
    assert lengths[flat].tolist() == sorted(lengths[users].tolist())
    for group in groups:
        n = int(lengths[group].max())
        assert len(group) <= _BATCH_USERS
        assert len(group) == 1 or len(group) * n * min(n, dim) <= _BATCH_ENTRIES
    assert max(len(g) for g in groups) < _BATCH_USERS  # the long histories split the batches
    # short histories keep the 64-user batches
    assert [len(g) for g in _user_batches(pairs, users[lengths[users] < 50], dim)] == [4]
