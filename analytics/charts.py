"""Plotly figures built on the server from stored numbers, handed to the page as JSON.

Each function returns a plain dict (`{"data": [...], "layout": {...}}`) that the
template writes with `json_script` (escaped for a <script> block) and
static/js/charts.js draws with the partial plotly.js bundle in static/vendor (the trace
types used here: scatter, bar, heatmap, sankey; scripts/plotly-bundle adds others).
No figure reads the database; views pass stored results in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.evaluation import mode_label, ordered_modes
from analytics.longitudinal import CohortTransitions

METRICS = ("precision", "recall", "f1", "specificity")
METRIC_LABELS = {"precision": "Precision", "recall": "Recall", "f1": "F1", "specificity": "Specificity"}
MODE_COLORS = {"bert": "#4c78a8", "llm": "#f58518", "llm_hint": "#54a24b", "rules": "#b279a2"}
# The method's Figure 4 colours: diagnoses, then episode states.
DIAGNOSIS_COLORS = {"metastasis": "#1f77b4", "glioma": "#d62728", "lymphoma": "#2ca02c"}
EPISODE_COLORS = {"progression": "#ff7f0e", "stable": "#7fc8f8", "improvement": "#f2d43d"}
FALLBACK = "#888888"
BASE_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 60},
    "font": {"size": 12},
}


def as_json(fig: go.Figure) -> dict[str, Any]:
    """The figure as JSON-ready dicts (numpy arrays become lists or typed arrays plotly.js reads)."""
    return json.loads(fig.to_json())


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _per_key(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A method's per-key counts: entity keys, then (brain MRI) the non-tumor detail keys."""
    out = dict((entry.get("entity") or {}).get("per_key") or {})
    out.update((entry.get("entity_non_tumor") or {}).get("per_key") or {})
    return out


def key_metric_bars(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """Per-key precision / recall / F1 / specificity, one bar per method, one panel per metric."""
    modes = [m for m in ordered_modes(results["modes"]) if _per_key(results["modes"][m])]
    if not modes:
        return None
    keys: list[str] = []
    for mode in modes:
        for key in _per_key(results["modes"][mode]):
            if key not in keys:
                keys.append(key)
    fig = make_subplots(
        rows=len(METRICS),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        subplot_titles=[METRIC_LABELS[m] for m in METRICS],
    )
    for row, metric in enumerate(METRICS, start=1):
        for mode in modes:
            per_key = _per_key(results["modes"][mode])
            fig.add_trace(
                go.Bar(
                    name=mode_label(mode, results["modes"][mode]),
                    x=keys,
                    y=[_pct((per_key.get(k) or {}).get(metric)) for k in keys],
                    marker_color=MODE_COLORS.get(mode, FALLBACK),
                    legendgroup=mode,
                    showlegend=row == 1,
                    hovertemplate="%{x}: %{y:.1f}%<extra>" + METRIC_LABELS[metric] + "</extra>",
                ),
                row=row,
                col=1,
            )
        fig.update_yaxes(range=[0, 105], ticksuffix="%", row=row, col=1)
    fig.update_layout(
        **BASE_LAYOUT,
        barmode="group",
        height=220 * len(METRICS) + 120,
        legend={"orientation": "h", "y": 1.04, "x": 0},
        title=None,
    )
    return as_json(fig)


def confusion_heatmaps(results: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any] | None:
    """2 x 2 confusion (gold rows, predicted columns) for each given key and method."""
    modes = [
        m for m in ordered_modes(results["modes"]) if any(k in _per_key(results["modes"][m]) for k in keys)
    ]
    present = [k for k in keys if any(k in _per_key(results["modes"][m]) for m in modes)]
    if not modes or not present:
        return None
    fig = make_subplots(
        rows=len(modes),
        cols=len(present),
        horizontal_spacing=0.06,
        vertical_spacing=0.1,
        subplot_titles=[f"{results['modes'][m].get('label') or m}: {k}" for m in modes for k in present],
    )
    for row, mode in enumerate(modes, start=1):
        per_key = _per_key(results["modes"][mode])
        for col, key in enumerate(present, start=1):
            c = per_key.get(key) or {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
            z = [[c["tp"], c["fn"]], [c["fp"], c["tn"]]]
            fig.add_trace(
                go.Heatmap(
                    z=z,
                    x=["pred +", "pred −"],
                    y=["gold +", "gold −"],
                    text=z,
                    texttemplate="%{text}",
                    colorscale="Blues",
                    showscale=False,
                    hovertemplate="%{y}, %{x}: %{z}<extra>" + key + "</extra>",
                ),
                row=row,
                col=col,
            )
            fig.update_yaxes(autorange="reversed", row=row, col=col)
    fig.update_layout(**BASE_LAYOUT, height=210 * len(modes) + 60)
    fig.update_annotations(font_size=11)
    return as_json(fig)


def negation_bars(comparisons: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any] | None:
    negation = comparisons.get("negation") or {}
    modes = [m for m in ordered_modes(results["modes"]) if m in negation]
    if not modes:
        return None
    labels = [results["modes"][m].get("label") or m for m in modes]
    fig = go.Figure()
    for group, name, color in (
        ("negated", "Reports with a negated finding", "#e45756"),
        ("non_negated", "Reports without", "#72b7b2"),
    ):
        fig.add_trace(
            go.Bar(
                name=name,
                x=labels,
                y=[_pct(negation[m][group]["accuracy"]) for m in modes],
                text=[f"{negation[m][group]['correct']}/{negation[m][group]['n']}" for m in modes],
                textposition="outside",
                marker_color=color,
            )
        )
    fig.update_layout(
        **BASE_LAYOUT,
        barmode="group",
        height=380,
        yaxis={"range": [0, 110], "ticksuffix": "%"},
        yaxis_title="Report accuracy",
        legend={"orientation": "h", "y": 1.12},
    )
    return as_json(fig)


def bootstrap_forest(comparisons: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each pair's mean per-report F1 difference with its bootstrap 95% CI."""
    pairs = [p for p in comparisons.get("pairs") or [] if p.get("bootstrap")]
    if not pairs:
        return None
    names = [f"{_label(results, p['a'])} − {_label(results, p['b'])}" for p in pairs]
    means = [p["bootstrap"]["mean_diff"] for p in pairs]
    fig = go.Figure(
        go.Scatter(
            x=means,
            y=names,
            mode="markers",
            marker={"size": 10, "color": "#4c78a8"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [p["bootstrap"]["ci_high"] - p["bootstrap"]["mean_diff"] for p in pairs],
                "arrayminus": [p["bootstrap"]["mean_diff"] - p["bootstrap"]["ci_low"] for p in pairs],
            },
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#999")
    fig.update_layout(
        **BASE_LAYOUT, height=120 + 45 * len(pairs), xaxis_title="Mean per-report F1 difference (95% CI)"
    )
    fig.update_yaxes(autorange="reversed")
    return as_json(fig)


def _label(results: Mapping[str, Any], mode: str) -> str:
    return mode_label(mode, results["modes"].get(mode))


def key_delta_bars(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Candidate minus active F1 per key (model comparison page)."""
    rows = [r for r in rows if r.get("delta_f1") is not None]
    if not rows:
        return None
    deltas = [round(100 * r["delta_f1"], 2) for r in rows]
    fig = go.Figure(
        go.Bar(
            x=[r["key"] for r in rows],
            y=deltas,
            marker_color=["#54a24b" if d >= 0 else "#e45756" for d in deltas],
            hovertemplate="%{x}: %{y:+.1f} points<extra></extra>",
        )
    )
    fig.update_layout(**BASE_LAYOUT, height=340, yaxis_title="ΔF1 (points)")
    return as_json(fig)


def loss_curves(curves: Mapping[str, Any]) -> dict[str, Any] | None:
    """Training loss per step and validation loss per epoch, for each phase stored
    (ModelVersion.curves is {"steps": [...], "epochs": [...]}, or one such dict per phase)."""
    phases = {"training": curves} if "steps" in curves or "epochs" in curves else dict(curves)
    fig = go.Figure()
    for phase, data in phases.items():
        if not isinstance(data, Mapping):
            continue
        steps = [s for s in data.get("steps") or [] if s.get("loss") is not None]
        if steps:
            fig.add_trace(
                go.Scatter(
                    x=[s["step"] for s in steps],
                    y=[s["loss"] for s in steps],
                    mode="lines",
                    name=f"{phase} loss",
                )
            )
        epochs = [e for e in data.get("epochs") or [] if e.get("val_loss") is not None]
        if epochs:
            fig.add_trace(
                go.Scatter(
                    x=[e.get("step", e.get("epoch")) for e in epochs],
                    y=[e["val_loss"] for e in epochs],
                    mode="lines+markers",
                    name=f"{phase} validation loss",
                )
            )
    if not fig.data:
        return None
    fig.update_layout(**BASE_LAYOUT, height=360, xaxis_title="Optimizer step", yaxis_title="Loss")
    return as_json(fig)


def episode_sankey(cohort: CohortTransitions) -> dict[str, Any] | None:
    """The method's Figure 4: diagnosis nodes, then t0..t4 episode states; links carry
    the diagnosis colour."""
    nodes = cohort.nodes()
    if not nodes:
        return None
    index = {node: i for i, node in enumerate(nodes)}
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "label": [n.name for n in nodes],
                "color": [
                    (DIAGNOSIS_COLORS if n.step < 0 else EPISODE_COLORS).get(n.label, FALLBACK) for n in nodes
                ],
                "pad": 14,
                "thickness": 16,
            },
            link={
                "source": [index[k.source] for k in cohort.links],
                "target": [index[k.target] for k in cohort.links],
                "value": [k.count for k in cohort.links],
                "color": [_alpha(DIAGNOSIS_COLORS.get(k.diagnosis, FALLBACK)) for k in cohort.links],
                "customdata": [k.diagnosis for k in cohort.links],
                "hovertemplate": "%{customdata}: %{source.label} → %{target.label}: %{value}<extra></extra>",
            },
        )
    )
    fig.update_layout(**BASE_LAYOUT, height=480)
    return as_json(fig)


def _alpha(hex_color: str, alpha: float = 0.45) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
