// A read-only Gantt chart in SVG: task tree with bars from start and end dates, summaries,
// milestones and dependency arrows. Only the rows in view are drawn (virtual scrolling), so a
// 100k-task project scrolls like a small one; summaries collapse.

const ROW = 22;
const NAMES = 300;
const DAY = 86400000;
const SVG = 'http://www.w3.org/2000/svg';

/** Tasks of a dataset (`tasksData` or `tasks`, nested through `children`) in tree order. */
export function flattenTasks(dataset) {
  const roots = dataset.tasksData ?? dataset.tasks ?? [];
  const out = [];
  const stack = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push([roots[i], 0, null]);
  // Iterative, and each record once: stored data is never trusted to be a tree.
  const seen = new Set();
  while (stack.length) {
    const [task, depth, parent] = stack.pop();
    if (!task || typeof task !== 'object' || seen.has(task)) continue;
    seen.add(task);
    const children = Array.isArray(task.children) ? task.children : [];
    out.push({ task, depth, parent, hasChildren: children.length > 0 });
    for (let i = children.length - 1; i >= 0; i--) stack.push([children[i], depth + 1, task.id]);
  }
  return out;
}

function time(value) {
  if (value == null || value === '') return NaN;
  return new Date(value).getTime();
}

function span(task) {
  let start = time(task.startDate);
  let end = time(task.endDate);
  const days = Number(task.duration);
  if (Number.isNaN(end) && !Number.isNaN(start) && Number.isFinite(days)) end = start + days * DAY;
  if (Number.isNaN(start) && !Number.isNaN(end) && Number.isFinite(days)) start = end - days * DAY;
  return [start, end];
}

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draw `dataset` into `container`. `marks`: Map of task id (as text) → 'added' | 'removed' |
 * 'changed' | 'moved'; `extra`: records shown as rows at the end (removed tasks).
 */
export function renderGantt(container, dataset, { marks = new Map(), extra = [], dependencies } = {}) {
  container.textContent = '';
  container.classList.add('gantt');
  const all = flattenTasks(dataset);
  for (const task of extra) all.push({ task, depth: 0, parent: null, hasChildren: false });
  const collapsed = new Set();
  let rows = [];
  const layout = () => {
    rows = [];
    let hideBelow = Infinity;
    for (const row of all) {
      if (row.depth > hideBelow) continue;
      hideBelow = Infinity;
      rows.push(row);
      if (row.hasChildren && collapsed.has(row.task.id)) hideBelow = row.depth;
    }
  };
  layout();

  let min = Infinity;
  let max = -Infinity;
  for (const { task } of all) {
    const [s, e] = span(task);
    if (!Number.isNaN(s)) min = Math.min(min, s);
    if (!Number.isNaN(e)) max = Math.max(max, e);
  }
  if (!Number.isFinite(min)) [min, max] = [Date.now(), Date.now() + 30 * DAY];
  min -= 2 * DAY;
  max += 7 * DAY;
  const days = Math.max(1, (max - min) / DAY);
  const perDay = Math.max(2, Math.min(24, 1400 / days));
  const width = NAMES + days * perDay;
  const x = (t) => NAMES + ((t - min) / DAY) * perDay;

  const links = (dependencies ?? dataset.dependenciesData ?? dataset.dependencies ?? []).filter((d) => d && d.active !== false);
  const spacer = document.createElement('div');
  container.append(spacer);
  const svg = el('svg', { width, class: 'rows' });
  container.append(svg);

  const draw = () => {
    spacer.style.height = `${rows.length * ROW + ROW}px`;
    spacer.style.width = `${width}px`;
    const first = Math.max(0, Math.floor(container.scrollTop / ROW) - 10);
    const last = Math.min(rows.length, first + Math.ceil(container.clientHeight / ROW) + 20);
    svg.textContent = '';
    svg.setAttribute('height', String((last - first) * ROW + ROW));
    svg.style.top = `${first * ROW}px`;
    const defs = el('defs', {});
    const marker = el('marker', { id: 'arrow', viewBox: '0 0 6 6', refX: 6, refY: 3, markerWidth: 6, markerHeight: 6, orient: 'auto' });
    marker.append(el('path', { d: 'M0,0 L6,3 L0,6 z', fill: '#7d8894' }));
    defs.append(marker);
    svg.append(defs);
    const where = new Map();
    for (let i = first; i < last; i++) {
      const { task, depth, hasChildren } = rows[i];
      const y = (i - first) * ROW;
      const mark = marks.get(String(task.id));
      const g = el('g', { class: `row${mark ? ` ${mark}` : ''}`, 'data-id': String(task.id), transform: `translate(0,${y})` });
      g.append(el('rect', { class: 'bg', x: 0, y: 0, width, height: ROW, fill: i % 2 ? '#fafbfc' : '#fff' }));
      if (hasChildren) {
        const toggle = el('text', { class: 'toggle', x: 6 + depth * 14, y: 15 }, collapsed.has(task.id) ? '▸' : '▾');
        toggle.addEventListener('click', () => {
          if (collapsed.has(task.id)) collapsed.delete(task.id);
          else collapsed.add(task.id);
          layout();
          draw();
        });
        g.append(toggle);
      }
      const label = `${task.name ?? '(no name)'}${mark ? ` · ${mark}` : ''}`;
      g.append(el('text', { class: 'name', x: 18 + depth * 14, y: 15 }, label.length > 40 ? `${label.slice(0, 39)}…` : label));
      const [s, e] = span(task);
      if (!Number.isNaN(s)) {
        const x0 = x(s);
        const x1 = Math.max(x0, x(Number.isNaN(e) ? s : e));
        if (x1 - x0 < 1 || Number(task.duration) === 0) {
          g.append(el('path', { class: 'bar milestone', d: `M${x0},5 l6,6 l-6,6 l-6,-6 z` }));
        } else if (hasChildren) {
          g.append(el('path', { class: 'bar summary', d: `M${x0},6 H${x1} V16 l-4,-4 H${x0 + 4} l-4,4 z` }));
        } else {
          g.append(el('rect', { class: 'bar', x: x0, y: 5, width: x1 - x0, height: 12, rx: 2 }));
          const done = Math.max(0, Math.min(100, Number(task.percentDone) || 0));
          if (done) g.append(el('rect', { x: x0, y: 14, width: ((x1 - x0) * done) / 100, height: 3, fill: '#2a4f8f' }));
        }
        where.set(String(task.id), { y: y + 11, x0, x1 });
      }
      g.append(el('title', {}, `${task.name ?? ''}\n${task.startDate ?? '?'} → ${task.endDate ?? '?'}${mark ? `\n${mark}` : ''}`));
      svg.append(g);
    }
    for (const link of links) {
      const from = where.get(String(link.fromTask ?? link.fromEvent ?? link.from));
      const to = where.get(String(link.toTask ?? link.toEvent ?? link.to));
      if (!from || !to) continue;
      const midX = Math.max(from.x1 + 6, to.x0 - 6);
      svg.append(el('path', { class: 'dep', d: `M${from.x1},${from.y} H${midX} V${to.y} H${to.x0}` }));
    }
  };
  let pending = false;
  container.addEventListener('scroll', () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  });
  draw();
  return { rows: () => rows.length, redraw: draw };
}
