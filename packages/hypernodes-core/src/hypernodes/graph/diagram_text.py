"""Render a :class:`~hypernodes.graph.diagram.Diagram` as Graphviz DOT or Mermaid text.

Both renderers are plain string building (no dependency) and draw the same legend:

- inputs are rounded boxes: amber for required, dashed amber for optional (with the
  default), grey for bound (with the value);
- function nodes are blue boxes listing their outputs (``name : type``);
- nested pipelines are green: a frame around their nodes when expanded, one box (a stack
  when mapped) when collapsed; a mapped one says what it maps over;
- with ``output_name``, what the run would execute is outlined in orange and the rest is
  greyed out; the requested outputs are bold and underlined.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from hypernodes.graph.diagram import (
    Diagram,
    DiagramCluster,
    DiagramEdge,
    DiagramItem,
    DiagramKind,
    DiagramNode,
    OutputRow,
    walk,
)

__all__ = ["render_dot", "render_mermaid"]

_FILL: dict[DiagramKind, tuple[str, str]] = {  # kind -> (fill, stroke)
    "input": ("#FEF3C7", "#D97706"),
    "optional": ("#FFFBEB", "#D97706"),
    "bound": ("#F3F4F6", "#6B7280"),
    "function": ("#DBEAFE", "#2563EB"),
    "pipeline": ("#DCFCE7", "#16A34A"),
}
_CLUSTER = ("#F0FDF4", "#16A34A")
_INACTIVE = ("#F9FAFB", "#D1D5DB", "#9CA3AF")  # fill, stroke, text
_ACTIVE = "#EA580C"
_TEXT = "#111827"
_MUTED = "#6B7280"  # types, notes, edge labels

_Markup = Literal["dot", "mermaid"]


# -- text of the whole picture and of labels -------------------------------------------------------------------------


def _escape(text: str, markup: _Markup) -> str:
    if markup == "dot":
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return text.replace("&", "#amp;").replace("<", "#lt;").replace(">", "#gt;").replace('"', "#quot;")


def _muted(text: str, markup: _Markup, small: bool = False, colour: str = _MUTED) -> str:
    """Wrap already-escaped `text` in the grey (optionally smaller) style of types and notes."""
    if markup == "dot":
        size = ' POINT-SIZE="9"' if small else ""
        return f'<FONT COLOR="{colour}"{size}>{text}</FONT>'
    return f"<i>{text}</i>" if small else text


def _typed(name: str, type_name: str | None, value: str | None, markup: _Markup, colour: str = _MUTED) -> str:
    """Return ``name : type = value`` with the type and value in the muted style."""
    text = _escape(name, markup)
    tail = (f" : {type_name}" if type_name else "") + (f" = {value}" if value is not None else "")
    return text + (_muted(_escape(tail, markup), markup, colour=colour) if tail else "")


def _row(row: OutputRow, markup: _Markup, colour: str = _MUTED) -> str:
    name = row.name + (f" → {row.exposed_as}" if row.exposed_as else "")
    text = _typed(name, row.type_name, None, markup, colour)
    if not row.requested:
        return text
    return f"<U><B>{text}</B></U>" if markup == "dot" else f"<u><b>{text}</b></u>"


def _lines(item: DiagramNode) -> list[str]:
    """Return the label lines of a box, for Mermaid (DOT builds a table from the same parts)."""
    if item.kind in ("input", "optional", "bound"):
        lines = [_typed(item.title, item.type_name, item.value, "mermaid")]
        return [*lines, "<i>bound</i>"] if item.kind == "bound" else lines
    lines = [f"<b>{_escape(item.title, 'mermaid')}</b>"]
    lines += [_muted(_escape(note, "mermaid"), "mermaid", small=True) for note in item.notes]
    return lines + [_row(row, "mermaid") for row in item.outputs]


# -- DOT -----------------------------------------------------------------------------------


def render_dot(diagram: Diagram) -> str:
    """Return `diagram` as Graphviz DOT text (render it with ``dot -Tsvg`` or ``graphviz.Source``)."""
    lines = [
        f"digraph {_quote(diagram.title)} {{",
        f"    graph [rankdir={diagram.orient}, label=<<B>{_escape(diagram.title, 'dot')}</B>>, labelloc=t, "
        'fontname="Helvetica", fontsize=13, nodesep=0.35, ranksep=0.45, bgcolor="white", pad=0.2]',
        f'    node [fontname="Helvetica", fontsize=11, fontcolor="{_TEXT}", shape=box, style="rounded,filled", '
        'margin="0.14,0.06", penwidth=1.2]',
        f'    edge [fontname="Helvetica", fontsize=9, color="{_MUTED}", fontcolor="{_MUTED}", arrowsize=0.7]',
    ]
    for item in diagram.items:
        _dot_item(item, lines, "    ", diagram)
    for edge in diagram.edges:
        attrs = [f"label={_quote(' ' + edge.label + ' ')}"] if edge.label else []
        if edge.state == "active":
            attrs += [f'color="{_ACTIVE}"', "penwidth=1.8"]
        elif edge.state == "inactive":
            attrs += [f'color="{_INACTIVE[1]}"', f'fontcolor="{_INACTIVE[2]}"']
        lines.append(f"    {edge.source} -> {edge.target}" + (f" [{', '.join(attrs)}]" if attrs else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_item(item: DiagramItem, lines: list[str], indent: str, diagram: Diagram) -> None:
    if isinstance(item, DiagramNode):
        lines.append(f"{indent}{item.id} [{', '.join(_dot_node_attrs(item))}]")
        return
    fill, stroke, text = _cluster_colours(item)
    colour = _INACTIVE[2] if item.state == "inactive" else _MUTED
    rows = [f'<TR><TD ALIGN="LEFT"><B>{_escape(item.title, "dot")}</B></TD></TR>']
    rows += [f'<TR><TD ALIGN="LEFT">{_muted(_escape(n, "dot"), "dot", True, colour)}</TD></TR>' for n in item.notes]
    # Top to bottom, the title is a node above the frame's contents, because edges route around
    # nodes but cross labels; left to right, edges run beside a label at the top, so it is one.
    as_node = diagram.orient in ("TB", "BT")
    label = '""' if as_node else f'<{_table(rows)}>, labeljust=l, labelloc=t, fontcolor="{text}"'
    style = "rounded,filled,dashed" if item.mapped else "rounded,filled"
    lines.append(f"{indent}subgraph {item.id} {{")
    lines.append(
        f'{indent}    graph [label={label}, style="{style}", fillcolor="{fill}", color="{stroke}", '
        f"penwidth={1.8 if item.mapped else 1.2}]"
    )
    if as_node:
        title = f'label=<{_table(rows)}>, shape=plaintext, style="", fontcolor="{text}"'
        lines.append(f"{indent}    {_title_id(item)} [{title}]")
    for child in item.items:
        _dot_item(child, lines, indent + "    ", diagram)
    if as_node:
        lines += [f"{indent}    {_title_id(item)} -> {top} [style=invis]" for top in _tops(item, diagram.edges)]
    lines.append(f"{indent}}}")


def _cluster_colours(cluster: DiagramCluster) -> tuple[str, str, str]:
    """Return the fill, frame and text colours of `cluster` in its state."""
    if cluster.state == "inactive":
        return _INACTIVE
    return _CLUSTER[0], _ACTIVE if cluster.state == "active" else _CLUSTER[1], _TEXT


def _title_id(cluster: DiagramCluster) -> str:
    return f"title_{cluster.id}"  # no other id starts with "title_"


def _tops(cluster: DiagramCluster, edges: tuple[DiagramEdge, ...]) -> list[str]:
    """Return the ids to place below the cluster's title: its children fed from outside it."""
    inside = {item.id for item in walk(cluster.items)}
    fed_inside = {e.target for e in edges if e.source in inside}
    return [
        _title_id(child) if isinstance(child, DiagramCluster) else child.id
        for child in cluster.items
        if isinstance(child, DiagramCluster) or child.id not in fed_inside
    ]


def _dot_node_attrs(item: DiagramNode) -> list[str]:
    fill, stroke = _FILL[item.kind]
    attrs = [f"label=<{_dot_label(item)}>"]
    if item.kind == "pipeline":
        attrs.append("shape=box3d" if item.mapped else "peripheries=2")
        attrs.append('style="filled"')
    elif item.kind == "optional":
        attrs.append('style="rounded,filled,dashed"')
    if item.state == "inactive":
        fill, stroke, text = _INACTIVE
        attrs.append(f'fontcolor="{text}"')
    elif item.state == "active":
        stroke = _ACTIVE
        attrs.append("penwidth=2.2")
    return [*attrs, f'fillcolor="{fill}"', f'color="{stroke}"']


def _dot_label(item: DiagramNode) -> str:
    colour = _INACTIVE[2] if item.state == "inactive" else _MUTED
    if item.kind in ("input", "optional", "bound"):
        text = _typed(item.title, item.type_name, item.value, "dot", colour)
        return text + ("<BR/>" + _muted("bound", "dot", small=True, colour=colour) if item.kind == "bound" else "")
    rows = [f"<TR><TD><B>{_escape(item.title, 'dot')}</B></TD></TR>"]
    rows += [f"<TR><TD>{_muted(_escape(note, 'dot'), 'dot', True, colour)}</TD></TR>" for note in item.notes]
    if item.outputs:
        rows.append("<HR/>")
        rows += [f'<TR><TD ALIGN="LEFT">{_row(row, "dot", colour)}</TD></TR>' for row in item.outputs]
    return _table(rows)


def _table(rows: list[str]) -> str:
    return '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">' + "".join(rows) + "</TABLE>"


# -- Mermaid -------------------------------------------------------------------------------


def render_mermaid(diagram: Diagram) -> str:
    """Return `diagram` as a Mermaid flowchart (paste it into a fenced ``mermaid`` block)."""
    title = diagram.title
    if not re.fullmatch(r"[\w .-]+", title):  # front matter is YAML, where "[", ":" or "#" mean something
        title = json.dumps(title, ensure_ascii=False)
    lines = ["---", f"title: {title}", "---", f"flowchart {diagram.orient}"]
    for item in diagram.items:
        _mermaid_item(item, lines, "    ")
    for edge in diagram.edges:
        label = f"|{_escape(edge.label, 'mermaid')}|" if edge.label else ""
        lines.append(f"    {edge.source} -->{label} {edge.target}")
    styles: dict[str, str] = {
        kind: f"fill:{fill},stroke:{stroke},color:{_TEXT}" + (",stroke-dasharray:4 3" if kind == "optional" else "")
        for kind, (fill, stroke) in _FILL.items()
    }
    styles["inactive"] = f"fill:{_INACTIVE[0]},stroke:{_INACTIVE[1]},color:{_INACTIVE[2]}"
    styles["active"] = f"stroke:{_ACTIVE},stroke-width:2.5px"  # after the kinds, so that it wins
    items = diagram.walk()
    for name, style in styles.items():
        ids = [i.id for i in items if isinstance(i, DiagramNode) and name in (i.kind, i.state)]
        if ids:
            lines += [f"    classDef {name} {style}", f"    class {','.join(ids)} {name}"]
    for cluster in (i for i in items if isinstance(i, DiagramCluster)):
        fill, stroke, text = _cluster_colours(cluster)
        dash = ",stroke-dasharray:5 4" if cluster.mapped else ""
        lines.append(f"    style {cluster.id} fill:{fill},stroke:{stroke},color:{text}{dash}")
    for state, style in (("active", f"stroke:{_ACTIVE},stroke-width:2px"), ("inactive", f"stroke:{_INACTIVE[1]}")):
        indices = [str(i) for i, edge in enumerate(diagram.edges) if edge.state == state]
        if indices:
            lines.append(f"    linkStyle {','.join(indices)} {style}")
    return "\n".join(lines) + "\n"


def _mermaid_item(item: DiagramItem, lines: list[str], indent: str) -> None:
    if isinstance(item, DiagramNode):
        label = "<br/>".join(_lines(item))
        if item.kind in ("input", "optional", "bound"):
            lines.append(f'{indent}{item.id}(["{label}"])')
        elif item.kind == "pipeline":
            lines.append(f'{indent}{item.id}[["{label}"]]')
        else:
            lines.append(f'{indent}{item.id}["{label}"]')
        return
    title = f"<b>{_escape(item.title, 'mermaid')}</b>"
    title += "".join(f"<br/>{_muted(_escape(n, 'mermaid'), 'mermaid', small=True)}" for n in item.notes)
    lines.append(f'{indent}subgraph {item.id}["{title}"]')
    for child in item.items:
        _mermaid_item(child, lines, indent + "    ")
    lines.append(f"{indent}end")
