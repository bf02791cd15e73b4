"""The traffic (arrival) models, in one place: name, schema, defaults and draw function.

A model spreads arrivals that would otherwise be synchronised: the reports of a schedule
around their period boundary (`schedule.jitter`, spread `schedule.jitter_s`), and the devices
that come back together after an area outage (`events.outages[].recovery`, spread
`recovery_s`).  The scenario reader validates both keys against `TRAFFIC_MODELS` and the
simulation draws through it; nothing else names a model.

- `none`: no offset;
- `uniform`: offsets uniform over [0, spread), 60 s unless the scenario says;
- `tr37868-model1`: 3GPP TR 37.868 Model 1, arrivals uniform over 60 s;
- `tr37868-model2`: 3GPP TR 37.868 Model 2, arrivals Beta(3, 4)-distributed over 10 s
  (synchronised access, e.g. after an outage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
Draw = Callable[[np.random.Generator, float, int], F64]

__all__ = ["TRAFFIC_MODELS", "TrafficModel", "model_names", "offsets", "offsets_into"]


@dataclass(frozen=True, slots=True)
class TrafficModel:
    name: str
    description: str
    default_spread_s: float  # the spread when the scenario gives none
    takes_spread: bool  # whether a spread key (`jitter_s`, `recovery_s`) means anything
    draw: Draw  # offsets (s) of n arrivals over a spread, from a generator


def _zeros(rng: np.random.Generator, spread_s: float, n: int) -> F64:
    return np.zeros(n)


def _uniform(rng: np.random.Generator, spread_s: float, n: int) -> F64:
    out: F64 = rng.random(n) * spread_s
    return out


def _beta_3_4(rng: np.random.Generator, spread_s: float, n: int) -> F64:
    out: F64 = rng.beta(3.0, 4.0, n) * spread_s
    return out


TRAFFIC_MODELS: dict[str, TrafficModel] = {
    m.name: m
    for m in (
        TrafficModel("none", "no offset: every arrival on its boundary", 0.0, False, _zeros),
        TrafficModel("uniform", "offsets uniform over the spread", 60.0, True, _uniform),
        TrafficModel("tr37868-model1", "3GPP TR 37.868 Model 1: uniform over 60 s", 60.0, True, _uniform),
        TrafficModel(
            "tr37868-model2",
            "3GPP TR 37.868 Model 2: Beta(3, 4) over 10 s (synchronised)",
            10.0,
            True,
            _beta_3_4,
        ),
    )
}


def model_names() -> tuple[str, ...]:
    return tuple(TRAFFIC_MODELS)


def _model(model: str) -> TrafficModel:
    try:
        return TRAFFIC_MODELS[model]
    except KeyError:
        raise ValueError(f"unknown traffic model {model!r} (known: {', '.join(TRAFFIC_MODELS)})") from None


def offsets(rng: np.random.Generator, model: str, spread_s: float, n: int) -> F64:
    """Offsets (s) of `n` arrivals under `model` over `spread_s`; no draw when there is nothing to spread."""
    m = _model(model)
    if not m.takes_spread or spread_s <= 0:
        return np.zeros(n)
    return m.draw(rng, spread_s, n)


def offsets_into(rng: np.random.Generator, model: str, spread_s: float, out: F64) -> None:
    """`offsets(rng, model, spread_s, len(out))` written into `out`: the same draws and values
    (uniform ones drawn in place, no array made)."""
    m = _model(model)
    if not m.takes_spread or spread_s <= 0:
        out[:] = 0.0
    elif m.draw is _uniform:
        rng.random(out=out)
        out *= spread_s
    else:
        out[:] = m.draw(rng, spread_s, out.shape[0])
