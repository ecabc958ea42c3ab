"""Plotly figures of the evaluation tab, from the plain data of ``studio.audit.metrics`` and
``studio.audit.evaluation``; both UIs only show them."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

_LAYOUT = dict(template="plotly_white", margin=dict(l=50, r=20, t=60, b=45),
               legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1.0))
_COLORS = ("#6c4bd6", "#e07a1f", "#2a9d8f", "#c0392b", "#7f8c8d", "#2c3e50")
_HINTS = {"fid": "lower is better", "kid": "lower is better", "is": "higher is better",
          "precision": "higher: more realistic", "recall": "higher: more diverse", "density": "about 1 is right",
          "coverage": "higher is better"}


def metric_bars(table: list[dict]) -> go.Figure:
    """One panel per metric (their scales differ), one bar per checkpoint with its interval."""
    keys = list(dict.fromkeys(row["key"] for row in table))
    models = list(dict.fromkeys(row["model"] for row in table))
    titles = [f"{next(r['metric'] for r in table if r['key'] == k)}<br><sup>{_HINTS.get(k, '')}</sup>" for k in keys]
    fig = make_subplots(rows=1, cols=max(len(keys), 1), subplot_titles=titles)
    for m, model in enumerate(models):
        for c, key in enumerate(keys):
            row = next((r for r in table if r["model"] == model and r["key"] == key), None)
            if row is None:
                continue
            error = None
            if row["low"] is not None:
                error = dict(type="data", symmetric=False, array=[row["high"] - row["value"]],
                             arrayminus=[row["value"] - row["low"]], color="#333333")
            fig.add_trace(go.Bar(x=[model], y=[row["value"]], error_y=error, name=model, legendgroup=model,
                                 showlegend=c == 0, marker_color=_COLORS[m % len(_COLORS)],
                                 hovertemplate=f"{model}<br>{key} %{{y:.4g}}<extra></extra>"), row=1, col=c + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_annotations(font_size=12)
    title = f"Each metric with its 95% bootstrap interval (N = {table[0]['n']:,})" if table else "No metrics"
    fig.update_layout(**_LAYOUT, height=340, title=title)
    return fig


def fid_curve_chart(curve: dict) -> go.Figure:
    """FID of random subsets against N (log axis), the band over draws, and FID∞ as a dashed line."""
    n = curve["n"]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=n + n[::-1], y=curve["high"] + curve["low"][::-1], fill="toself",
                             name="95% band over draws",
                             line=dict(width=0), fillcolor="rgba(108, 75, 214, 0.18)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=n, y=curve["fid"], mode="lines+markers", name="FID of N samples (mean of draws)",
                             line=dict(color=_COLORS[0])))
    low, high = curve["fid_inf_interval"]
    fig.add_trace(go.Scatter(x=[n[0], n[-1]], y=[curve["fid_inf"]] * 2, mode="lines",
                             name=f"FID∞ = {curve['fid_inf']:.4g} [{low:.4g}, {high:.4g}]",
                             line=dict(color=_COLORS[1], dash="dash")))
    fig.update_xaxes(type="log", title="N (samples)")
    fig.update_yaxes(title="FID")
    fig.update_layout(**_LAYOUT, height=340, title="FID against N: small samples read high")
    return fig


def _value_label(parameter: str, value) -> str:
    return "none" if value is None else f"{parameter}={value:g}"


def sweep_chart(sweep: dict) -> go.Figure:
    """Left: precision against recall as the truncation moves (each point labelled); right: FID."""
    p = sweep["parameter"]
    labels = [_value_label(p, v) for v in sweep["values"]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"Precision against recall as {p} moves",
                                                        f"FID against {p}"))
    fig.add_trace(go.Scatter(x=sweep["recall"], y=sweep["precision"], mode="lines+markers+text", text=labels,
                             textposition="top center", name="precision / recall", line=dict(color=_COLORS[0])),
                  row=1, col=1)
    fig.add_trace(go.Scatter(x=labels, y=sweep["fid"], mode="lines+markers", name="FID", line=dict(color=_COLORS[1])),
                  row=1, col=2)
    fig.update_xaxes(title="recall (diversity)", range=[-0.05, 1.05], row=1, col=1)
    fig.update_yaxes(title="precision (fidelity)", range=[-0.05, 1.1], row=1, col=1)
    fig.update_xaxes(title=f"truncation {p} ({'z' if sweep['space'] == 'z' else 'W'})", type="category", row=1, col=2)
    fig.update_yaxes(title="FID", row=1, col=2)
    fig.update_layout(**_LAYOUT, height=360, showlegend=False)
    return fig


def feature_scatter(found: dict) -> go.Figure:
    """Real and generated features on the two leading principal axes of the real ones."""
    fig = go.Figure()
    for name, points, color in (("real", found["real"], "#9aa5b1"), ("generated", found["fake"], _COLORS[1])):
        fig.add_trace(go.Scattergl(x=points[:, 0], y=points[:, 1], mode="markers", name=f"{name} ({len(points):,})",
                                   marker=dict(size=4, color=color, opacity=0.55)))
    a, b = found["explained"]
    fig.update_xaxes(title=f"PC 1 ({a:.0%} of the real variance)")
    fig.update_yaxes(title=f"PC 2 ({b:.0%})")
    fig.update_layout(**_LAYOUT, height=400,
                      title=f"Features in 2-d ({found['extractor']}): "
                            f"centres {found['separation']:.2f} real radii apart")
    return fig


def disagreement_chart(found: dict) -> go.Figure:
    """FID of the same samples under each extractor and resize."""
    rows = found["rows"]
    fig = go.Figure(go.Bar(x=[row["label"] for row in rows], y=[row["fid"] for row in rows],
                           marker_color=[_COLORS[0] if i // 2 == 0 else _COLORS[1] for i in range(len(rows))],
                           text=[f"{row['fid']:.4g}" for row in rows], textposition="outside"))
    fig.update_yaxes(title="FID")
    fig.update_layout(**_LAYOUT, height=340, title=f"The same {found['n']} samples, four ways of measuring")
    return fig
