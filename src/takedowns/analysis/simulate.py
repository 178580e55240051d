"""Realistic simulated daily series with a known truth, for the demo, the tests and calibration.

One generator, vectorized over series (a loop runs over days only), draws what a spam trap
records around a takedown:

- a baseline of ``mean`` messages a day with a weekly pattern (log-amplitude
  ``weekly_amplitude``; the seven weekday factors average 1);
- a slowly wandering log-volume: an AR(1) drift with coefficient ``rho`` and innovation sd
  ``drift_sd``, started in its stationary distribution and centred so that ``E[exp(drift)] = 1``;
- campaign bursts: on each day a burst starts with probability ``burst_rate``, lasts
  ``burst_days`` days and adds an exponential share (mean ``burst_size``) of the baseline;
- negative-binomial counts around that latent mean (size ``dispersion``: variance
  ``mu + mu**2 / dispersion``);
- trap outages: on a share ``outage_rate`` of days a share between ``outage_loss`` and 1 of the
  day's messages never arrives (the day is in the ``outage`` mask);
- the planted effect: from day ``t0`` on the latent mean is multiplied by
  ``(1 + level_effect) * exp(slope_effect * (t - t0))``.

``expected`` is the latent mean without the effect and without the count noise: the series'
own counterfactual. The estimands' true values follow from it (:class:`SimulatedSeries`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

_WEEK = np.arange(7)


@dataclass(frozen=True)
class SeriesModel:
    """The parameters of one simulated daily series (see the module docstring).

    Days are indexed 0 .. ``n_days - 1``; ``t0`` is the index of the first post day and
    ``start_weekday`` the weekday of day 0 (0 = Monday). The defaults look like a spam trap
    of a few thousand messages a day: over-dispersed, weekly, persistent, bursty, with about
    one outage day in fifty.
    """

    n_days: int = 180
    t0: int = 90
    mean: float = 3000.0
    dispersion: float = 30.0
    weekly_amplitude: float = 0.15
    rho: float = 0.7
    drift_sd: float = 0.08
    burst_rate: float = 0.02
    burst_size: float = 0.5
    burst_days: int = 3
    outage_rate: float = 0.02
    outage_loss: float = 0.8
    level_effect: float = 0.0
    slope_effect: float = 0.0
    start_weekday: int = 0

    def __post_init__(self) -> None:
        """Reject parameters that describe no series."""
        checks = {
            "n_days must be at least 2": self.n_days >= 2,
            "t0 must lie in 1 .. n_days - 1": 1 <= self.t0 < self.n_days,
            "mean must be positive": self.mean > 0,
            "dispersion must be positive": self.dispersion > 0,
            "rho must lie in (-1, 1)": -1 < self.rho < 1,
            "drift_sd must be non-negative": self.drift_sd >= 0,
            "burst_rate and outage_rate must lie in [0, 1]": 0 <= self.burst_rate <= 1
            and 0 <= self.outage_rate <= 1,
            "burst_size must be non-negative": self.burst_size >= 0,
            "burst_days must be at least 1": self.burst_days >= 1,
            "outage_loss must lie in [0, 1]": 0 <= self.outage_loss <= 1,
            "level_effect must be above -1": self.level_effect > -1,
            "start_weekday must lie in 0 .. 6": 0 <= self.start_weekday <= 6,
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid SeriesModel ({self}): " + "; ".join(failed))

    @property
    def post_days(self) -> int:
        """The number of post days (``t0`` .. ``n_days - 1``)."""
        return self.n_days - self.t0


def weekday_factors(weekly_amplitude: float) -> np.ndarray:
    """The seven multiplicative weekday factors (Monday first), averaging exactly 1.

    Low at the weekend: ``exp(a * cos(2 pi (w - 1.5) / 7))``, normalized to mean 1.
    """
    raw = np.exp(weekly_amplitude * np.cos(2 * np.pi * (_WEEK - 1.5) / 7))
    return raw / raw.mean()


def weekdays(model: SeriesModel) -> np.ndarray:
    """The weekday (0 = Monday .. 6 = Sunday) of every day of the series."""
    return (model.start_weekday + np.arange(model.n_days)) % 7


def effect_multiplier(model: SeriesModel) -> np.ndarray:
    """The planted effect on every day: 1 before ``t0``, then ``(1+level) exp(slope (t-t0))``."""
    t = np.arange(model.n_days) - model.t0
    log_effect = math.log1p(model.level_effect) + model.slope_effect * t
    return np.where(t >= 0, np.exp(log_effect), 1.0)


def ar1_paths(
    rho: float, sd: float, n_series: int, n_days: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_series`` stationary AR(1) paths of ``n_days`` (innovation sd ``sd``), mean 0."""
    out = np.empty((n_series, n_days))
    innovations = rng.normal(0.0, sd, size=(n_series, n_days))
    out[:, 0] = innovations[:, 0] / math.sqrt(1 - rho * rho)
    for day in range(1, n_days):
        out[:, day] = rho * out[:, day - 1] + innovations[:, day]
    return out


def _burst_multiplier(model: SeriesModel, n_series: int, rng: np.random.Generator) -> np.ndarray:
    """1 + the sum of the bursts active on each day (a burst adds its size for burst_days)."""
    starts = rng.random((n_series, model.n_days)) < model.burst_rate
    sizes = np.where(starts, rng.exponential(model.burst_size, (n_series, model.n_days)), 0.0)
    total = np.cumsum(sizes, axis=1)
    lagged = np.zeros_like(total)
    lagged[:, model.burst_days :] = total[:, : -model.burst_days]
    return 1.0 + total - lagged


def _latent_mean(model: SeriesModel, n_series: int, rng: np.random.Generator) -> np.ndarray:
    """The counterfactual latent mean (n_series, n_days): baseline x week x drift x bursts."""
    drift = ar1_paths(model.rho, model.drift_sd, n_series, model.n_days, rng)
    variance = model.drift_sd**2 / (1 - model.rho**2)
    week = weekday_factors(model.weekly_amplitude)[weekdays(model)]
    bursts = _burst_multiplier(model, n_series, rng)
    return model.mean * week * np.exp(drift - variance / 2) * bursts


def _negative_binomial(mu: np.ndarray, size: float, rng: np.random.Generator) -> np.ndarray:
    """Negative-binomial counts with mean ``mu`` and size ``size`` (int64)."""
    return rng.negative_binomial(size, size / (size + mu)).astype(np.int64)


def _outages(
    model: SeriesModel, counts: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Thin the counts on outage days: (counts, outage mask)."""
    n_series, n_days = counts.shape[0], counts.shape[-1]
    outage = rng.random((n_series, n_days)) < model.outage_rate
    loss = rng.uniform(model.outage_loss, 1.0, size=(n_series, n_days))
    shape = (n_series, *([1] * (counts.ndim - 2)), n_days)
    keep = np.where(outage, 1.0 - loss, 1.0).reshape(shape)
    return rng.binomial(counts, np.broadcast_to(keep, counts.shape)).astype(np.int64), outage


@dataclass(frozen=True)
class SimulatedSeries:
    """Simulated daily counts and their truth.

    ``counts`` (n_series, n_days) int64 as the trap recorded them (thinned on outage days);
    ``outage`` the outage days; ``expected`` the latent counterfactual mean (no effect, no
    count noise); ``with_effect`` the latent mean with the planted effect.
    True estimands over the post window ``t0 .. n_days - 1``: ``immediate`` =
    ``level_effect``; ``end_of_window`` = ``(1 + level) exp(slope (post_days - 1)) - 1``;
    ``window_average`` (n_series,) = ``sum(with_effect) / sum(expected) - 1`` over the post
    window (equal to ``level_effect`` when ``slope_effect`` is 0).
    """

    model: SeriesModel
    counts: np.ndarray
    outage: np.ndarray
    expected: np.ndarray
    with_effect: np.ndarray
    immediate: float
    window_average: np.ndarray
    end_of_window: float


def simulate_daily_counts(
    model: SeriesModel, n_series: int, rng: np.random.Generator
) -> SimulatedSeries:
    """Draw ``n_series`` independent daily series of ``model`` (see the module docstring)."""
    if n_series < 1:
        raise ValueError(f"n_series must be positive, not {n_series}")
    expected = _latent_mean(model, n_series, rng)
    with_effect = expected * effect_multiplier(model)
    counts, outage = _outages(model, _negative_binomial(with_effect, model.dispersion, rng), rng)
    post = slice(model.t0, None)
    window_average = with_effect[:, post].sum(axis=1) / expected[:, post].sum(axis=1) - 1.0
    end = (1 + model.level_effect) * math.exp(model.slope_effect * (model.post_days - 1)) - 1
    return SimulatedSeries(
        model=model,
        counts=counts,
        outage=outage,
        expected=expected,
        with_effect=with_effect,
        immediate=model.level_effect,
        window_average=window_average,
        end_of_window=end,
    )


# ---------------------------------------------------------------------------------------------
# Activity per network: the target, buffer networks and control networks
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedActivity:
    """Simulated daily activity per network and its displacement truth.

    ``activity`` (n_series, n_networks, n_days) int64: network 0 is the target, 1..n_buffer
    the buffer networks, the rest control. ``expected`` has the same shape: the structural
    mean (baseline x weekday x effect x what moved, without the drifts and the count noise).
    ``latent`` adds the drifts and bursts. ``gain_share`` (n_series, n_networks) is the share
    of the moved activity each network received (0 for all but the movers), ``gainers`` its
    ``> 0`` mask. ``true_wdq`` (n_series,) is the Weighted Displacement Quotient
    ``(B_post/C_post - B_pre/C_pre) / (A_post/C_post - A_pre/C_pre)`` on ``expected`` summed
    over the pre (``0 .. t0-1``) and post (``t0 ..``) windows. With this formula, moving a
    share ``m`` of the target's loss to the buffer gives ``true_wdq = -m``.
    """

    model: SeriesModel
    n_buffer: int
    activity: np.ndarray
    outage: np.ndarray
    expected: np.ndarray
    latent: np.ndarray
    gain_share: np.ndarray = field(repr=False)
    gainers: np.ndarray = field(repr=False)
    true_wdq: np.ndarray = field(repr=False)


def wdq(target: np.ndarray, buffer: np.ndarray, control: np.ndarray, t0: int) -> np.ndarray:
    """The Weighted Displacement Quotient of daily series (..., n_days) split at ``t0``.

    ``(B_post/C_post - B_pre/C_pre) / (A_post/C_post - A_pre/C_pre)`` with each term the sum
    over its window. NaN where the target did not change relative to the control.
    """
    a_pre, a_post = target[..., :t0].sum(-1), target[..., t0:].sum(-1)
    b_pre, b_post = buffer[..., :t0].sum(-1), buffer[..., t0:].sum(-1)
    c_pre, c_post = control[..., :t0].sum(-1), control[..., t0:].sum(-1)
    success = a_post / c_post - a_pre / c_pre
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(success != 0, (b_post / c_post - b_pre / c_pre) / success, np.nan)


def _gain_shares(
    n_series: int,
    n_networks: int,
    movers: int,
    weights: Literal["even", "random"],
    rng: np.random.Generator,
) -> np.ndarray:
    """Shares of the moved activity per network: buffer networks 1..movers, summing to 1."""
    shares = np.zeros((n_series, n_networks))
    if movers == 0:
        return shares
    if weights == "even":
        shares[:, 1 : movers + 1] = 1.0 / movers
    else:
        shares[:, 1 : movers + 1] = rng.dirichlet(np.ones(movers), size=n_series)
    return shares


def simulate_network_activity(
    model: SeriesModel,
    n_series: int,
    rng: np.random.Generator,
    *,
    n_buffer: int,
    n_control: int,
    movers: int,
    moved_share: float,
    mover_weights: Literal["even", "random"] = "even",
    network_sd: float = 0.5,
    idiosyncratic_sd: float | None = None,
) -> SimulatedActivity:
    """Daily activity of a target, ``n_buffer`` buffer and ``n_control`` control networks.

    The target (mean ``model.mean``) drops by ``level_effect`` (and ``slope_effect``) at t0;
    ``moved_share`` of what it lost each day appears at ``movers`` of the buffer networks
    (the first ``movers``), spread evenly or with Dirichlet(1) weights (``mover_weights``).
    Other networks have means ``model.mean * LogNormal(0, network_sd)``. Every network shares
    one AR(1) drift (the market: ``rho``, ``drift_sd``) and has its own AR(1) drift (sd
    ``idiosyncratic_sd``, default ``drift_sd / 2``) and bursts; counts are negative binomial,
    and a trap outage day thins every network of that series.
    """
    if n_buffer < 1 or n_control < 1:
        raise ValueError(
            f"need at least one buffer and one control network, not {n_buffer}, {n_control}"
        )
    if not 0 <= movers <= n_buffer:
        raise ValueError(f"movers must lie in 0 .. n_buffer ({n_buffer}), not {movers}")
    if moved_share < 0:
        raise ValueError(f"moved_share must be non-negative, not {moved_share}")
    if mover_weights not in ("even", "random"):
        raise ValueError(f"mover_weights must be 'even' or 'random', not {mover_weights!r}")
    n_networks, n_days = 1 + n_buffer + n_control, model.n_days
    scale = np.exp(rng.normal(0.0, network_sd, size=(n_series, n_networks)))
    scale[:, 0] = 1.0
    base = model.mean * scale[:, :, None] * weekday_factors(model.weekly_amplitude)[weekdays(model)]
    lost = base[:, 0, :] * (1.0 - effect_multiplier(model))
    shares = _gain_shares(n_series, n_networks, movers, mover_weights, rng)
    expected = base + moved_share * shares[:, :, None] * lost[:, None, :]
    expected[:, 0, :] = base[:, 0, :] - lost
    idio_sd = model.drift_sd / 2 if idiosyncratic_sd is None else idiosyncratic_sd
    common = ar1_paths(model.rho, model.drift_sd, n_series, n_days, rng)
    own = ar1_paths(model.rho, idio_sd, n_series * n_networks, n_days, rng)
    variance = (model.drift_sd**2 + idio_sd**2) / (1 - model.rho**2)
    drift = common[:, None, :] + own.reshape(n_series, n_networks, n_days) - variance / 2
    bursts = _burst_multiplier(model, n_series * n_networks, rng).reshape(expected.shape)
    latent = expected * np.exp(drift) * bursts
    counts, outage = _outages(model, _negative_binomial(latent, model.dispersion, rng), rng)
    buffer = expected[:, 1 : n_buffer + 1, :].sum(axis=1)
    control = expected[:, n_buffer + 1 :, :].sum(axis=1)
    return SimulatedActivity(
        model=model,
        n_buffer=n_buffer,
        activity=counts,
        outage=outage,
        expected=expected,
        latent=latent,
        gain_share=shares,
        gainers=shares > 0,
        true_wdq=wdq(expected[:, 0, :], buffer, control, model.t0),
    )
