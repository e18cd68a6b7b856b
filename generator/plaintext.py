"""TeX as plain Unicode text, where markup cannot be shown: alt text, PDF bookmarks."""
from __future__ import annotations

import re

TEX_UNICODE = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ",
    "phi": "φ", "omega": "ω", "Sigma": "Σ", "Delta": "Δ", "ell": "ℓ", "nabla": "∇", "partial": "∂",
    "infty": "∞", "sqrt": "√", "times": "×", "cdot": "·", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "ne": "≠", "neq": "≠", "approx": "≈", "to": "→", "sum": "∑", "prod": "∏", "in": "∈", "sim": "∼",
    "odot": "⊙", "otimes": "⊗", "cdots": "⋯", "ldots": "…", "dots": "…", "pm": "±",
}
# layout only: dropped, their arguments kept
_SILENT = {"frac", "dfrac", "tfrac", "hat", "tilde", "bar", "mathrm", "mathbf", "mathcal", "boldsymbol", "text",
           "operatorname", "left", "right", "big", "Big", "displaystyle"}
_COMMAND_RE = re.compile(r"\\([A-Za-z]+)")
_MATH_RE = re.compile(r"(?<!\\)\$+([^$]*)\$+")


def plain_tex(tex: str) -> str:
    """``\\sigma(x)\\le\\frac{1}{4}`` → ``σ(x)≤14``: symbols as Unicode, other commands by name."""
    def command(m: re.Match[str]) -> str:
        name = m.group(1)
        return "" if name in _SILENT else TEX_UNICODE.get(name, name)
    return re.sub(r"[{}\\]", "", _COMMAND_RE.sub(command, tex))


def plain_label(text: str) -> str:
    """A label or heading with ``$…$`` math, as one line of plain text."""
    return _MATH_RE.sub(lambda m: plain_tex(m.group(1)), text).replace("\\$", "$").strip()
