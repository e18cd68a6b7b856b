"""The numbers behind the figures: optimiser trajectories, receptive fields, norm balls.

Pure numpy; no drawing. The update rules follow the optimisation chapter of the content:

==========  ===========================================================================
sgd         θ ← θ − η g
momentum    v ← γ v + η g;  θ ← θ − v
nesterov    v ← γ v + η ∇f(θ − γ v);  θ ← θ − v
adagrad     r ← r + g²;  θ ← θ − η g / √(r + ε)
rmsprop     r ← ρ r + (1 − ρ) g²;  θ ← θ − η g / √(r + ε)      (ρ is ``beta2``)
adam        m ← β₁ m + (1 − β₁) g;  v ← β₂ v + (1 − β₂) g²;
            θ ← θ − η m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
==========  ===========================================================================
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# name → (hyper-parameters it uses, their defaults)
OPTIMIZERS: dict[str, dict[str, float]] = {
    "sgd": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adagrad": {"eps": 1e-8},
    "rmsprop": {"beta2": 0.9, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}
DIVERGED = 1e8
"""A trajectory stops when a coordinate grows beyond this (it has diverged)."""


def trajectory(grad: Callable[..., np.ndarray], start: tuple[float, float], steps: int, name: str,
               lr: float, momentum: float = 0.9, beta1: float = 0.9, beta2: float = 0.999,
               eps: float = 1e-8) -> np.ndarray:
    """Points θ₀ … θ_steps (fewer if the method diverges) as an array of shape (n, 2)."""
    theta = np.array(start, dtype=float)
    v = np.zeros_like(theta)
    m = np.zeros_like(theta)
    r = np.zeros_like(theta)
    out = [theta.copy()]
    for t in range(1, steps + 1):
        if name == "nesterov":
            g = grad(*(theta - momentum * v))
        else:
            g = grad(*theta)
        if not np.all(np.isfinite(g)):
            break
        if name == "sgd":
            theta = theta - lr * g
        elif name in ("momentum", "nesterov"):
            v = momentum * v + lr * g
            theta = theta - v
        elif name == "adagrad":
            r = r + g * g
            theta = theta - lr * g / np.sqrt(r + eps)
        elif name == "rmsprop":
            r = beta2 * r + (1 - beta2) * g * g
            theta = theta - lr * g / np.sqrt(r + eps)
        elif name == "adam":
            m = beta1 * m + (1 - beta1) * g
            r = beta2 * r + (1 - beta2) * g * g
            m_hat = m / (1 - beta1 ** t)
            v_hat = r / (1 - beta2 ** t)
            theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        else:
            raise ValueError(f"unknown optimiser {name}")
        if not np.all(np.isfinite(theta)) or np.max(np.abs(theta)) > DIVERGED:
            break
        out.append(theta.copy())
    return np.array(out)


@dataclass(frozen=True, slots=True)
class LayerResult:
    name: str
    size: float
    """Output size (may be fractional when the layer does not fit; the caller reports it)."""
    rf: int
    jump: int
    """Distance in input pixels between neighbouring outputs."""


def receptive_field(size: int, layers: list[dict]) -> list[LayerResult]:
    """Output size ``(n + 2p − k)/s + 1`` (rounded if the layer says so) and receptive field per layer."""
    out = []
    n, rf, jump = float(size), 1, 1
    for layer in layers:
        k, s, p = layer["kernel"], layer["stride"], layer["padding"]
        raw = (n + 2 * p - k) / s + 1
        rounding = layer.get("round")
        n = math.floor(raw) if rounding == "floor" else math.ceil(raw) if rounding == "ceil" else raw
        rf += (k - 1) * jump
        jump *= s
        out.append(LayerResult(layer["name"], n, rf, jump))
    return out


def unit_ball(p: float, n: int = 721) -> np.ndarray:
    """Points of ‖w‖_p = 1 (p may be ``inf``), shape (n, 2), closed curve."""
    t = np.linspace(0, 2 * np.pi, n)
    c, s = np.cos(t), np.sin(t)
    if math.isinf(p):
        scale = np.maximum(np.abs(c), np.abs(s))
    else:
        scale = (np.abs(c) ** p + np.abs(s) ** p) ** (1 / p)
    return np.column_stack([c / scale, s / scale])


def ellipse_level(w: np.ndarray, center: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    """The quadratic loss ((w₁−a)/s₁)² + ((w₂−b)/s₂)² at points ``w`` of shape (…, 2)."""
    return ((w[..., 0] - center[0]) / axes[0]) ** 2 + ((w[..., 1] - center[1]) / axes[1]) ** 2


def constrained_optimum(p: float, center: tuple[float, float], axes: tuple[float, float]) -> tuple[np.ndarray, float]:
    """Where the smallest loss level set touches the unit p-ball: (point, level)."""
    ball = unit_ball(p, 20001)
    levels = ellipse_level(ball, center, axes)
    i = int(np.argmin(levels))
    return ball[i], float(levels[i])


def inside_ball(point: tuple[float, float], p: float) -> bool:
    a, b = abs(point[0]), abs(point[1])
    if math.isinf(p):
        return max(a, b) <= 1
    return a ** p + b ** p <= 1
