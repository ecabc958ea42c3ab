"""Plotly figures of a training run's curves, for the live training tab (and any other UI).

Each builder takes plain numbers (steps and values, ``None`` for a missing point) and returns a
``plotly.graph_objects.Figure``. Smoothing is TensorBoard's debiased exponential moving average;
the raw curve stays faintly behind the smoothed one, so smoothing never hides a spike. Long runs
are thinned to ``MAX_POINTS`` per curve (the newest point always kept) so that a refresh every
second stays cheap for the browser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

MAX_POINTS = 1500
COLORS = ("#6c4bd6", "#e07a1f", "#2a9d8f", "#d62839", "#577590", "#8a5a44")
Series = tuple[Sequence[int], Sequence[float | None]]
_LAYOUT = dict(
    template="plotly_white",
    height=290,
    margin=dict(l=55, r=15, t=45, b=40),
    legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
    hovermode="x unified",
)


def ema(values: Sequence[float | None], smoothing: float) -> list[float | None]:
    """Debiased EMA: s_t = a s_{t-1} + (1 - a) x_t, divided by 1 - a^t so the start is not pulled to 0.
    Missing or non-finite values stay missing and do not disturb the average."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    out: list[float | None] = []
    average = weight = 0.0
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(None)
            continue
        average = smoothing * average + (1.0 - smoothing) * value
        weight = smoothing * weight + (1.0 - smoothing)
        out.append(average / weight)
    return out


def thin(steps: Sequence[int], values: Sequence[float | None], max_points: int = MAX_POINTS) -> tuple[list, list]:
    """Every k-th point so at most about ``max_points`` remain, always keeping the newest."""
    n = len(steps)
    if n <= max_points:
        return list(steps), list(values)
    stride = math.ceil(n / max_points)
    index = list(range(0, n, stride))
    if index[-1] != n - 1:
        index.append(n - 1)
    return [steps[i] for i in index], [values[i] for i in index]


Phase = tuple[int, int, int, bool]  # (first step, last step, resolution, fading in)


def phases(steps: Sequence[int], resolutions: Sequence[float | None], alphas: Sequence[float | None]) -> list[Phase]:
    """A progressive run's stages from its events: consecutive steps at one resolution, split into
    the fade-in (alpha < 1) and the stable part. Events without a resolution are skipped."""
    found: list[list] = []
    for step, resolution, alpha in zip(steps, resolutions, alphas):
        if resolution is None:
            continue
        stage = (int(resolution), alpha is not None and alpha < 1.0)
        if found and (found[-1][2], found[-1][3]) == stage:
            found[-1][1] = step
        else:
            found.append([step, step, *stage])
    return [tuple(phase) for phase in found]


def _shade_phases(fig: go.Figure, stages: Sequence[Phase]) -> None:
    """Alternate shades per resolution, lighter while the new resolution fades in; a label each."""
    shade = 0
    for index, (first, last, resolution, fading) in enumerate(stages):
        if index and stages[index - 1][2] != resolution:
            shade += 1
        fill = "#577590" if shade % 2 else "#e9c46a"
        fig.add_vrect(x0=first - 0.5, x1=last + 0.5, fillcolor=fill, opacity=0.06 if fading else 0.14, line_width=0,
                      annotation_text=f"{resolution}x{resolution}{' fading in' if fading else ''}",
                      annotation_position="top left", annotation_font_size=10)


def curves_chart(
    title: str,
    series: Mapping[str, Series],
    *,
    yaxis_title: str = "",
    smoothing: float = 0.0,
    log_y: bool = False,
    band: tuple[float, float, str] | None = None,
    reference: tuple[float, str] | None = None,
    stages: Sequence[Phase] = (),
) -> go.Figure:
    """Curves against the training step: ``series`` maps a legend name to (steps, values).

    ``band`` (low, high, label) shades a y range; ``reference`` (y, label) draws a dotted line;
    ``stages`` (from ``phases``) shades a progressive run's resolutions along the steps.
    """
    fig = go.Figure()
    _shade_phases(fig, stages)
    for index, (name, (steps, values)) in enumerate(series.items()):
        color = COLORS[index % len(COLORS)]
        if smoothing > 0:
            raw_steps, raw_values = thin(steps, values)
            fig.add_trace(go.Scatter(x=raw_steps, y=raw_values, mode="lines", name=f"{name} (raw)", showlegend=False,
                                     line=dict(color=color, width=1), opacity=0.25, hoverinfo="skip"))
        smooth_steps, smooth_values = thin(steps, ema(values, smoothing) if smoothing > 0 else values)
        fig.add_trace(go.Scatter(x=smooth_steps, y=smooth_values, mode="lines", name=name,
                                 line=dict(color=color, width=2)))
    if band is not None:
        low, high, label = band
        fig.add_hrect(y0=low, y1=high, fillcolor="#2a9d8f", opacity=0.12, line_width=0,
                      annotation_text=label, annotation_position="top left", annotation_font_size=11)
    if reference is not None:
        y, label = reference
        fig.add_hline(y=y, line=dict(color="#888888", dash="dot"), annotation_text=label,
                      annotation_position="bottom right", annotation_font_size=11)
    # uirevision: a zoom or pan the viewer chose survives the refresh every second
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=yaxis_title, uirevision=title, **_LAYOUT)
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def class_histogram_chart(fractions: Sequence[float], names: Sequence[str] | None = None, *, title: str = "") -> go.Figure:
    """Bars of the fraction of samples per class, against the balanced 1/K line."""
    names = list(names) if names is not None else [str(i) for i in range(len(fractions))]
    fig = go.Figure(go.Bar(x=names, y=list(fractions), marker_color=COLORS[0]))
    if fractions:
        fig.add_hline(y=1 / len(fractions), line=dict(color="#888888", dash="dot"),
                      annotation_text="balanced", annotation_position="top right", annotation_font_size=11)
    fig.update_layout(title=title or "What the classifier sees in the samples", xaxis_title="class",
                      yaxis_title="fraction of samples", yaxis_range=[0, 1], **{**_LAYOUT, "hovermode": "closest"})
    fig.update_xaxes(type="category")
    return fig


def fid_points(markers: Sequence[Mapping]) -> dict[str, list]:
    """The run's cheap FID events (``{"event": "fid", ...}``, training/sample_quality.py) as columns:
    step, fid, fid_low, fid_high, kid; plus "error" (the reason, when the run could not compute it)."""
    found = [m for m in markers if m.get("event") == "fid"]
    points = [m for m in found if m.get("fid") is not None]
    columns = {key: [m.get(key) for m in points] for key in ("step", "fid", "fid_low", "fid_high", "kid")}
    columns["error"] = next((m["error"] for m in found if m.get("error")), None)
    columns["extractor"] = points[-1].get("extractor") if points else None
    return columns


def fid_chart(points: Mapping[str, list]) -> go.Figure:
    """FID against the step with its bootstrap interval as a band (lower is better)."""
    fig = go.Figure()
    steps = points["step"]
    if all(v is not None for v in points["fid_low"] + points["fid_high"]):
        fig.add_trace(go.Scatter(x=steps + steps[::-1], y=points["fid_high"] + points["fid_low"][::-1], fill="toself",
                                 fillcolor="rgba(108,75,214,0.15)", line=dict(width=0), hoverinfo="skip",
                                 name="95% interval"))
    fig.add_trace(go.Scatter(x=steps, y=points["fid"], mode="lines+markers", name="FID", line=dict(color=COLORS[0])))
    fig.update_layout(title=f"FID of {_samples_words(points)} (lower is better)", xaxis_title="step",
                      uirevision="fid", **_LAYOUT)
    return fig


def sure_points(markers: Sequence[Mapping]) -> dict[str, Any]:
    """The trainer's verdicts on its checkpoints (``{"event": "quality"}`` lines with a digit
    classifier's numbers) as columns: step, share (sure of the digit), digits (how many are 5-15% of
    the samples); plus real, the classifier's share on real held-out digits (the bar's reference)."""
    from studio.audit.quality import classes_in_range

    points = [m for m in markers if m.get("event") == "quality" and m.get("histogram") is not None]
    return {"step": [m["step"] for m in points], "share": [m["confident_share"] for m in points],
            "digits": [classes_in_range(m["histogram"]) for m in points],
            "real": points[-1]["real_confident_share"] if points else None}


def sure_chart(points: Mapping[str, Any]) -> go.Figure:
    """The share of samples the digit classifier is sure of, checkpoint by checkpoint, against the
    bundled GANs' bar (CONFIDENT_RATIO x the real digits' share). A hollow marker: some digit is
    outside 5-15%, so the bar is not met whatever the share."""
    from studio.audit.quality import CONFIDENT_RATIO

    steps, shares, digits = points["step"], points["share"], points["digits"]
    fig = go.Figure(go.Scatter(
        x=steps, y=shares, mode="lines+markers", name="sure of the digit", line=dict(color=COLORS[0]),
        marker=dict(symbol=["circle" if d == 10 else "circle-open" for d in digits], size=8),
        customdata=digits, hovertemplate="step %{x}: sure of %{y:.1%}, %{customdata} digits at 5-15%<extra></extra>"))
    if points["real"] is not None:
        bar = CONFIDENT_RATIO * points["real"]
        fig.add_hline(y=bar, line=dict(color="#888888", dash="dot"), annotation_text=f"the bar: {bar:.1%}",
                      annotation_position="bottom right", annotation_font_size=11)
    fig.update_layout(title="Recognisable digits, per checkpoint", xaxis_title="step",
                      yaxis_title="sure of the digit", yaxis_range=[0, 1], yaxis_tickformat=".0%", uirevision="sure",
                      **_LAYOUT)
    return fig


def _samples_words(points: Mapping[str, list]) -> str:
    extractor = str(points.get("extractor") or "").split("@")[0]
    return f"fixed samples, {extractor} features" if extractor else "fixed samples"
