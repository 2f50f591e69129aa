// The console's entry: a hash router over the five pages and the status
// line (GET /readyz). Each page module exports render(root, params).
import {h} from './api.js';
import * as browse from './browse.js';
import * as map from './map.js';
import * as models from './models.js';
import * as search from './search.js';
import * as training from './training.js';

const PAGES = {search, browse, training, map, models};

function route() {
  const [path, query] = (location.hash.slice(2) || 'search').split('?');
  const name = PAGES[path] ? path : 'search';
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.page === name);
  }
  const root = document.getElementById('page');
  root.dataset.page = name;
  root.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  PAGES[name].render(root, new URLSearchParams(query || ''));
}

async function status() {
  const el = document.getElementById('status');
  try {
    const r = await fetch('/readyz');
    const body = await r.json();
    el.textContent = body.status === 'ready' ? 'backends ready' : body.message;
    el.className = body.status === 'ready' ? '' : 'error';
  } catch (e) {
    el.textContent = 'gateway unreachable';
  }
}

window.addEventListener('hashchange', route);
route();
status();
setInterval(status, 15000);
