// Browse page: the collections with their statistics and pinned model
// version, and a paged thumbnail grid of one collection with labels.
import {collections, get, h, labelColour, showError, thumbUrl} from './api.js';

const PAGE = 60;
const state = {collection: null, tokens: [''], page: 0};

export async function render(root, params) {
  let list;
  try {
    list = await collections(true);
  } catch (e) {
    return showError(root, e);
  }
  const table = h('table', {id: 'collections'},
      h('tr', {}, ...['collection', 'items', 'dim', 'model', 'indexes', 'disk', 'updated']
          .map((t) => h('th', {}, t))));
  for (const c of list) {
    const indexes = c.indexes.map((i) => `${i.metric.slice(7).toLowerCase()}/` +
        `${i.kind.slice(11).toLowerCase()} ${i.state.slice(12).toLowerCase()}`).join(', ');
    const tr = h('tr', {class: c.name === state.collection ? 'selected' : null,
                        style: 'cursor:pointer', onclick: () => open(c.name)},
        h('td', {}, c.name), h('td', {}, c.itemCount), h('td', {}, c.dim),
        h('td', {}, c.model.name ? `${c.model.name} v${c.model.version}` : '—'),
        h('td', {class: 'muted'}, indexes),
        h('td', {}, `${(Number(c.diskBytes) / 1e6).toFixed(1)} MB`),
        h('td', {class: 'muted'}, c.updatedAt.slice(0, 19).replace('T', ' ')));
    table.append(tr);
  }
  root.replaceChildren(h('div', {class: 'panel'}, h('h2', {}, 'Collections'), table),
                       h('div', {class: 'panel', id: 'grid-panel'}));
  const name = params.get('collection') || state.collection || (list[0] && list[0].name);
  if (name) open(name, state.collection === name ? state.page : 0);

  async function open(collection, page = 0) {
    if (collection !== state.collection) {
      state.tokens = [''];
      page = 0;
    }
    state.collection = collection;
    state.page = page;
    const panel = document.getElementById('grid-panel');
    let r;
    try {
      r = await get(`/v1/collections/${encodeURIComponent(collection)}/items?page_size=${PAGE}` +
                    `&page_token=${encodeURIComponent(state.tokens[page])}`);
    } catch (e) {
      return showError(panel, e);
    }
    state.tokens[page + 1] = r.nextPageToken;
    const grid = h('div', {class: 'grid', id: 'grid'}, ...r.items.map((it) =>
      h('a', {class: 'tile', href: `#/search?item=${encodeURIComponent(it.id)}` +
                                  `&uri=${encodeURIComponent(it.uri)}`, title: it.uri},
        h('img', {src: thumbUrl(it.uri, 72), alt: it.id, loading: 'lazy'}),
        h('div', {}, it.id),
        h('div', {style: `color:${labelColour(it.label)}`}, `label ${it.label}`))));
    const first = page * PAGE + 1;
    panel.replaceChildren(
        h('h2', {}, `${collection}: items ${first}–${first + r.items.length - 1} of ${r.itemCount}`),
        h('div', {class: 'controls'},
          h('button', {class: 'secondary', disabled: page === 0 ? '' : null,
                       onclick: () => open(collection, page - 1)}, '← previous'),
          h('button', {class: 'secondary', disabled: r.nextPageToken ? null : '',
                       onclick: () => open(collection, page + 1)}, 'next →')),
        grid);
    for (const tr of document.querySelectorAll('#collections tr')) {
      tr.classList.toggle('selected', tr.firstChild.textContent === collection);
    }
  }
}
