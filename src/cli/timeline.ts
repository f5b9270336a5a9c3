/**
 * `npm run timeline -- DIR`: a picture of a run. Reads the peers' JSON-lines
 * logs in DIR (`*.jsonl`, as the demo keeps them; the peers must have logged
 * at debug, which records every datagram) and writes DIR/timeline.html: one
 * self-contained page with a sequence diagram, a lane per peer and an arrow
 * per datagram from its send to its receipt. Datagrams never received end in
 * a cross (lost); retransmissions are dashed; drops (with their reason) and
 * READY are marked on the lanes. Peers can be hidden and time zoomed; the view
 * is kept in the URL (`#peers=1,3&from=0&to=250`, milliseconds from the first
 * record), so a view can be shared.
 *
 * Exit codes: 0 written, 2 bad input (no such directory, no logs, no datagrams).
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InputError } from "../errors.ts";

/** Most arrows drawn; beyond it the page says so (zoom in, or filter, to see the rest). */
export const ARROWS_MAX = 50_000;

export interface TimelineData {
  /** Peer ids with their names, in id order. */
  peers: { id: number; name: string }[];
  /** Epoch milliseconds of time 0. */
  startMs: number;
  datagrams: {
    from: number;
    to: number;
    type: string;
    seq: number;
    bytes: number;
    retransmission: boolean;
    sentMs: number;
    /** Undefined: never received (lost on the way, or dropped before the receiver logged it). */
    receivedMs: number | undefined;
  }[];
  drops: { at: number; peer: number; reason: string; detail: string }[];
  marks: { at: number; peer: number; event: string; detail: string }[];
}

type LogRecord = Record<string, unknown> & { ts: string; me: number; event: string };

/** Reads every `*.jsonl` in `dir`; bad lines are skipped and counted. */
export function readLogs(dir: string): { records: LogRecord[]; badLines: number; files: number } {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new InputError(`${dir}: no such directory (give the directory holding the peers' .jsonl logs)`);
  const files = readdirSync(dir).filter((f) => f.endsWith(".jsonl"));
  if (files.length === 0)
    throw new InputError(`${dir}: no .jsonl logs here (the demo keeps them as peer-<id>.jsonl; see --logs)`);
  const records: LogRecord[] = [];
  let badLines = 0;
  for (const file of files) {
    for (const line of readFileSync(join(dir, file), "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const r = JSON.parse(line) as LogRecord;
        if (typeof r.ts === "string" && typeof r.me === "number" && typeof r.event === "string") records.push(r);
        else badLines++;
      } catch {
        badLines++;
      }
    }
  }
  return { records, badLines, files: files.length };
}

/**
 * Pairs every `send` with the `recv` that got it: same sender, receiver,
 * frame type, seq and ack fields, first come first served. What no receipt
 * matches was lost.
 */
export function buildTimeline(records: LogRecord[]): TimelineData {
  const time = (r: LogRecord) => Date.parse(r.ts);
  records.sort((a, b) => time(a) - time(b));
  const startMs = records.length > 0 ? time(records[0]!) : 0;
  const names = new Map<number, string>();
  for (const r of records) {
    if (!names.has(r.me)) names.set(r.me, `#${r.me}`);
    if (r.event === "start" && typeof r.name === "string") names.set(r.me, r.name);
  }
  const key = (from: number, to: number, r: LogRecord) =>
    `${from}>${to}:${r.type}:${r.seq}:${r.ack ?? "-"}:${r.sack ?? 0}`;
  const datagrams: TimelineData["datagrams"] = [];
  const waiting = new Map<string, number[]>();
  const drops: TimelineData["drops"] = [];
  const marks: TimelineData["marks"] = [];
  for (const r of records) {
    const at = time(r) - startMs;
    if (r.event === "send" && typeof r.peer === "number") {
      const k = key(r.me, r.peer, r);
      const list = waiting.get(k) ?? [];
      list.push(datagrams.length);
      waiting.set(k, list);
      datagrams.push({
        from: r.me,
        to: r.peer,
        type: String(r.type),
        seq: Number(r.seq ?? 0),
        bytes: Number(r.bytes ?? 0),
        retransmission: r.retransmission === true,
        sentMs: at,
        receivedMs: undefined,
      });
    } else if (r.event === "recv" && typeof r.peer === "number") {
      const list = waiting.get(key(r.peer, r.me, r));
      const index = list?.shift();
      if (index !== undefined) datagrams[index]!.receivedMs = at;
    } else if (r.event === "drop") {
      drops.push({ at, peer: r.me, reason: String(r.reason), detail: String(r.detail ?? "") });
    } else if (r.event === "ready" || r.event.startsWith("peer-") || r.event === "stop") {
      if (r.event === "peer-address") continue;
      const detail = typeof r.peer === "number" ? `peer ${r.peer}` : "";
      marks.push({ at, peer: r.me, event: r.event, detail });
    }
  }
  const peers = [...names].sort((a, b) => a[0] - b[0]).map(([id, name]) => ({ id, name }));
  return { peers, startMs, datagrams, drops, marks };
}

/** The page: data inline, rendering and controls in a few lines of script, no network. */
export function timelineHtml(data: TimelineData): string {
  const json = JSON.stringify(data).replaceAll("<", "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rollcall timeline</title>
<style>
  body { font: 13px system-ui, sans-serif; margin: 0; color: #222; }
  header { padding: 8px 12px; border-bottom: 1px solid #ddd; position: sticky; top: 0; background: #fff; z-index: 1; }
  header label { margin-right: 10px; white-space: nowrap; }
  header input[type=number] { width: 80px; }
  #summary { color: #555; margin-top: 4px; }
  svg { display: block; }
  .lane { stroke: #999; stroke-width: 1; }
  .lane-label { font-weight: 600; }
  .arrow { stroke-width: 1.2; fill: none; }
  .arrow.DATA { stroke: #1f6feb; } .arrow.ACK { stroke: #2da44e; } .arrow.PROBE { stroke: #8250df; }
  .arrow.retransmission { stroke-dasharray: 4 3; }
  .arrow.lost { stroke: #cf222e; }
  .lost-mark { stroke: #cf222e; stroke-width: 2; }
  .drop { fill: #cf222e; } .mark { fill: #bf8700; } .mark.ready { fill: #1a7f37; }
  .tick { fill: #777; font-size: 11px; }
</style>
</head>
<body>
<header>
  <div id="filters"></div>
  <div>
    <label>from <input id="from" type="number" step="1"> ms</label>
    <label>to <input id="to" type="number" step="1"> ms</label>
    <button id="zoom-in">zoom in</button> <button id="zoom-out">zoom out</button> <button id="reset">all</button>
  </div>
  <div id="summary"></div>
</header>
<svg id="chart" xmlns="http://www.w3.org/2000/svg"></svg>
<script id="data" type="application/json">${json}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const ARROWS_MAX = ${ARROWS_MAX};
const end = Math.max(1, ...data.datagrams.map((d) => d.receivedMs ?? d.sentMs), ...data.marks.map((m) => m.at), ...data.drops.map((d) => d.at));
const svgNs = "http://www.w3.org/2000/svg";
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const peers = p.has("peers") ? new Set(p.get("peers").split(",").filter(Boolean).map(Number)) : new Set(data.peers.map((x) => x.id));
  const from = p.has("from") ? Number(p.get("from")) : 0;
  const to = p.has("to") ? Number(p.get("to")) : end;
  return { peers, from, to: to > from ? to : from + 1 };
}
let view = readHash();
function writeHash() {
  const all = view.peers.size === data.peers.length;
  const parts = [];
  if (!all) parts.push("peers=" + [...view.peers].sort((a, b) => a - b).join(","));
  if (view.from !== 0 || view.to !== end) parts.push("from=" + Math.round(view.from), "to=" + Math.round(view.to));
  history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
}
function el(name, attrs, parent, text) {
  const e = document.createElementNS(svgNs, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  parent.appendChild(e);
  return e;
}
function title(e, text) { el("title", {}, e, text); }
function render() {
  const shown = data.peers.filter((p) => view.peers.has(p.id));
  const laneX = new Map(shown.map((p, i) => [p.id, 140 + i * 180]));
  const height = 900, top = 50, span = view.to - view.from;
  const y = (t) => top + ((t - view.from) / span) * (height - top - 20);
  const inView = (t) => t >= view.from && t <= view.to;
  const svg = document.getElementById("chart");
  svg.replaceChildren();
  svg.setAttribute("width", String(140 + Math.max(1, shown.length) * 180));
  svg.setAttribute("height", String(height));
  for (let i = 0; i <= 10; i++) {
    const t = view.from + (span * i) / 10;
    el("text", { x: 8, y: y(t) + 4, class: "tick" }, svg, t.toFixed(span < 20 ? 2 : 0) + " ms");
  }
  for (const p of shown) {
    el("line", { x1: laneX.get(p.id), x2: laneX.get(p.id), y1: top - 10, y2: height - 10, class: "lane", "data-kind": "lane", "data-peer": p.id }, svg);
    el("text", { x: laneX.get(p.id), y: 20, "text-anchor": "middle", class: "lane-label" }, svg, p.id + " " + p.name);
  }
  let drawn = 0, lost = 0, hidden = 0;
  for (const d of data.datagrams) {
    if (!laneX.has(d.from) || !laneX.has(d.to)) continue;
    const t1 = d.receivedMs;
    if (!inView(d.sentMs) && !(t1 !== undefined && inView(t1))) continue;
    if (drawn >= ARROWS_MAX) { hidden++; continue; }
    drawn++;
    const x0 = laneX.get(d.from), x1 = laneX.get(d.to);
    const cls = "arrow " + d.type + (d.retransmission ? " retransmission" : "") + (t1 === undefined ? " lost" : "");
    const what = d.type + " " + d.from + "→" + d.to + " seq " + d.seq + ", " + d.bytes + " bytes" + (d.retransmission ? ", retransmission" : "");
    if (t1 === undefined) {
      lost++;
      const xm = (x0 + x1) / 2, ym = y(d.sentMs) + 8;
      const line = el("line", { x1: x0, y1: y(d.sentMs), x2: xm, y2: ym, class: cls, "data-kind": "arrow" }, svg);
      title(line, what + ", sent at " + d.sentMs.toFixed(1) + " ms, never received");
      el("path", { d: "M" + (xm - 4) + " " + (ym - 4) + "l8 8m0 -8l-8 8", class: "lost-mark" }, svg);
    } else {
      const line = el("line", { x1: x0, y1: y(d.sentMs), x2: x1, y2: y(t1), class: cls, "data-kind": "arrow" }, svg);
      title(line, what + ", sent at " + d.sentMs.toFixed(1) + " ms, received at " + t1.toFixed(1) + " ms");
    }
  }
  for (const d of data.drops) {
    if (!laneX.has(d.peer) || !inView(d.at)) continue;
    const c = el("circle", { cx: laneX.get(d.peer) + 6, cy: y(d.at), r: 4, class: "drop", "data-kind": "drop" }, svg);
    title(c, "drop: " + d.reason + " (" + d.detail + ") at " + d.at.toFixed(1) + " ms");
  }
  for (const m of data.marks) {
    if (!laneX.has(m.peer) || !inView(m.at)) continue;
    const r = el("rect", { x: laneX.get(m.peer) - 7, y: y(m.at) - 3, width: 14, height: 6, class: "mark " + m.event, "data-kind": "mark", "data-event": m.event }, svg);
    title(r, m.event + " " + m.detail + " at " + m.at.toFixed(1) + " ms");
    if (m.event === "ready") el("text", { x: laneX.get(m.peer) + 10, y: y(m.at) + 4, class: "tick" }, svg, "READY");
  }
  document.getElementById("from").value = Math.round(view.from);
  document.getElementById("to").value = Math.round(view.to);
  document.getElementById("summary").textContent =
    drawn + " datagrams shown (" + lost + " lost)" + (hidden ? ", " + hidden + " more beyond " + ARROWS_MAX + ": zoom in" : "") +
    " of " + data.datagrams.length + " in the logs; " + data.drops.length + " drops. Solid: first sends; dashed: retransmissions; red cross: never received. Hover for details.";
  writeHash();
}
const filters = document.getElementById("filters");
for (const p of data.peers) {
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = view.peers.has(p.id);
  box.dataset.peer = p.id;
  box.addEventListener("change", () => { box.checked ? view.peers.add(p.id) : view.peers.delete(p.id); render(); });
  label.append(box, " " + p.id + " " + p.name);
  filters.appendChild(label);
}
function setRange(from, to) { view.from = Math.max(0, from); view.to = Math.max(view.from + 0.01, to); render(); }
document.getElementById("from").addEventListener("change", (e) => setRange(Number(e.target.value), view.to));
document.getElementById("to").addEventListener("change", (e) => setRange(view.from, Number(e.target.value)));
document.getElementById("zoom-in").addEventListener("click", () => { const s = (view.to - view.from) / 4; setRange(view.from + s, view.to - s); });
document.getElementById("zoom-out").addEventListener("click", () => { const s = (view.to - view.from) / 2; setRange(view.from - s, view.to + s); });
document.getElementById("reset").addEventListener("click", () => setRange(0, end));
render();
</script>
</body>
</html>
`;
}

function main(): number {
  const dir = process.argv[2];
  if (dir === undefined || dir === "--help" || dir === "-h") {
    const out = dir === undefined ? process.stderr : process.stdout;
    out.write(
      "usage: npm run timeline -- DIR\n  writes DIR/timeline.html from the peers' JSON-lines logs (*.jsonl, logged at debug) in DIR\n",
    );
    return dir === undefined ? 2 : 0;
  }
  try {
    const { records, badLines, files } = readLogs(dir);
    const data = buildTimeline(records);
    if (data.datagrams.length === 0)
      throw new InputError(
        `${dir}: the logs record no datagrams; run the peers with --log-level debug (the default) to record them`,
      );
    const out = join(dir, "timeline.html");
    writeFileSync(out, timelineHtml(data));
    const lost = data.datagrams.filter((d) => d.receivedMs === undefined).length;
    process.stdout.write(
      `timeline: ${out} (${files} logs, ${data.peers.length} peers, ${data.datagrams.length} datagrams, ${lost} never received, ${data.drops.length} drops${badLines > 0 ? `, ${badLines} unreadable lines skipped` : ""})\n`,
    );
    return 0;
  } catch (error) {
    if (error instanceof InputError) {
      process.stderr.write(`timeline: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

if (import.meta.main) process.exit(main());
