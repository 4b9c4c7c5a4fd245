"""Figures: log-log convergence plots with fitted slopes, loss curves. Matplotlib, no display."""

from __future__ import annotations

import os

import numpy as np

from .metrics import SlopeFit, fit_loglog


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def convergence_plot(
    ax,
    widths,
    errors,
    *,
    label: str,
    reference: float | None = None,
    floor: float | None = None,
    color=None,
    fit: SlopeFit | None = None,
    fitted: int | None = None,
):
    """Plot ``errors [seeds, widths]`` against ``widths`` on log-log axes: mean with min-max band
    over seeds, the fitted line with its slope interval in the legend, a dashed reference slope
    through the first mean, and an optional dotted floor (an error the finite networks cannot
    go below, e.g. the limit's own discretisation). ``fitted``: the fit used only the first
    ``fitted`` widths, and its line is drawn over those only."""
    widths = np.asarray(widths, np.float64)
    e = np.atleast_2d(np.asarray(errors, np.float64))
    mean = e.mean(axis=0)
    fit = fit or fit_loglog(widths, e)
    (line,) = ax.loglog(widths, mean, "o", color=color, label=f"{label}: {fit.label()}")
    c = line.get_color()
    if e.shape[0] > 1:
        ax.fill_between(widths, e.min(axis=0), e.max(axis=0), color=c, alpha=0.15, lw=0)
    wf = widths[: fitted or len(widths)]
    ax.loglog(wf, np.exp(fit.intercept) * wf**fit.slope, "-", color=c, lw=1.2)
    if reference is not None:
        ax.loglog(
            widths,
            mean[0] * (widths / widths[0]) ** reference,
            "--",
            color=c,
            lw=0.9,
            alpha=0.7,
            label=f"reference slope {reference:+.3f}",
        )
    if floor is not None and floor > 0:
        ax.axhline(floor, color=c, ls=":", lw=1.0, label=f"limit discretisation floor {floor:.2g}")
    ax.set_xlabel("width N")
    return fit


def legend_outside(ax, fontsize: float = 7):
    """The legend to the right of the axes, so that no entry hides a data point or an interval
    (`save` crops the figure to include it)."""
    return ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def save(fig, path_stem: str, formats=("png", "pdf")) -> list[str]:
    """Save ``fig`` as ``path_stem.png`` and ``.pdf``; returns the paths."""
    os.makedirs(os.path.dirname(path_stem) or ".", exist_ok=True)
    paths = []
    for fmt in formats:
        p = f"{path_stem}.{fmt}"
        fig.savefig(p, dpi=150, bbox_inches="tight")
        paths.append(p)
    _plt().close(fig)
    return paths


def new_figure(width: float = 6.4, height: float = 4.4):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax
