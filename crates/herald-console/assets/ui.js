// DOM helpers. Every text goes in through textContent, never innerHTML:
// bucket names, keys, topic names and event bodies are tenants' data.

/** Makes an element: h("td", {class: "num"}, "12", otherNode). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A table from column titles and rows of cells (strings or nodes). */
export function table(columns, rows, attrs = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.endsWith("#") ? "num" : "" }, c.replace(/#$/, ""))));
  const body = rows.map((r) => h("tr", {}, r.map((cell, i) =>
    h("td", { class: columns[i] && columns[i].endsWith("#") ? "num" : "" }, cell))));
  return h("table", attrs, h("thead", {}, head), h("tbody", {}, body));
}

/** Replaces the page's content. */
export function show(...nodes) {
  const page = document.getElementById("page");
  page.replaceChildren(...nodes.flat());
}

let toastTimer;
/** A short message at the bottom right. */
export function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove("show"), 2500);
}

/** An element that shows an error's message (empty until set). */
export function errorBox() {
  return h("p", { class: "error", role: "alert" });
}

/** Runs an async action, showing its error in `box` (and the toast). */
export async function attempt(box, fn) {
  if (box) box.textContent = "";
  try {
    return await fn();
  } catch (e) {
    const msg = e && e.message ? e.message : String(e);
    if (box) box.textContent = msg;
    else toast(msg);
    return undefined;
  }
}

export function bytes(n) {
  n = Number(n || 0);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

export function num(n) {
  return Number(n || 0).toLocaleString("en-US");
}

export function age(seconds) {
  if (seconds === undefined || seconds === null || seconds === "") return "";
  let s = Number(seconds);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}

/**
 * A line chart of series over points ({at, in, out, failed, pending}), in
 * SVG: per-interval counts as rates (per second), or with `level` the
 * values as they are (pending events at each sample).
 */
export function chart(points, series, interval, { level = false } = {}) {
  const NS = "http://www.w3.org/2000/svg";
  const w = 800, hgt = 180, pad = 28;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const rate = (p, k) => level ? (p[k] || 0) : (p[k] || 0) / interval;
  let max = 1;
  for (const p of points) for (const s of series) max = Math.max(max, rate(p, s));
  const x = (i) => pad + (points.length <= 1 ? 0 : (i * (w - 2 * pad)) / (points.length - 1));
  const y = (v) => hgt - pad + 10 - (v / max) * (hgt - pad - 10);
  const text = (tx, ty, s) => {
    const t = document.createElementNS(NS, "text");
    t.setAttribute("x", tx); t.setAttribute("y", ty); t.textContent = s;
    svg.append(t);
  };
  text(2, 12, level ? num(max) : `${max.toFixed(max < 10 ? 1 : 0)}/s`);
  const since = points.length ? new Date(points[0].at * 1000).toTimeString().slice(0, 5) : "";
  text(2, hgt - 4, points.length ? `since ${since}` : "no samples yet");
  text(w - 30, hgt - 4, "now");
  for (const s of series) {
    if (points.length === 0) break;
    const path = document.createElementNS(NS, "polyline");
    path.setAttribute("class", s);
    path.setAttribute("points", points.map((p, i) => `${x(i).toFixed(1)},${y(rate(p, s)).toFixed(1)}`).join(" "));
    svg.append(path);
  }
  return svg;
}

/**
 * Horizontal bars, one per row ({label, value, href}), longest first as
 * given, in SVG: the busiest topics at a glance.
 */
export function bars(rows) {
  const NS = "http://www.w3.org/2000/svg";
  const w = 800, row = 22, label = 220;
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "bars");
  svg.setAttribute("viewBox", `0 0 ${w} ${Math.max(1, rows.length) * row}`);
  const max = Math.max(1, ...rows.map((r) => r.value));
  rows.forEach((r, i) => {
    const name = document.createElementNS(NS, "text");
    name.setAttribute("x", 4); name.setAttribute("y", i * row + 15);
    name.textContent = r.label.length > 32 ? r.label.slice(0, 31) + "…" : r.label;
    const bar = document.createElementNS(NS, "rect");
    bar.setAttribute("x", label); bar.setAttribute("y", i * row + 4);
    bar.setAttribute("height", row - 8);
    bar.setAttribute("width", Math.max(1, ((w - label - 90) * r.value) / max).toFixed(1));
    const value = document.createElementNS(NS, "text");
    value.setAttribute("x", label + Math.max(1, ((w - label - 90) * r.value) / max) + 6);
    value.setAttribute("y", i * row + 15);
    value.textContent = num(r.value);
    svg.append(name, bar, value);
  });
  return svg;
}
