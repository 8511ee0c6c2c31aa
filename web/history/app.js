// Weft's history page: projects, a project's versions over time, a version as a Gantt chart, a diff
// between two versions, and creating and restoring versions. Routes live in the URL hash:
//   #/                        projects
//   #/p/<id>                  a project's timeline
//   #/p/<id>/v/<n>            a version (or `current`)
//   #/p/<id>/diff/<from>/<to> a diff
import { flattenTasks, renderGantt } from './gantt.js';

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const who = document.getElementById('who');
let session = null;
let events = null;

const h = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  return node;
};

class HttpFailure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && session) headers['x-csrf-token'] = session.csrf;
  const res = await fetch(`api/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const text = await res.text();
  const value = text ? JSON.parse(text) : null;
  if (!res.ok) throw new HttpFailure(res.status, value?.error ?? res.statusText);
  return value;
}

function toast(text) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.hidden = true), 3000);
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const enc = encodeURIComponent;
const versionName = (ref) => (ref === 'current' ? 'now' : `version ${ref}`);

function setCrumbs(...items) {
  crumbs.textContent = '';
  items.forEach(([label, href], i) => crumbs.append(i ? ' / ' : '', href ? h('a', { href }, label) : h('span', {}, label)));
}

function showWho() {
  who.textContent = '';
  if (!session) return;
  who.append(
    `Signed in as ${session.user}`,
    h('button', {
      id: 'logout',
      onclick: async () => {
        await api('logout', { method: 'POST' }).catch(() => {});
        session = null;
        route();
      },
    }, 'Log out'),
  );
}

function loginView(message) {
  setCrumbs();
  const error = h('p', { class: 'error', id: 'login-error' }, message ?? '');
  const name = h('input', { id: 'login-name', autocomplete: 'username', required: true });
  const password = h('input', { id: 'login-password', type: 'password', autocomplete: 'current-password' });
  const form = h('form', { class: 'login', id: 'login-form', onsubmit: async (e) => {
    e.preventDefault();
    try {
      session = await api('login', { method: 'POST', body: { name: name.value, password: password.value } });
      route();
    } catch (err) {
      error.textContent = err.message;
    }
  } }, h('h1', {}, 'Log in'), h('label', {}, 'Name', h('br'), name), h('label', {}, 'Password', h('br'), password), h('button', { class: 'primary', type: 'submit' }, 'Log in'), error);
  main.replaceChildren(form);
  name.focus();
}

async function projectsView() {
  setCrumbs(['Projects']);
  const projects = await api('projects');
  const search = h('input', { id: 'search', placeholder: 'Search projects', type: 'search' });
  const body = h('tbody');
  const fill = () => {
    const q = search.value.trim().toLowerCase();
    body.replaceChildren(
      ...projects
        .filter((p) => !q || p.name.toLowerCase().includes(q) || p.id.toLowerCase().includes(q))
        .map((p) => h('tr', { 'data-project': p.id }, h('td', {}, h('a', { href: `#/p/${enc(p.id)}` }, p.name)), h('td', {}, p.id), h('td', {}, p.tasks ?? '—'), h('td', {}, when(p.lastChange)), h('td', {}, p.lastAuthor ?? '—'), h('td', {}, p.versions))),
    );
  };
  search.addEventListener('input', fill);
  fill();
  main.replaceChildren(h('h1', {}, 'Projects'), h('div', { class: 'toolbar' }, search), h('table', { id: 'projects' }, h('thead', {}, h('tr', {}, ['Name', 'Id', 'Tasks', 'Last change', 'By', 'Versions'].map((t) => h('th', {}, t)))), body));
}

function changesChart(target, versions) {
  target.textContent = '';
  if (!window.uPlot || versions.length === 0) return;
  const xs = versions.map((v) => Date.parse(v.time) / 1000);
  const ys = versions.map((v) => v.changes);
  const width = Math.max(320, target.clientWidth - 16);
  new window.uPlot({ width, height: 160, series: [{}, { label: 'changes', stroke: '#2f6fde', fill: 'rgba(47,111,222,0.15)', points: { show: true } }], axes: [{}, { label: 'changes' }] }, [xs, ys], target);
}

async function timelineView(project) {
  const [versions, projects] = await Promise.all([api(`projects/${enc(project)}/versions`), api('projects')]);
  const info = projects.find((p) => p.id === project);
  setCrumbs(['Projects', '#/'], [info?.name ?? project]);
  const chart = h('div', { class: 'chart', id: 'changes-chart' });
  const body = h('tbody');
  let known = new Set(versions.map((v) => v.n));
  const fill = (list, fresh = new Set()) => {
    const rows = [...list].reverse().map((v, i, all) => {
      const previous = all[i + 1];
      return h('tr', { 'data-version': v.n, class: fresh.has(v.n) ? 'fresh' : undefined },
        h('td', {}, v.n),
        h('td', {}, when(v.time)),
        h('td', {}, v.label || h('span', { class: 'muted' }, '—')),
        h('td', {}, h('span', { class: `tag ${v.reason}` }, v.reason)),
        h('td', {}, v.authors.join(', ') || '—'),
        h('td', {}, v.changes),
        h('td', {},
          h('a', { class: 'button', href: `#/p/${enc(project)}/v/${v.n}` }, 'Open'), ' ',
          previous ? h('a', { class: 'button', href: `#/p/${enc(project)}/diff/${previous.n}/${v.n}` }, 'Diff to previous') : null, ' ',
          h('a', { class: 'button', href: `#/p/${enc(project)}/diff/${v.n}/current` }, 'Diff to now'), ' ',
          h('button', { class: 'danger', 'data-restore': v.n, onclick: () => restore(project, v.n) }, 'Restore')));
    });
    body.replaceChildren(...rows);
    changesChart(chart, list);
    fromSel.replaceChildren(...list.map((v) => h('option', { value: v.n }, versionName(v.n))).reverse());
    toSel.replaceChildren(h('option', { value: 'current' }, 'now'), ...list.map((v) => h('option', { value: v.n }, versionName(v.n))).reverse());
  };
  const label = h('input', { id: 'version-label', placeholder: 'Label (optional)', maxlength: 200 });
  const fromSel = h('select', { id: 'diff-from' });
  const toSel = h('select', { id: 'diff-to' });
  main.replaceChildren(
    h('h1', {}, info?.name ?? project, ' ', h('span', { class: 'muted' }, `${info?.tasks ?? '?'} tasks`)),
    h('div', { class: 'toolbar' },
      label,
      h('button', { class: 'primary', id: 'create-version', onclick: async () => {
        const v = await api(`projects/${enc(project)}/versions`, { method: 'POST', body: { label: label.value } });
        label.value = '';
        toast(`Version ${v.n} taken`);
      } }, 'Take a version'),
      h('span', { class: 'muted' }, 'Compare'), fromSel, h('span', { class: 'muted' }, 'with'), toSel,
      h('button', { id: 'open-diff', onclick: () => (location.hash = `#/p/${enc(project)}/diff/${fromSel.value}/${toSel.value}`) }, 'Show diff')),
    h('h2', {}, 'Changes over time'), chart,
    h('h2', {}, 'Versions'),
    h('table', { id: 'versions' }, h('thead', {}, h('tr', {}, ['#', 'Taken', 'Label', 'Kind', 'Authors', 'Changes', ''].map((t) => h('th', {}, t)))), body),
  );
  fill(versions);
  listen(project, (list) => {
    const fresh = new Set(list.map((v) => v.n).filter((n) => !known.has(n)));
    known = new Set(list.map((v) => v.n));
    fill(list, fresh);
    if (fresh.size) toast(`New version ${[...fresh].join(', ')}`);
  });
}

async function restore(project, n) {
  if (!confirm(`Restore version ${n}? Everyone connected gets the project as it was then; the current state is kept as a version first.`)) return;
  try {
    const result = await api(`projects/${enc(project)}/versions/${n}/restore`, { method: 'POST', body: {} });
    toast(`Restored version ${result.restored.n}`);
  } catch (err) {
    toast(`Restore failed: ${err.message}`);
  }
}

function resourceList(dataset) {
  const resources = dataset.resourcesData ?? dataset.resources ?? [];
  const assignments = dataset.assignmentsData ?? dataset.assignments ?? [];
  const count = new Map();
  for (const a of assignments) count.set(String(a.resource ?? a.resourceId), (count.get(String(a.resource ?? a.resourceId)) ?? 0) + 1);
  return h('div', {}, h('h2', {}, `Resources (${resources.length})`),
    h('div', { class: 'scroll' }, h('table', { id: 'resources' }, h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Assignments'))),
      h('tbody', {}, resources.slice(0, 2000).map((r) => h('tr', {}, h('td', {}, r.name ?? r.id), h('td', {}, count.get(String(r.id)) ?? 0)))))));
}

async function versionView(project, ref) {
  const { version, dataset } = await api(`projects/${enc(project)}/versions/${enc(ref)}`);
  setCrumbs(['Projects', '#/'], [`Project ${project}`, `#/p/${enc(project)}`], [versionName(ref)]);
  const chart = h('div', { id: 'gantt' });
  main.replaceChildren(
    h('h1', {}, ref === 'current' ? 'The project now' : `Version ${ref}`, ' ', h('span', { class: 'muted' }, version ? `${when(version.time)} · ${version.label || version.reason}` : '')),
    h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, `${flattenTasks(dataset).length} tasks`), ref !== 'current' ? h('button', { class: 'danger', onclick: () => restore(project, ref) }, 'Restore this version') : null),
    h('div', { class: 'cols' }, chart, resourceList(dataset)),
  );
  renderGantt(chart, dataset);
}

const TASK_STORES = ['tasksData', 'tasks'];

/** Which tasks a diff added, removed, changed or moved (moved: another parent). */
function taskMarks(diff) {
  const marks = new Map();
  const store = TASK_STORES.map((k) => diff.stores[k]).find(Boolean);
  if (!store) return { marks, removed: [] };
  for (const r of store.changed) marks.set(String(r.id), 'parentId' in r.fields ? 'moved' : 'changed');
  const before = new Map();
  for (const c of store.children ?? []) for (const id of c.before) before.set(String(id), String(c.parent));
  for (const c of store.children ?? []) for (const id of c.after) if (before.has(String(id)) && before.get(String(id)) !== String(c.parent)) marks.set(String(id), 'moved');
  for (const r of store.added) marks.set(String(r.id), 'added');
  for (const r of store.removed) marks.set(String(r.id), 'removed');
  return { marks, removed: store.removed };
}

function short(value) {
  if (value === undefined) return '—';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

function storeTable(name, store) {
  const rows = [];
  for (const r of store.added) rows.push(h('tr', { class: 'added' }, h('td', {}, r.id), h('td', {}, r.name ?? ''), h('td', {}, 'added'), h('td', {}), h('td', {})));
  for (const r of store.removed) rows.push(h('tr', { class: 'removed' }, h('td', {}, r.id), h('td', {}, r.name ?? ''), h('td', {}, 'removed'), h('td', {}), h('td', {})));
  for (const r of store.changed) for (const [field, c] of Object.entries(r.fields)) rows.push(h('tr', { 'data-record': r.id }, h('td', {}, r.id), h('td', {}, r.name ?? ''), h('td', {}, field), h('td', { class: 'before' }, short(c.before)), h('td', { class: 'after' }, short(c.after))));
  const shown = rows.slice(0, 1000);
  return h('div', {}, h('h2', {}, `${name}: ${store.added.length} added, ${store.removed.length} removed, ${store.changed.length} changed`),
    h('div', { class: 'scroll' }, h('table', { class: 'store-diff', 'data-store': name }, h('thead', {}, h('tr', {}, ['Id', 'Name', 'Field', 'Before', 'After'].map((t) => h('th', {}, t)))), h('tbody', {}, shown))),
    rows.length > shown.length ? h('p', { class: 'muted' }, `and ${rows.length - shown.length} more rows`) : null);
}

async function diffView(project, from, to) {
  const started = performance.now();
  const result = await api(`projects/${enc(project)}/diff?from=${enc(from)}&to=${enc(to)}`);
  setCrumbs(['Projects', '#/'], [`Project ${project}`, `#/p/${enc(project)}`], [`${versionName(from)} → ${versionName(to)}`]);
  const { marks, removed } = taskMarks(result.diff);
  const chart = h('div', { id: 'gantt' });
  const tables = Object.entries(result.diff.stores).filter(([, s]) => s.added.length || s.removed.length || s.changed.length).map(([name, s]) => storeTable(name, s));
  const project_ = Object.entries(result.diff.project);
  main.replaceChildren(...[
    h('h1', {}, `${versionName(from)} → ${versionName(to)}`),
    h('p', { class: 'legend' }, ['added', 'removed', 'changed', 'moved'].map((k) => h('span', {}, h('i', { style: `background: var(--${k})` }), `${[...marks.values()].filter((m) => m === k).length} ${k}`))),
    chart,
    project_.length ? h('div', {}, h('h2', {}, 'Project fields'), h('table', {}, h('tbody', {}, project_.map(([f, c]) => h('tr', {}, h('td', {}, f), h('td', { class: 'before' }, short(c.before)), h('td', { class: 'after' }, short(c.after))))))) : null,
    ...tables,
  ].filter(Boolean));
  renderGantt(chart, result.after, { marks, extra: removed });
  main.dataset.renderedMs = String(Math.round(performance.now() - started));
}

function listen(project, onVersions) {
  events = new EventSource(`api/projects/${enc(project)}/events`);
  let first = true;
  events.addEventListener('versions', (e) => {
    if (first) return void (first = false);
    onVersions(JSON.parse(e.data));
  });
}

async function route() {
  events?.close();
  events = null;
  if (!session) {
    try {
      session = await api('session');
    } catch {
      showWho();
      return loginView();
    }
  }
  showWho();
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  try {
    main.dataset.view = 'loading';
    if (parts[0] === 'p' && parts[2] === 'v') await versionView(parts[1], parts[3]);
    else if (parts[0] === 'p' && parts[2] === 'diff') await diffView(parts[1], parts[3], parts[4] || 'current');
    else if (parts[0] === 'p' && parts[1]) await timelineView(parts[1]);
    else await projectsView();
    main.dataset.view = parts[2] === 'v' ? 'version' : parts[2] === 'diff' ? 'diff' : parts[0] === 'p' ? 'timeline' : 'projects';
  } catch (err) {
    if (err.status === 401) {
      session = null;
      return loginView('Your session ended: log in again.');
    }
    main.replaceChildren(h('p', { class: 'error' }, err.message));
    main.dataset.view = 'error';
  }
}

window.addEventListener('hashchange', route);
route();
