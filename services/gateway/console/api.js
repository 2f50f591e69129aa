// Calls to the gateway's /v1 API. Every call carries the session cookie
// (same origin); a 401 opens the sign-in form and retries once signed in.
// Errors throw ApiError with the gateway's error JSON (code, message).

export class ApiError extends Error {
  constructor(status, error) {
    super(`${error.code || status}: ${error.message || ''}`);
    this.status = status;
    this.code = error.code || '';
    this.service = error.service || '';
  }
}

let signingIn = null;

function signIn() {
  if (signingIn) return signingIn;
  const modal = document.getElementById('signin');
  const form = document.getElementById('signin-form');
  const error = document.getElementById('signin-error');
  modal.hidden = false;
  signingIn = new Promise((resolve) => {
    form.onsubmit = async (e) => {
      e.preventDefault();
      const token = document.getElementById('signin-token').value;
      const r = await fetch('/v1/session', {
        method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({token}), credentials: 'same-origin'});
      if (r.ok) {
        modal.hidden = true;
        signingIn = null;
        resolve();
      } else {
        error.textContent = (await r.json()).error.message;
      }
    };
  });
  return signingIn;
}

// fetch() with the error JSON turned into ApiError. `opts.body` objects
// are sent as JSON; Blobs/ArrayBuffers as they are.
export async function request(method, path, body, {raw = false, contentType} = {}) {
  const init = {method, credentials: 'same-origin', headers: {}};
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    init.body = body;
    init.headers['Content-Type'] = contentType || body.type || 'application/octet-stream';
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let r = await fetch(path, init);
  if (r.status === 401) {
    await signIn();
    r = await fetch(path, init);
  }
  if (!r.ok) {
    let err = {message: r.statusText};
    try { err = (await r.json()).error; } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, err);
  }
  if (raw) return r;
  return r.json();
}

export const get = (path) => request('GET', path);
export const post = (path, body, opts) => request('POST', path, body, opts);

export function thumbUrl(uri, size = 96) {
  return `/v1/thumbnails?uri=${encodeURIComponent(uri)}&size=${size}`;
}

// Decoded base64 RawImage pixels drawn into a canvas (grey or RGB).
export function drawRaw(canvas, raw) {
  const bytes = Uint8Array.from(atob(raw.pixels), (c) => c.charCodeAt(0));
  canvas.width = raw.width;
  canvas.height = raw.height;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(raw.width, raw.height);
  for (let i = 0; i < raw.width * raw.height; i++) {
    const c = raw.channels;
    img.data[4 * i] = bytes[c * i];
    img.data[4 * i + 1] = bytes[c * i + (c === 3 ? 1 : 0)];
    img.data[4 * i + 2] = bytes[c * i + (c === 3 ? 2 : 0)];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// Helpers for building pages.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function showError(where, e) {
  where.replaceChildren(h('p', {class: 'error', text: e.message || String(e)}));
}

// Collections for <select>s (cached for the page's life; refreshed on demand).
let collectionsCache = null;
export async function collections(refresh = false) {
  if (!collectionsCache || refresh) collectionsCache = (await get('/v1/collections')).collections;
  return collectionsCache;
}

export function collectionSelect(list, selected, id = 'collection') {
  const sel = h('select', {id});
  for (const c of list) {
    sel.append(h('option', {value: c.name, selected: c.name === selected ? '' : null},
                 `${c.name} (${c.itemCount} items)`));
  }
  return sel;
}

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b',
                        '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
export const labelColour = (l) => (l < 0 ? '#999' : PALETTE[l % PALETTE.length]);
