// Map page: a 2-D map of a sample of a collection's vectors, by UMAP (as
// the seed notebook did; umap-js, pinned by package-lock.json and loaded
// from vendor/ only when this page opens) or by PCA (a few power
// iterations, below). Computed in the browser: the gateway stays stateless
// and cheap, and a sample of a few thousand points maps in seconds there.
// Points are coloured by label; hovering shows the thumbnail; a click
// searches by that item.
import {collections, collectionSelect, get, h, labelColour, showError, thumbUrl} from './api.js';

let umapLoaded = null;
function loadUmap() {
  if (!umapLoaded) {
    umapLoaded = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = 'vendor/umap-js.min.js';
      s.onload = () => resolve(window.UMAP.UMAP);
      s.onerror = () => reject(new Error('cannot load vendor/umap-js.min.js'));
      document.head.append(s);
    });
  }
  return umapLoaded;
}

// Seeded PRNG (mulberry32), so a map is the same each time.
function rng(seed) {
  return () => {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0;
    let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

// Top-2 principal components by power iteration with deflation.
export function pca2(X) {
  const n = X.length;
  const d = X[0].length;
  const mean = new Array(d).fill(0);
  for (const x of X) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
  const C = X.map((x) => x.map((v, j) => v - mean[j]));
  const rand = rng(7);
  const comps = [];
  for (let c = 0; c < 2; c++) {
    let v = Array.from({length: d}, () => rand() - 0.5);
    for (let it = 0; it < 100; it++) {
      const w = new Array(d).fill(0);
      for (const x of C) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += x[j] * v[j];
        for (let j = 0; j < d; j++) w[j] += dot * x[j];
      }
      for (const u of comps) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += w[j] * u[j];
        for (let j = 0; j < d; j++) w[j] -= dot * u[j];
      }
      const norm = Math.hypot(...w) || 1;
      v = w.map((x) => x / norm);
    }
    comps.push(v);
  }
  return C.map((x) => comps.map((u) => x.reduce((s, v, j) => s + v * u[j], 0)));
}

export async function render(root) {
  let list;
  try {
    list = await collections(true);
  } catch (e) {
    return showError(root, e);
  }
  const sel = collectionSelect(list, list[0] && list[0].name, 'map-collection');
  const size = h('input', {id: 'map-size', type: 'number', value: 500, min: 10, max: 5000,
                           style: 'width:80px'});
  const method = h('select', {id: 'map-method'}, h('option', {value: 'umap'}, 'UMAP'),
                   h('option', {value: 'pca'}, 'PCA'));
  root.replaceChildren(
      h('div', {class: 'panel controls'}, h('label', {}, 'collection', sel),
        h('label', {}, 'sample size', size), h('label', {}, 'method', method),
        h('button', {id: 'map-draw', onclick: () => draw(sel.value, Number(size.value),
                                                          method.value)}, 'Draw map'),
        h('span', {id: 'map-status', class: 'muted'})),
      h('div', {class: 'panel'}, h('div', {id: 'map-legend', class: 'legend'}), svgRoot()));
}

function svgRoot() {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.id = 'map-svg';
  svg.dataset.points = '0';
  return svg;
}

// The first `n` items of the collection (by id) with vectors.
async function sample(collection, n) {
  const items = [];
  let token = '';
  while (items.length < n) {
    const r = await get(`/v1/collections/${encodeURIComponent(collection)}/items?include_vectors=true` +
                        `&page_size=${Math.min(n - items.length, 5000)}&page_token=${encodeURIComponent(token)}`);
    items.push(...r.items);
    token = r.nextPageToken;
    if (!token) break;
  }
  return items;
}

async function draw(collection, n, method) {
  const status = document.getElementById('map-status');
  const started = performance.now();
  status.textContent = 'loading vectors…';
  let items;
  try {
    items = await sample(collection, n);
  } catch (e) {
    status.textContent = e.message;
    return;
  }
  const X = items.map((it) => it.vector);
  let Y;
  if (method === 'pca' || X.length < 16) {
    Y = pca2(X);
  } else {
    status.textContent = `UMAP of ${X.length} points…`;
    const UMAP = await loadUmap();
    const umap = new UMAP({nComponents: 2, nNeighbors: 15, minDist: 0.1, random: rng(42)});
    Y = await umap.fitAsync(X, () => true);
  }
  plot(items, Y);
  status.textContent = `${items.length} points, ${method.toUpperCase()}, ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`;
}

function plot(items, Y) {
  const svg = document.getElementById('map-svg');
  const ns = 'http://www.w3.org/2000/svg';
  const w = svg.clientWidth || 800;
  const hgt = svg.clientHeight || 600;
  const xs = Y.map((p) => p[0]);
  const ys = Y.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const X = (x) => 12 + (x - x0) / ((x1 - x0) || 1) * (w - 24);
  const Yp = (y) => 12 + (y - y0) / ((y1 - y0) || 1) * (hgt - 24);
  svg.replaceChildren();
  const tip = document.getElementById('tooltip');
  items.forEach((it, i) => {
    const c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', X(Y[i][0]).toFixed(1));
    c.setAttribute('cy', Yp(Y[i][1]).toFixed(1));
    c.setAttribute('r', 4);
    c.setAttribute('fill', labelColour(it.label));
    c.setAttribute('fill-opacity', 0.75);
    c.dataset.id = it.id;
    c.addEventListener('mouseenter', (e) => {
      tip.replaceChildren(h('img', {src: thumbUrl(it.uri, 72)}), h('div', {}, `${it.id} · label ${it.label}`));
      tip.style.left = `${e.clientX + 12}px`;
      tip.style.top = `${e.clientY + 12}px`;
      tip.hidden = false;
    });
    c.addEventListener('mouseleave', () => { tip.hidden = true; });
    c.addEventListener('click', () => {
      tip.hidden = true;
      location.hash = `#/search?item=${encodeURIComponent(it.id)}&uri=${encodeURIComponent(it.uri)}`;
    });
    svg.append(c);
  });
  svg.dataset.points = String(items.length);
  const labels = [...new Set(items.map((it) => it.label))].sort((a, b) => a - b);
  document.getElementById('map-legend').replaceChildren(...labels.map((l) =>
    h('span', {}, h('i', {style: `background:${labelColour(l)}`}), `label ${l}`)));
}
