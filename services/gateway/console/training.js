// Training page: the trainer's jobs, a form that starts one, and the live
// loss and k-NN precision curves of the selected job, fed by the gateway's
// server-sent events (GET /v1/jobs/ID/events). Stop a running job.
import {get, h, post, showError} from './api.js';
import {lineChart} from './charts.js';

const state = {job: null, source: null, steps: [], val: [], train: [], p10: [], p10cos: []};

function field(label, input) {
  return h('label', {}, label, input);
}

export async function render(root) {
  const form = h('form', {id: 'train-form', class: 'controls'},
      field('model name', h('input', {name: 'model', value: 'console', style: 'width:90px'})),
      field('data set', h('select', {name: 'kind'},
          h('option', {value: 'idxDir'}, 'IDX (MNIST layout)'),
          h('option', {value: 'cifar10Dir'}, 'CIFAR-10 binary'),
          h('option', {value: 'imageFolder'}, 'image folder'))),
      field('path', h('input', {name: 'path', value: '/usr/share/datasets/fashion-mnist',
                                style: 'width:240px'})),
      field('max images', h('input', {name: 'maxImages', type: 'number', value: 5000,
                                      style: 'width:80px'})),
      field('architecture', h('select', {name: 'architecture'},
          ...['conv', 'seed', 'resnet_small', 'resnet'].map((a) => h('option', {value: a}, a)))),
      field('objective', h('select', {name: 'objective'},
          h('option', {value: 'OBJECTIVE_RECONSTRUCTION'}, 'reconstruction'),
          h('option', {value: 'OBJECTIVE_DENOISING'}, 'denoising'),
          h('option', {value: 'OBJECTIVE_CONTRASTIVE'}, 'contrastive'))),
      field('latent', h('input', {name: 'latent', type: 'number', value: 16, style: 'width:60px'})),
      field('epochs', h('input', {name: 'epochs', type: 'number', value: 3, style: 'width:60px'})),
      field('batch', h('input', {name: 'batch', type: 'number', value: 64, style: 'width:60px'})),
      field('budget (s)', h('input', {name: 'budget', type: 'number', value: 60,
                                      style: 'width:70px'})),
      h('button', {type: 'submit', id: 'start-training'}, 'Start training'));
  form.onsubmit = start;
  root.replaceChildren(
      h('div', {class: 'panel'}, h('h2', {}, 'Start a job'), form, h('div', {id: 'form-msg'})),
      h('div', {class: 'panel'}, h('h2', {}, 'Jobs'), h('div', {id: 'jobs'})),
      h('div', {class: 'panel'}, h('h2', {id: 'job-title'}, 'Select a job'),
        h('div', {id: 'job-state', class: 'muted'}),
        h('div', {class: 'charts'},
          h('canvas', {class: 'chart', id: 'loss-chart'}),
          h('canvas', {class: 'chart', id: 'precision-chart'}))));
  await listJobs();
  if (state.job) watch(state.job);
  else draw();
}

async function start(e) {
  e.preventDefault();
  const f = Object.fromEntries(new FormData(e.target).entries());
  const config = {
    dataset: {[f.kind]: f.path, maxImages: String(f.maxImages || 0)},
    modelName: f.model, architecture: f.architecture, objective: f.objective,
    latentSize: Number(f.latent), epochs: Number(f.epochs), batchSize: Number(f.batch),
    timeBudgetSeconds: Number(f.budget), checkpointPolicy: 'CHECKPOINT_POLICY_EVERY_EPOCH'};
  if (f.kind === 'imageFolder') config.inputShape = {height: 32, width: 32, channels: 3};
  const msg = document.getElementById('form-msg');
  try {
    const r = await post('/v1/jobs', {config});
    msg.replaceChildren(h('span', {class: 'muted'}, `started ${r.jobId} (${r.state})`));
    await listJobs();
    watch(r.jobId);
  } catch (err) {
    showError(msg, err);
  }
}

async function listJobs() {
  const where = document.getElementById('jobs');
  if (!where) return;
  let jobs;
  try {
    jobs = (await get('/v1/jobs')).jobs;
  } catch (e) {
    return showError(where, e);
  }
  const table = h('table', {id: 'jobs-table'}, h('tr', {},
      ...['job', 'state', 'model', 'data set', 'epoch', 'step', 'loss', ''].map((t) => h('th', {}, t))));
  for (const j of jobs) {
    const ds = j.config.dataset || {};
    const running = j.state === 'JOB_STATE_RUNNING' || j.state === 'JOB_STATE_QUEUED';
    table.append(h('tr', {class: j.jobId === state.job ? 'selected' : null, 'data-job': j.jobId},
        h('td', {}, h('a', {href: '#/training', onclick: () => watch(j.jobId)}, j.jobId)),
        h('td', {}, j.state.slice(10).toLowerCase()),
        h('td', {}, j.config.modelName || 'default'),
        h('td', {class: 'muted'}, ds.idxDir || ds.cifar10Dir || ds.imageFolder || ''),
        h('td', {}, j.epoch), h('td', {}, `${j.step}/${j.totalSteps}`),
        h('td', {}, Number(j.lastTrainLoss).toFixed(4)),
        h('td', {}, running ? h('button', {class: 'secondary', onclick: () => stop(j.jobId)},
                                'Stop') : '')));
  }
  where.replaceChildren(jobs.length ? table : h('p', {class: 'muted'}, 'No jobs yet.'));
}

async function stop(id) {
  try {
    await post(`/v1/jobs/${encodeURIComponent(id)}:stop`, {});
  } catch (e) {
    alert(e.message);
  }
  listJobs();
}

function watch(id) {
  if (state.source) state.source.close();
  Object.assign(state, {job: id, steps: [], val: [], train: [], p10: [], p10cos: []});
  document.getElementById('job-title').textContent = `Job ${id}`;
  for (const tr of document.querySelectorAll('#jobs-table tr[data-job]')) {
    tr.classList.toggle('selected', tr.dataset.job === id);
  }
  draw();
  const src = new EventSource(`/v1/jobs/${encodeURIComponent(id)}/events`);
  state.source = src;
  let pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; draw(); });
  };
  // Another page replaced this one: stop listening.
  const gone = () => {
    if (document.getElementById('job-state')) return false;
    src.close();
    return true;
  };
  src.addEventListener('step', (e) => {
    if (gone()) return;
    const s = JSON.parse(e.data).step;
    state.steps.push([Number(s.step), s.loss]);
    document.getElementById('job-state').textContent =
        `epoch ${s.epoch} · step ${s.step}/${s.totalSteps} · ${s.imagesPerSecond.toFixed(0)} img/s` +
        ` · ETA ${s.etaSeconds.toFixed(0)} s`;
    redraw();
  });
  src.addEventListener('epoch', (e) => {
    if (gone()) return;
    const ep = JSON.parse(e.data).epoch;
    state.train.push([ep.epoch, ep.trainLoss]);
    if (typeof ep.validationLoss === 'number') state.val.push([ep.epoch, ep.validationLoss]);
    if (ep.precisionAt10 !== undefined) state.p10.push([ep.epoch, ep.precisionAt10]);
    if (ep.precisionAt10Cosine !== undefined) state.p10cos.push([ep.epoch, ep.precisionAt10Cosine]);
    redraw();
    listJobs();  // the table's epoch, step and loss
  });
  src.addEventListener('state', (e) => {
    if (gone()) return;
    const s = JSON.parse(e.data).state;
    document.getElementById('job-state').textContent = `${s.state.slice(10).toLowerCase()} ${s.message}`;
    listJobs();
  });
  const end = () => { src.close(); listJobs(); };
  src.addEventListener('end', end);
  src.addEventListener('error', (e) => { if (e.data) end(); });
}

function draw() {
  const loss = document.getElementById('loss-chart');
  if (!loss) return;
  lineChart(loss, [{name: 'step loss', colour: '#2f6fde', points: state.steps}],
            {title: 'loss per step', yLabel: ''});
  lineChart(document.getElementById('precision-chart'), [
    {name: 'k-NN P@10 (L2)', colour: '#12b76a', points: state.p10},
    {name: 'k-NN P@10 (cosine)', colour: '#f79009', points: state.p10cos},
    {name: 'validation loss', colour: '#9467bd', points: state.val}],
            {title: 'per epoch: k-NN precision@10, validation loss'});
}
