// Search page: drop, paste or upload an image (or pick a random item) and
// see its neighbours under L1, L2 and cosine side by side, with exact/HNSW,
// k and a label filter. Clicking a hit searches by that item. The query is
// shown as the encoder sees it (the gateway's :preview, the model's input
// size and channels) next to the model's reconstruction.
import {ApiError, collections, collectionSelect, drawRaw, get, h, post, request, showError,
        thumbUrl} from './api.js';

const METRICS = [['METRIC_L1', 'L1'], ['METRIC_L2', 'L2'], ['METRIC_COSINE', 'cosine']];
const state = {collection: null, query: null, count: 0, items: null, itemsOf: null};

export async function render(root, params) {
  let list;
  try {
    list = await collections(true);
  } catch (e) {
    return showError(root, e);
  }
  if (!list.length) {
    root.replaceChildren(h('p', {class: 'muted'},
        'No collections yet: train a model (Training), then ingest images ',
        '(latentsearch ingest, or POST /v1/collections/NAME/items).'));
    return;
  }
  if (!state.collection || !list.find((c) => c.name === state.collection)) {
    state.collection = list[0].name;
  }
  const sel = collectionSelect(list, state.collection);
  sel.onchange = () => { state.collection = sel.value; state.items = null; };
  const file = h('input', {type: 'file', id: 'file', accept: 'image/png,image/jpeg'});
  file.onchange = () => file.files[0] && search({file: file.files[0]});
  const drop = h('div', {id: 'dropzone'}, 'Drop or paste an image here, or ', file);
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) search({file: f});
  });
  document.onpaste = (e) => {
    const f = [...(e.clipboardData?.files || [])][0];
    if (f && location.hash.startsWith('#/search')) search({file: f});
  };
  const controls = h('div', {class: 'controls'},
      h('label', {}, 'collection', sel),
      h('label', {}, 'k', h('input', {id: 'k', type: 'number', min: 1, max: 100, value: 8,
                                      style: 'width:60px'})),
      h('label', {}, 'index', h('select', {id: 'index'},
          h('option', {value: 'INDEX_KIND_EXACT'}, 'exact'),
          h('option', {value: 'INDEX_KIND_HNSW'}, 'HNSW'))),
      h('label', {}, 'labels (e.g. 1,7)', h('input', {id: 'labels', style: 'width:90px'})),
      h('button', {id: 'random', class: 'secondary', onclick: randomItem}, 'Random item'),
      h('button', {id: 'again', class: 'secondary',
                   onclick: () => state.query && search(state.query)}, 'Search again'));
  root.replaceChildren(
      h('div', {class: 'panel'}, h('div', {class: 'controls'}, drop, controls)),
      h('div', {class: 'panel query', id: 'query'}, h('span', {class: 'muted'}, 'No query yet.')),
      h('div', {class: 'panel'},
        h('div', {id: 'search-count', 'data-count': state.count, class: 'muted'},
          state.count ? `${state.count} searches` : ''),
        h('div', {class: 'rows', id: 'results'})));
  if (params.get('item')) search({itemId: params.get('item'), uri: params.get('uri') || ''});
  else if (state.query) search(state.query);
}

async function randomItem() {
  try {
    if (!state.items || state.itemsOf !== state.collection) {
      state.items = (await get(`/v1/collections/${encodeURIComponent(state.collection)}` +
                               '/items?page_size=1000')).items;
      state.itemsOf = state.collection;
    }
    const it = state.items[Math.floor(Math.random() * state.items.length)];
    if (it) search({itemId: it.id, uri: it.uri});
  } catch (e) {
    showError(document.getElementById('results'), e);
  }
}

function options() {
  const labels = document.getElementById('labels').value.split(',').map((s) => s.trim())
      .filter((s) => s !== '').map(Number);
  return {k: Number(document.getElementById('k').value) || 8,
          indexKind: document.getElementById('index').value, labels};
}

async function searchOne(metric, query, opt) {
  const base = `/v1/collections/${encodeURIComponent(state.collection)}:search`;
  if (query.file) {
    const qs = new URLSearchParams({k: opt.k, metric, index_kind: opt.indexKind});
    if (opt.labels.length) qs.set('labels', opt.labels.join(','));
    return request('POST', `${base}?${qs}`, query.file,
                   {contentType: query.file.type || 'application/octet-stream'});
  }
  return post(base, {itemId: query.itemId, k: opt.k, metric, indexKind: opt.indexKind,
                     labels: opt.labels});
}

async function search(query) {
  state.query = query;
  const results = document.getElementById('results');
  const opt = options();
  const info = (await collections()).find((c) => c.name === state.collection);
  showQuery(query, info);
  let answers;
  try {
    answers = await Promise.all(METRICS.map(([m]) => searchOne(m, query, opt)));
  } catch (e) {
    return showError(results, e);
  }
  results.replaceChildren(...METRICS.map(([m, name], i) => row(m, name, answers[i], query)));
  state.count++;
  const counter = document.getElementById('search-count');
  counter.dataset.count = state.count;
  counter.dataset.query = query.itemId || (query.file && query.file.name) || '';
  counter.textContent = `${state.count} searches · last: ` +
      (query.itemId ? `item ${query.itemId}` : `uploaded ${query.file.name || 'image'}`) +
      ` · ${answers[0].exactFallback ? 'exact (fallback)' : opt.indexKind.slice(11).toLowerCase()}` +
      ` · server ${answers.map((a) => a.tookMicros).join('/')} µs`;
}

function row(metric, name, answer, query) {
  const hits = answer.neighbors.map((n) => h('div', {
    class: 'hit' + (n.id === query.itemId ? ' self' : ''), 'data-id': n.id,
    'data-distance': n.distance, title: `${n.id}\n${n.uri}`,
    onclick: () => search({itemId: n.id, uri: n.uri})},
    h('img', {src: thumbUrl(n.uri, 80), alt: n.id, loading: 'lazy'}),
    h('div', {class: 'dist'}, n.distance !== 0 && Math.abs(n.distance) < 0.01 ?
      n.distance.toExponential(2) : n.distance.toFixed(4)),
    h('div', {class: 'muted'}, `label ${n.label}`)));
  return h('div', {class: 'result-row', 'data-metric': name.toLowerCase()},
           h('div', {class: 'metric'}, name), ...hits);
}

// The query image as bytes: the upload itself, or the item's image (its
// thumbnail at the model's own size is the stored image).
async function queryBlob(query, shape) {
  if (query.file) return query.file;
  if (!query.uri) return null;
  const size = Math.max(shape?.height || 0, shape?.width || 0) || 96;
  const r = await request('GET', thumbUrl(query.uri, size), undefined, {raw: true});
  return r.blob();
}

async function showQuery(query, info) {
  const panel = document.getElementById('query');
  const model = info.model.name || 'default';
  const version = info.model.version;
  const seen = h('img', {id: 'query-preview', alt: 'as the encoder sees it'});
  const recon = h('canvas', {id: 'query-reconstruction'});
  const note = h('div', {id: 'reconstruction-note', class: 'muted'});
  panel.replaceChildren(
      h('figure', {}, seen, h('figcaption', {}, 'as the encoder sees it')),
      h('figure', {}, recon, h('figcaption', {}, 'reconstruction'), note),
      h('div', {}, h('div', {}, query.itemId ? `Item ${query.itemId}` :
                                               `Uploaded ${query.file.name || 'image'}`),
        h('div', {class: 'muted'}, `model ${model} v${version}`)));
  try {
    const models = (await get(`/v1/models?name=${encodeURIComponent(model)}`)).models;
    const m = models.find((x) => x.metadata.model.version === version) || models[0];
    const blob = await queryBlob(query, m?.metadata.inputShape);
    if (!blob) return;
    const qs = `model.version=${version}`;
    const prev = await request('POST', `/v1/models/${encodeURIComponent(model)}:preview?${qs}`,
                               blob, {raw: true, contentType: blob.type || 'image/png'});
    seen.src = URL.createObjectURL(await prev.blob());
    try {
      const r = await request('POST', `/v1/models/${encodeURIComponent(model)}:reconstruct?${qs}`,
                              blob, {contentType: blob.type || 'image/png'});
      drawRaw(recon, r.images[0]);
      note.textContent = `MSE ${r.mse[0].toFixed(4)}`;
    } catch (e) {
      note.textContent = e instanceof ApiError && e.code === 'FAILED_PRECONDITION' ?
          'this model has no decoder' : e.message;
    }
  } catch (e) {
    note.textContent = e.message;
  }
}
