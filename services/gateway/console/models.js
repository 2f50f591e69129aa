// Models and eval page: the model versions the encoder holds (and the
// checkpoints in the trainer's store), which collections pin which version,
// and evaluations of a collection run as gateway jobs (POST /v1/evals):
// precision@k, mAP and HNSW recall per metric and index, against raw
// pixels, as a table and a chart.
import {collections, collectionSelect, get, h, post, showError} from './api.js';
import {barChart} from './charts.js';

export async function render(root) {
  let models;
  let list;
  try {
    [models, list] = await Promise.all([get('/v1/models'), collections(true)]);
  } catch (e) {
    return showError(root, e);
  }
  const pins = (m) => list.filter((c) => c.model.name === m.metadata.model.name &&
                                         c.model.version === m.metadata.model.version)
      .map((c) => c.name).join(', ');
  const table = h('table', {id: 'models-table'}, h('tr', {},
      ...['model', 'version', 'architecture', 'latent', 'input', 'objective', 'epoch',
          'val. loss', 'decoder params', 'served', 'pinned by'].map((t) => h('th', {}, t))));
  for (const m of models.models) {
    const md = m.metadata;
    table.append(h('tr', {},
        h('td', {}, md.model.name), h('td', {}, `v${md.model.version}${m.newest ? ' (newest)' : ''}`),
        h('td', {}, md.architecture), h('td', {}, md.latentSize),
        h('td', {}, `${md.inputShape.height}×${md.inputShape.width}×${md.inputShape.channels}`),
        h('td', {}, md.objective), h('td', {}, md.epoch),
        h('td', {}, typeof md.validationLoss === 'number' ? md.validationLoss.toFixed(4) : '—'),
        h('td', {}, md.decoderParameters), h('td', {}, `${m.imagesServed} images`),
        h('td', {}, pins(m) || h('span', {class: 'muted'}, 'none'))));
  }
  const sel = collectionSelect(list, list[0] && list[0].name, 'eval-collection');
  const queries = h('input', {id: 'eval-queries', type: 'number', value: 200, style: 'width:80px'});
  const k = h('input', {id: 'eval-k', type: 'number', value: 10, style: 'width:60px'});
  root.replaceChildren(
      h('div', {class: 'panel'}, h('h2', {}, `Models on the encoder (${models.device})`),
        models.models.length ? table : h('p', {class: 'muted'}, 'No model yet: train one.')),
      h('div', {class: 'panel'}, h('h2', {}, 'Evaluate a collection'),
        h('div', {class: 'controls'}, h('label', {}, 'collection', sel),
          h('label', {}, 'queries', queries), h('label', {}, 'k', k),
          h('button', {id: 'eval-start', onclick: () => start(sel.value, +queries.value, +k.value)},
            'Run eval'), h('span', {id: 'eval-status', class: 'muted'})),
        h('div', {id: 'eval-result'}), h('canvas', {class: 'chart', id: 'eval-chart'})));
  const evals = (await get('/v1/evals')).evals;
  if (evals.length && evals[0].result) show(evals[0]);
}

async function start(collection, queries, k) {
  const status = document.getElementById('eval-status');
  try {
    const {id} = await post('/v1/evals', {collection, queries, k});
    status.textContent = `${id} running…`;
    for (;;) {
      const job = await get(`/v1/evals/${id}`);
      if (job.state !== 'RUNNING') {
        status.textContent = `${id} ${job.state.toLowerCase()} ${job.error}`;
        if (job.result) show(job);
        return;
      }
      status.textContent = `${id}: ${job.progress}`;
      await new Promise((r) => setTimeout(r, 300));
    }
  } catch (e) {
    status.textContent = e.message;
  }
}

function show(job) {
  const r = job.result;
  const table = h('table', {id: 'eval-table'}, h('tr', {},
      ...['source', 'metric', 'index', `P@${r.k}`, `P@${r.k} incl. self`, `mAP@${r.mapDepth}`,
          'recall vs exact'].map((t) => h('th', {}, t))));
  for (const row of r.rows) {
    table.append(h('tr', {}, h('td', {}, row.source), h('td', {}, row.metric),
        h('td', {}, row.indexKind), h('td', {}, row.precisionAtK.toFixed(3)),
        h('td', {}, row.precisionAtKIncludingSelf.toFixed(3)), h('td', {}, row.map.toFixed(3)),
        h('td', {}, row.recallVsExact === undefined ? '—' : row.recallVsExact.toFixed(3))));
  }
  document.getElementById('eval-result').replaceChildren(
      h('p', {class: 'muted'}, `${job.id}: ${r.collection}, model ${r.model}, ${r.items} items, ` +
        `${r.queries} queries, ${r.seconds.toFixed(1)} s. ${r.baselineNote}`), table);
  const colours = {'model exact': '#2f6fde', 'model hnsw': '#9ec5fe', 'raw pixels exact': '#f79009'};
  const groups = ['l1', 'l2', 'cosine'].map((m) => ({name: m, bars: r.rows
      .filter((row) => row.metric === m)
      .map((row) => ({name: `${row.source} ${row.indexKind}`, value: row.precisionAtK,
                      colour: colours[`${row.source} ${row.indexKind}`] || '#999'}))}));
  barChart(document.getElementById('eval-chart'), groups, {title: `precision@${r.k} by metric`});
}
