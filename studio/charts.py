"""Plotly figure builders shared by the Streamlit and Gradio apps.

Each builder takes plain numbers and returns a ``plotly.graph_objects.Figure``; the
UI only displays it. Figures are small and static-looking (no mode bar clutter is
decided here: that is the UI's choice).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

_COLORS = {"slerp": "#6c4bd6", "lerp": "#e07a1f"}
_LAYOUT = dict(
    template="plotly_white",
    height=300,
    margin=dict(l=50, r=20, t=50, b=45),
    legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
)


def latent_norm_chart(norms: Mapping[str, Sequence[float]], latent_dim: int, chosen: str | None = None) -> go.Figure:
    """|z_t| along a walk for each method, against the typical radius sqrt(d) of N(0, I)."""
    fig = go.Figure()
    frames = max((len(v) for v in norms.values()), default=0)
    fig.add_trace(
        go.Scatter(
            x=[0, max(frames - 1, 1)],
            y=[math.sqrt(latent_dim)] * 2,
            mode="lines",
            name=f"typical radius √d = {math.sqrt(latent_dim):.1f}",
            line=dict(color="#999999", dash="dot"),
        )
    )
    for method, values in norms.items():
        fig.add_trace(
            go.Scatter(
                x=list(range(len(values))),
                y=list(values),
                mode="lines+markers",
                name=method + (" (shown)" if method == chosen else ""),
                line=dict(color=_COLORS.get(method), width=3 if method == chosen else 1.5),
            )
        )
    fig.update_layout(title="Latent norm |z| along the path", xaxis_title="frame", yaxis_title="|z|", **_LAYOUT)
    return fig


def truncation_chart(
    thresholds: Sequence[float | None], diversity: Sequence[float], scores: Sequence[float] | None = None
) -> go.Figure:
    """Diversity (and optionally the discriminator's score) per truncation threshold."""
    labels = ["none" if t is None else f"{t:g}" for t in thresholds]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=labels, y=list(diversity), mode="lines+markers", name="diversity", line=dict(color=_COLORS["slerp"])
        )
    )
    if scores is not None:
        fig.add_trace(
            go.Scatter(
                x=labels,
                y=list(scores),
                mode="lines+markers",
                name="discriminator score",
                yaxis="y2",
                line=dict(color=_COLORS["lerp"], dash="dash"),
            )
        )
        fig.update_layout(yaxis2=dict(title="mean D score", overlaying="y", side="right", showgrid=False))
    fig.update_layout(
        title="Fidelity-diversity trade-off",
        xaxis_title="truncation threshold τ",
        yaxis_title="mean pairwise pixel distance",
        **_LAYOUT,
    )
    return fig
