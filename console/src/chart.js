// A small live line chart of messages per second per topic, drawn by hand on a canvas.

const COLORS = ["#2b6cd4", "#d9480f", "#1f8a4c", "#9c36b5", "#c2255c", "#0b7285", "#e67700", "#5c940d"];

export class RateChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{seconds?: number}} [o] seconds of history shown
   */
  constructor(canvas, o = {}) {
    this.canvas = canvas;
    this.seconds = o.seconds ?? 60;
    this.series = new Map(); // topic -> {color, buckets: Map(second -> count)}
    this.now = () => Date.now();
  }

  /** Counts `n` messages of `topic` at time `ms` (default now). */
  add(topic, n = 1, ms = this.now()) {
    let s = this.series.get(topic);
    if (!s) {
      s = { color: COLORS[this.series.size % COLORS.length], buckets: new Map() };
      this.series.set(topic, s);
    }
    const sec = Math.floor(ms / 1000);
    s.buckets.set(sec, (s.buckets.get(sec) ?? 0) + n);
  }

  /** Per topic, messages per second averaged over the last `window` complete seconds. */
  rates(window = 3) {
    const last = Math.floor(this.now() / 1000) - 1;
    const out = {};
    for (const [topic, s] of this.series) {
      let n = 0;
      for (let sec = last - window + 1; sec <= last; sec++) n += s.buckets.get(sec) ?? 0;
      out[topic] = Math.round((n / window) * 10) / 10;
    }
    return out;
  }

  clear() {
    this.series.clear();
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);

    const nowSec = Math.floor(this.now() / 1000);
    const first = nowSec - this.seconds;
    // Drop what scrolled out.
    for (const s of this.series.values()) {
      for (const sec of s.buckets.keys()) if (sec < first) s.buckets.delete(sec);
    }
    let max = 0;
    for (const s of this.series.values()) for (const v of s.buckets.values()) max = Math.max(max, v);
    const top = niceCeil(Math.max(max, 1));

    const left = 40, right = 10, topPad = 8, bottom = 20;
    const pw = w - left - right;
    const ph = h - topPad - bottom;
    const x = (sec) => left + ((sec - first) / this.seconds) * pw;
    const y = (v) => topPad + ph - (v / top) * ph;

    // Grid and axes.
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#6a7283";
    g.strokeStyle = "#e6e9ef";
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      const yy = Math.round(y(v)) + 0.5;
      g.beginPath();
      g.moveTo(left, yy);
      g.lineTo(w - right, yy);
      g.stroke();
      g.fillText(formatRate(v), left - 6, yy);
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let ago = this.seconds; ago >= 0; ago -= 15) {
      g.fillText(ago === 0 ? "now" : `-${ago}s`, x(nowSec - ago), topPad + ph + 5);
    }

    // One line per topic, over complete seconds (the current one is still filling up).
    g.lineWidth = 2;
    g.lineJoin = "round";
    for (const s of this.series.values()) {
      g.strokeStyle = s.color;
      g.beginPath();
      for (let sec = first; sec < nowSec; sec++) {
        const px = x(sec), py = y(s.buckets.get(sec) ?? 0);
        if (sec === first) g.moveTo(px, py);
        else g.lineTo(px, py);
      }
      g.stroke();
    }

    // Legend: topic and its last rate.
    const rates = this.rates();
    g.textAlign = "left";
    g.textBaseline = "middle";
    let lx = left + 8;
    for (const [topic, s] of this.series) {
      const label = `${topic}  ${formatRate(rates[topic])}/s`;
      g.fillStyle = s.color;
      g.fillRect(lx, topPad + 6, 10, 3);
      g.fillStyle = "#1d2330";
      g.fillText(label, lx + 14, topPad + 8);
      lx += 14 + g.measureText(label).width + 16;
    }
  }
}

function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 2, 4, 8, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function formatRate(v) {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
