"use strict";
// The dashboard's plots of the last minutes (`/api/history`): inline SVG polylines, no
// library and nothing fetched from elsewhere, so the page works offline. The cluster's
// tasks and store bytes in one plot each; CPU and memory in one lane per node.

const SVG_NS = "http://www.w3.org/2000/svg";

function svgNode(name, attrs) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Draws each of `series` ([{ name, values }]) against times `t` (Unix seconds) from
// `from` to `to` in `svg`, y from 0 to the largest value (labelled with `fmt`).
function plot(svg, t, series, from, to, fmt) {
  svg.replaceChildren();
  const w = svg.clientWidth || 600, h = +svg.getAttribute("height") || 100, pad = 3;
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  let max = 0;
  series.forEach(s => s.values.forEach(v => { if (v > max) max = v; }));
  const top = max > 0 ? max : 1;
  const x = v => pad + (v - from) / Math.max(to - from, 1e-9) * (w - 2 * pad);
  const y = v => h - pad - v / top * (h - 2 * pad - 14);
  svg.append(svgNode("line", { x1: pad, x2: w - pad, y1: y(top), y2: y(top), class: "grid" }));
  svg.append(svgNode("line", { x1: pad, x2: w - pad, y1: y(0), y2: y(0), class: "grid" }));
  const label = svgNode("text", { x: pad + 2, y: y(top) - 3, class: "max" });
  label.textContent = fmt(max);
  svg.append(label);
  series.forEach(s => {
    const points = [];
    t.forEach((at, i) => { if (at >= from && at <= to + 1) points.push(x(at).toFixed(1) + "," + y(s.values[i] ?? 0).toFixed(1)); });
    svg.append(svgNode("polyline", { points: points.join(" "), class: s.name, "data-series": s.name, "data-points": points.length }));
  });
}

const last = values => values.length ? values[values.length - 1] : 0;
const percent = v => v.toFixed(0) + "%";
const count = v => String(Math.round(v));

// One row per node in `box`: its id, its plot of `key` and its latest figure.
function lanes(box, nodes, key, fmt, from, to, here) {
  box.replaceChildren();
  nodes.forEach(n => {
    const row = document.createElement("div");
    row.className = "lane";
    const label = document.createElement("span");
    label.className = "lane-label";
    label.title = n.node_id;
    label.textContent = n.node_id.slice(0, 13) + (n.node_id === here ? " (here)" : "");
    const svg = svgNode("svg", { height: 36, class: "lane-plot", "data-node": n.node_id, "data-series": key });
    const now = document.createElement("span");
    now.className = "lane-value";
    now.textContent = fmt(last(n[key]));
    row.append(label, svg, now);
    box.append(row);
    plot(svg, n.t, [{ name: key, values: n[key] }], from, to, fmt);
  });
}

// Draws the answer of `/api/history` (`fmtBytes` formats byte counts): from the oldest
// sample kept (at most the node's capacity ago, at least a minute ago) to now.
function drawHistory(h, fmtBytes) {
  const to = h.now;
  const oldest = Math.min(to - 60, ...h.nodes.map(n => n.t.length ? n.t[0] : to));
  const from = Math.max(to - h.capacity * h.interval_s, oldest), span = to - from;
  const c = h.cluster;
  plot(document.getElementById("plot-tasks"), c.t, [{ name: "running", values: c.tasks_running }, { name: "queued", values: c.tasks_queued }], from, to, count);
  plot(document.getElementById("plot-store"), c.t, [{ name: "store", values: c.store_bytes }], from, to, fmtBytes);
  document.getElementById("tasks-now").textContent = `now ${last(c.tasks_running)} running, ${last(c.tasks_queued)} queued`;
  document.getElementById("store-now").textContent = `now ${fmtBytes(last(c.store_bytes))}`;
  lanes(document.getElementById("lanes-cpu"), h.nodes, "cpu_percent", percent, from, to, h.node_id);
  lanes(document.getElementById("lanes-mem"), h.nodes, "mem_bytes", fmtBytes, from, to, h.node_id);
  document.getElementById("history-from").textContent = span >= 120 ? `${Math.round(span / 60)} min ago` : `${Math.round(span)} s ago`;
}
