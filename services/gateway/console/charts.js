// Small hand-drawn canvas charts: a line chart (training curves) and a
// grouped bar chart (eval tables). No chart library: a few dozen lines do.

function setup(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 480;
  const hgt = canvas.clientHeight || 240;
  canvas.width = w * ratio;
  canvas.height = hgt * ratio;
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  ctx.clearRect(0, 0, w, hgt);
  ctx.font = '11px system-ui, sans-serif';
  return {ctx, w, h: hgt};
}

// series: [{name, colour, points: [[x, y], ...]}]
export function lineChart(canvas, series, {title = '', yLabel = ''} = {}) {
  const {ctx, w, h} = setup(canvas);
  const pts = series.flatMap((s) => s.points);
  const n = pts.length;
  canvas.dataset.points = String(n);
  ctx.fillStyle = '#1d2330';
  ctx.fillText(title, 8, 14);
  if (n === 0) {
    ctx.fillStyle = '#6b7280';
    ctx.fillText('waiting for data…', w / 2 - 40, h / 2);
    return;
  }
  const pad = {l: 48, r: 12, t: 22, b: 24};
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const X = (x) => pad.l + (x - x0) / (x1 - x0) * (w - pad.l - pad.r);
  const Y = (y) => h - pad.b - (y - y0) / (y1 - y0) * (h - pad.t - pad.b);
  ctx.strokeStyle = '#d8dde6';
  ctx.fillStyle = '#6b7280';
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, Y(y)); ctx.lineTo(w - pad.r, Y(y)); ctx.stroke();
    ctx.fillText(y.toPrecision(3), 4, Y(y) + 3);
  }
  ctx.fillText(String(x0), pad.l, h - 8);
  ctx.fillText(String(x1), w - pad.r - 30, h - 8);
  ctx.fillText(yLabel, pad.l + 4, pad.t + 10);
  series.forEach((s, i) => {
    ctx.strokeStyle = s.colour;
    ctx.fillStyle = s.colour;
    ctx.beginPath();
    s.points.forEach(([x, y], j) => (j ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
    ctx.stroke();
    if (s.points.length < 60) s.points.forEach(([x, y]) => ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4));
    ctx.fillText(s.name, w - pad.r - 120, pad.t + 12 + 12 * i);
  });
}

// groups: [{name, bars: [{name, value, colour}]}], values in [0, 1]
export function barChart(canvas, groups, {title = ''} = {}) {
  const {ctx, w, h} = setup(canvas);
  ctx.fillStyle = '#1d2330';
  ctx.fillText(title, 8, 14);
  const pad = {l: 36, r: 8, t: 40, b: 22};
  const gw = (w - pad.l - pad.r) / Math.max(1, groups.length);
  const Y = (v) => h - pad.b - v * (h - pad.t - pad.b);
  ctx.strokeStyle = '#d8dde6';
  ctx.fillStyle = '#6b7280';
  for (let i = 0; i <= 4; i++) {
    ctx.beginPath(); ctx.moveTo(pad.l, Y(i / 4)); ctx.lineTo(w - pad.r, Y(i / 4)); ctx.stroke();
    ctx.fillText((i / 4).toFixed(2), 4, Y(i / 4) + 3);
  }
  const legend = new Map();
  groups.forEach((g, gi) => {
    const bw = (gw - 10) / Math.max(1, g.bars.length);
    g.bars.forEach((b, bi) => {
      const x = pad.l + gi * gw + 5 + bi * bw;
      ctx.fillStyle = b.colour;
      ctx.fillRect(x, Y(b.value), bw - 2, Y(0) - Y(b.value));
      legend.set(b.name, b.colour);
    });
    ctx.fillStyle = '#1d2330';
    ctx.fillText(g.name, pad.l + gi * gw + 5, h - 6);
  });
  let lx = pad.l;
  for (const [name, colour] of legend) {
    ctx.fillStyle = colour;
    ctx.fillRect(lx, 22, 10, 10);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(name, lx + 14, 31);
    lx += ctx.measureText(name).width + 30;
  }
}
