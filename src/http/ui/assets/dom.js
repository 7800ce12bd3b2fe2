// Small DOM helpers shared by the screens.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** An element with attributes (`text`, `class`, `style` object, `dataset`, `on<event>`) and children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k === 'style') Object.assign(e.style, v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** Shows a message in the status line (read out by screen readers). */
export function say(message, kind = 'info') {
  const s = $('#status');
  s.textContent = message;
  s.dataset.kind = kind;
}

/**
 * Latest-wins for a screen's requests: each call starts a run and returns its check, true while
 * no later run has started. Answers can arrive out of order (a slow one for an earlier photo,
 * page or job); a run whose check is false drops its answer instead of drawing over a newer one.
 */
export function latest() {
  let runs = 0;
  return () => {
    const mine = ++runs;
    return () => mine === runs;
  };
}

/** Shows an API error (its message and code) or any other error. */
export function sayError(e) {
  say(e && e.code ? `${e.message} (${e.code})` : `Error: ${e && e.message ? e.message : e}`, 'error');
}

/** Settles the question the confirmation dialog is asking; null when none is. */
let answer = null;
/** `close` events still to come for questions already settled: the browser queues them. */
let staleCloses = 0;

function answerWith(d, confirmed) {
  const settle = answer;
  answer = null;
  if (settle) settle(confirmed ?? d.returnValue === 'ok');
}

/**
 * Asks before a destructive action; resolves true when confirmed. The dialog's buttons close it
 * with their value; Escape closes it with none. Each close queues one `close` event, so the
 * event for an earlier question can arrive after the next is asked: that question is settled
 * from the value it closed with when the next is asked, and its late event is skipped.
 */
export function confirmAction(message, action = 'Delete') {
  const d = $('#confirm');
  if (!d.dataset.wired) {
    d.dataset.wired = 'yes';
    d.addEventListener('close', () => (staleCloses > 0 ? (staleCloses -= 1) : answerWith(d)));
  }
  if (answer && d.open) answerWith(d, false);
  else if (answer) {
    answerWith(d);
    staleCloses += 1;
  }
  $('#confirm-message').textContent = message;
  $('#confirm-ok').textContent = action;
  d.returnValue = '';
  if (!d.open) d.showModal();
  $('#confirm-cancel').focus();
  return new Promise((resolve) => (answer = resolve));
}

export const fixed = (x, digits = 3) => (x === null || x === undefined ? '–' : Number(x).toFixed(digits));
export const when = (unix) => new Date(unix * 1000).toLocaleString();
