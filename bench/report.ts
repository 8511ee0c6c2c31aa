/**
 * The figures table: Weft and the relay side by side, the ratio Weft/relay, and the targets.
 */
import { SETTLE_MS, type FanoutFigures, type InterferenceFigures, type LoadFigures, type MemoryFigures, type PairedRound } from './scenarios.js';
import { median } from './stats.js';
import { label } from './seed-gen.js';

export interface TargetResults {
  /** Weft only: first load ever, which imports the seed into the store. */
  importLoads?: LoadFigures[];
  coldLoads: LoadFigures[];
  memory: MemoryFigures;
  /** Fan-out in a fresh process (Weft: only the small project loaded). */
  fanout: FanoutFigures[];
  /** Fan-out right after every project was loaded (and the loading clients left). */
  fanoutAllLoaded: FanoutFigures[];
  duringLoad: { cold: InterferenceFigures; warm: InterferenceFigures };
  /** Weft only: time to shut down (flushes loaded projects). */
  stopMs?: number;
}

/** A Y.Doc with one Y.Map per record of the big project and nothing else (bench/yjs-floor.ts). */
export interface YjsFloor {
  records: number;
  rssKb: number;
  heapKb: number;
}

/** The same small work back to back and 5 ms apart (bench/spacing-probe.ts), medians in µs. */
export interface SpacingProbe {
  gapMs: number;
  json: { togetherUs: number; spacedUs: number };
  yjs: { togetherUs: number; spacedUs: number };
}

type Cell = string;
type Row = [Cell, Cell, Cell, Cell, Cell];

const num = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits));
const mb = (kb: number | undefined) => (kb === undefined || Number.isNaN(kb) ? '-' : (kb / 1024).toFixed(1));
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '-' : `${(a / b).toFixed(2)}x`;

function target(a: number, b: number, limit: number): Cell {
  if (Number.isNaN(a) || Number.isNaN(b) || b === 0) return `<= ${limit}x  n/a`;
  return `<= ${limit}x  ${a / b <= limit ? 'PASS' : 'FAIL'}`;
}

function render(title: string, rows: Row[], header: Row = ['', 'Weft', 'relay', 'Weft/relay', 'target']): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: Row) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('   ').trimEnd();
  return [title, line(header), ...rows.map(line)].join('\n');
}

function fanRows(weft: FanoutFigures[], relay: FanoutFigures[]): Row[] {
  const fan: Row[] = [];
  for (const w of weft) {
    const r = relay.find((x) => x.receivers === w.receivers);
    const n = `${w.receivers} receivers`.padEnd(13);
    fan.push([`${n} p50 (ms)`, num(w.p50, 2), num(r?.p50, 2), ratio(w.p50, r?.p50), '']);
    fan.push([`${n} p99 (ms)`, num(w.p99, 2), num(r?.p99, 2), ratio(w.p99, r?.p99), '']);
    fan.push([`${n} max (ms)`, num(w.max, 2), num(r?.max, 2), ratio(w.max, r?.max), '']);
    fan.push([`${n} delivered/expected`, `${w.received}/${w.expected}`, r ? `${r.received}/${r.expected}` : '-', '', '']);
    if (w.extra || r?.extra) fan.push([`${n} other projectChange frames`, String(w.extra), String(r?.extra ?? '-'), '', '']);
    fan.push([`${n} server CPU (ms)`, num(w.cpuMs, 0), num(r?.cpuMs, 0), ratio(w.cpuMs, r?.cpuMs), '']);
    fan.push([`${n} CPU ms / 1000 delivered`, num(w.cpuMsPer1000, 2), num(r?.cpuMsPer1000, 2), ratio(w.cpuMsPer1000, r?.cpuMsPer1000), '']);
  }
  return fan;
}

/** Per receiver count: the paired rounds, and the medians of their p99s and of their p99 ratios. */
function pairedSummary(paired: PairedRound[]): { receivers: number; rounds: PairedRound[]; weftP99: number; relayP99: number; ratio: number }[] {
  const counts = [...new Set(paired.map((p) => p.receivers))];
  return counts.map((receivers) => {
    const rounds = paired.filter((p) => p.receivers === receivers);
    return {
      receivers,
      rounds,
      weftP99: median(rounds.map((p) => p.weft.p99)),
      relayP99: median(rounds.map((p) => p.relay.p99)),
      ratio: median(rounds.map((p) => p.weft.p99 / p.relay.p99)),
    };
  });
}

function pairedRows(paired: PairedRound[]): Row[] {
  const rows: Row[] = [];
  for (const s of pairedSummary(paired)) {
    const n = `${s.receivers} receivers`.padEnd(13);
    for (const p of s.rounds) rows.push([`${n} round ${p.round}: p99 (ms)`, num(p.weft.p99, 2), num(p.relay.p99, 2), ratio(p.weft.p99, p.relay.p99), '']);
    rows.push([`${n} median p99 (ms) / of the ratios`, num(s.weftP99, 2), num(s.relayP99, 2), `${s.ratio.toFixed(2)}x`, `<= 1.5x  ${s.ratio <= 1.5 ? 'PASS' : 'FAIL'}`]);
    const p50 = (f: (p: PairedRound) => number) => median(s.rounds.map(f));
    rows.push([`${n} median p50 (ms)`, num(p50((p) => p.weft.p50), 2), num(p50((p) => p.relay.p50), 2), ratio(p50((p) => p.weft.p50), p50((p) => p.relay.p50)), '']);
    const cpu = (f: (p: PairedRound) => number) => median(s.rounds.map(f));
    rows.push([`${n} median CPU ms / 1000 delivered`, num(cpu((p) => p.weft.cpuMsPer1000), 2), num(cpu((p) => p.relay.cpuMsPer1000), 2), ratio(cpu((p) => p.weft.cpuMsPer1000), cpu((p) => p.relay.cpuMsPer1000)), '']);
  }
  return rows;
}

/** Median over `rounds` of a relay variant's p99 ratio to the plain relay of the same round. */
const variantRatio = (rounds: PairedRound[], pick: (p: PairedRound) => FanoutFigures) => median(rounds.map((p) => pick(p).p99 / p.relay.p99));

/** A relay that does more before forwarding (`pick`), against the plain relay of the same rounds. */
function variantRows(paired: PairedRound[], name: string, pick: (p: PairedRound) => FanoutFigures): Row[] {
  const rows: Row[] = [];
  for (const s of pairedSummary(paired)) {
    const n = `${s.receivers} receivers`.padEnd(13);
    for (const p of s.rounds) rows.push([`${n} round ${p.round}: p99 (ms)`, num(pick(p).p99, 2), num(p.relay.p99, 2), ratio(pick(p).p99, p.relay.p99), '']);
    const med = (f: (p: PairedRound) => number) => median(s.rounds.map(f));
    rows.push([`${n} median p99 (ms) / of the ratios`, num(med((p) => pick(p).p99), 2), num(s.relayP99, 2), `${variantRatio(s.rounds, pick).toFixed(2)}x`, '']);
    rows.push([`${n} median p50 (ms)`, num(med((p) => pick(p).p50), 2), num(med((p) => p.relay.p50), 2), ratio(med((p) => pick(p).p50), med((p) => p.relay.p50)), '']);
    rows.push([`${n} median CPU ms / 1000 delivered`, num(med((p) => pick(p).cpuMsPer1000), 2), num(med((p) => p.relay.cpuMsPer1000), 2), ratio(med((p) => pick(p).cpuMsPer1000), med((p) => p.relay.cpuMsPer1000)), '']);
    rows.push([`${n} Weft / ${name}, median p99 ratio`, '', '', `${med((p) => p.weft.p99 / pick(p).p99).toFixed(2)}x`, '']);
  }
  return rows;
}

function targetRows(weft: TargetResults, relay: TargetResults, paired: PairedRound[], floor: YjsFloor, bigTasks: number): Row[] {
  const rows: Row[] = [];
  for (const s of pairedSummary(paired)) {
    // With 10 receivers the target counts against the Yjs relay (D2, below); the plain relay's ratio is shown beside it.
    const own = s.receivers === 10 ? '' : `<= 1.5x  ${s.ratio <= 1.5 ? 'PASS' : 'FAIL'}`;
    rows.push([`fan-out p99, ${s.receivers} receivers (median of ${s.rounds.length} paired rounds)`, num(s.weftP99, 2), num(s.relayP99, 2), `${s.ratio.toFixed(2)}x`, own]);
    rows.push([`  floor: a relay keeping a Yjs document and writing its update to LevelDB`, num(median(s.rounds.map((p) => p.yjs.p99)), 2), num(s.relayP99, 2), `${variantRatio(s.rounds, (p) => p.yjs).toFixed(2)}x`, '']);
  }
  for (const s of pairedSummary(paired)) {
    const med = (f: (p: PairedRound) => number) => median(s.rounds.map(f));
    const vsYjs = med((p) => p.weft.p99 / p.yjs.p99);
    if (s.receivers === 10) rows.push([`fan-out p99, 10 receivers, against the Yjs relay (D2)`, num(s.weftP99, 2), `${num(med((p) => p.yjs.p99), 2)} (D2)`, `${vsYjs.toFixed(2)}x`, `<= 1.5x  ${vsYjs <= 1.5 ? 'PASS' : 'FAIL'}`]);
    const cpu = med((p) => p.weft.cpuMsPer1000 / p.relay.cpuMsPer1000);
    const limit = s.receivers <= 10 ? 3 : 1.5;
    rows.push([`CPU per delivered message, ${s.receivers} receivers (ms / 1000)`, num(med((p) => p.weft.cpuMsPer1000), 2), num(med((p) => p.relay.cpuMsPer1000), 2), `${cpu.toFixed(2)}x`, `<= ${limit}x  ${cpu <= limit ? 'PASS' : 'FAIL'}`]);
  }
  const bigCold = weft.coldLoads.find((x) => x.tasks === bigTasks);
  const bigRelay = relay.coldLoads.find((x) => x.tasks === bigTasks);
  if (bigCold && bigRelay) {
    const relayWarm = median(bigRelay.warmMs);
    const firstByte = bigCold.firstByteMs;
    if (firstByte !== undefined) rows.push([`${label(bigTasks)} opened cold after a restart, first dataset byte (ms; absolute)`, num(firstByte), '-', '', `<= 1000 ms  ${firstByte <= 1000 ? 'PASS' : 'FAIL'}`]);
    rows.push([`${label(bigTasks)} opened cold after a restart, whole dataset (ms; relay: warm)`, num(bigCold.firstMs), num(relayWarm), ratio(bigCold.firstMs, relayWarm), target(bigCold.firstMs, relayWarm, 3)]);
  }
  const during = weft.duringLoad?.cold;
  if (during) rows.push([`  another project's p99 meanwhile (ms; absolute)`, num(during.p99, 2), num(relay.duringLoad?.cold.p99, 2), ratio(during.p99, relay.duringLoad?.cold.p99), `< 50 ms  ${during.p99 < 50 ? 'PASS' : 'FAIL'}`]);
  for (const w of weft.coldLoads) {
    const r = relay.coldLoads.find((x) => x.tasks === w.tasks);
    if (r) rows.push([`warm load ${label(w.tasks)} (ms)`, num(median(w.warmMs)), num(median(r.warmMs)), ratio(median(w.warmMs), median(r.warmMs)), target(median(w.warmMs), median(r.warmMs), 1.5)]);
  }
  const w = increments(weft.memory).find((x) => x.tasks === bigTasks);
  const r = increments(relay.memory).find((x) => x.tasks === bigTasks);
  if (w && r) {
    rows.push([`RSS increment for ${label(bigTasks)} (MB)`, mb(w.incKb), mb(r.incKb), ratio(w.incKb, r.incKb), target(w.incKb, r.incKb, 3)]);
    rows.push([`  the same, ${SETTLE_MS / 1000} s later (settled)`, mb(w.settledIncKb), mb(r.settledIncKb), ratio(w.settledIncKb, r.settledIncKb), target(w.settledIncKb, r.settledIncKb, 3)]);
    rows.push([`RSS holding all the sizes, after a full GC (MB)`, mb(w.totalKb), mb(r.totalKb), ratio(w.totalKb, r.totalKb), target(w.totalKb, r.totalKb, 2)]);
    rows.push([`  floor: a Y.Map per record, nothing else (${floor.records} records)`, mb(floor.rssKb), mb(r.incKb), ratio(floor.rssKb, r.incKb), '']);
  }
  return rows;
}

function increments(memory: MemoryFigures): { tasks: number; incKb: number; totalKb: number; heapIncKb: number; settledIncKb: number }[] {
  let previous = memory.baselineKb;
  let previousHeap = memory.baselineHeapKb;
  let previousSettled = memory.baselineSettledKb;
  return memory.afterKb.map(({ tasks, rssKb, heapKb, settledKb }) => {
    const incKb = rssKb - previous;
    const heapIncKb = heapKb - previousHeap;
    const settledIncKb = settledKb - previousSettled;
    previous = rssKb;
    previousHeap = heapKb;
    previousSettled = settledKb;
    return { tasks, incKb, totalKb: rssKb, heapIncKb, settledIncKb };
  });
}

export function report(weft: TargetResults, relay: TargetResults, paired: PairedRound[], floor: YjsFloor, spacing: SpacingProbe, settings: { count: number; intervalMs: number; receiversDuringLoad: number; bigTasks: number }): string {
  const sections: string[] = [];

  const loads: Row[] = [];
  for (const w of weft.coldLoads) {
    const r = relay.coldLoads.find((x) => x.tasks === w.tasks);
    const imported = weft.importLoads?.find((x) => x.tasks === w.tasks);
    const size = label(w.tasks).padEnd(5);
    const wWarm = median(w.warmMs);
    const rWarm = r ? median(r.warmMs) : NaN;
    loads.push([`${size} reply size (MB)`, num(w.bytes / 1e6, 2), num(r && r.bytes / 1e6, 2), ratio(w.bytes, r?.bytes), '']);
    if (imported) loads.push([`${size} first load ever (seed import)`, num(imported.firstMs), '-', '', '']);
    loads.push([`${size} cold (Weft: restart, from LevelDB)`, num(w.firstMs), num(r?.firstMs), ratio(w.firstMs, r?.firstMs), '']);
    loads.push([`${size} warm (median of ${w.warmMs.length})`, num(wWarm), num(rWarm), ratio(wWarm, rWarm), target(wWarm, rWarm, 1.5)]);
  }
  sections.push(render('Dataset load time (ms; request sent -> whole reply received)', loads));

  const memory: Row[] = [[`baseline (nothing loaded)`, mb(weft.memory.baselineKb), mb(relay.memory.baselineKb), ratio(weft.memory.baselineKb, relay.memory.baselineKb), '']];
  const wInc = increments(weft.memory);
  const rInc = increments(relay.memory);
  for (const w of wInc) {
    const r = rInc.find((x) => x.tasks === w.tasks);
    const size = label(w.tasks).padEnd(5);
    const isBig = w.tasks === settings.bigTasks;
    memory.push([`${size} increment`, mb(w.incKb), mb(r?.incKb), ratio(w.incKb, r?.incKb), isBig && r ? target(w.incKb, r.incKb, 3) : '']);
    memory.push([`${size} increment, ${SETTLE_MS / 1000} s later`, mb(w.settledIncKb), mb(r?.settledIncKb), ratio(w.settledIncKb, r?.settledIncKb), '']);
    memory.push([`${size} total`, mb(w.totalKb), mb(r?.totalKb), ratio(w.totalKb, r?.totalKb), '']);
    memory.push([`${size} V8 heap-in-use increment`, mb(w.heapIncKb), mb(r?.heapIncKb), ratio(w.heapIncKb, r?.heapIncKb), '']);
  }
  memory.push(['peak RSS of that process (VmHWM)', mb(weft.memory.peakKb), mb(relay.memory.peakKb), ratio(weft.memory.peakKb, relay.memory.peakKb), '']);
  memory.push([`${label(settings.bigTasks)} records as a Y.Map each and nothing else: RSS increment`, mb(floor.rssKb), '', '', '']);
  memory.push([`  V8 heap-in-use increment (${floor.records} records, ${Math.round((floor.heapKb * 1024) / floor.records)} bytes each)`, mb(floor.heapKb), '', '', '']);
  sections.push(render('Server RSS (MB, /proc VmRSS after a full GC; each project loaded by 4 clients that stay subscribed)', memory));

  const fanTitle = `Fan-out on the 1k project (1 sender, ${settings.count} updates every ${settings.intervalMs} ms; CPU = server utime+stime in 10 ms ticks)`;
  sections.push(render(`${fanTitle}\nA: fresh process (Weft holds only the 1k project; the relay always holds all three)`, fanRows(weft.fanout, relay.fanout)));
  sections.push(render('B: right after all three projects were loaded (Weft now holds all three)', fanRows(weft.fanoutAllLoaded, relay.fanoutAllLoaded)));
  sections.push(
    render(
      'C: paired rounds: a Weft process and three relays (plain, writing to LevelDB, keeping a Yjs document) running side by side, taking turns (which goes first rotates); ratio = median of the per-round ratios',
      pairedRows(paired),
    ),
  );
  sections.push(
    render(
      'D: the same rounds, the relay that writes each change to LevelDB before forwarding it (what persisting before telling anyone costs by itself)',
      variantRows(paired, 'relay+LevelDB', (p) => p.persisting),
      ['', 'relay+LevelDB', 'relay', 'ratio', ''],
    ),
  );
  sections.push(
    render(
      'D2: the same rounds, the relay that also writes each change into a Yjs document laid out as Weft\'s and stores its update instead of the text (the least a server keeping projects as Yjs documents does per change)',
      variantRows(paired, 'relay+Yjs+LevelDB', (p) => p.yjs),
      ['', 'relay+Yjs+LevelDB', 'relay', 'ratio', ''],
    ),
  );

  const spaced: Row[] = [
    ['JSON.stringify of one small projectChange', num(spacing.json.togetherUs, 1), num(spacing.json.spacedUs, 1), ratio(spacing.json.spacedUs, spacing.json.togetherUs), ''],
    ['a Yjs field write on 1000 records, update encoded', num(spacing.yjs.togetherUs, 1), num(spacing.yjs.spacedUs, 1), ratio(spacing.yjs.spacedUs, spacing.yjs.togetherUs), ''],
  ];
  sections.push(
    render(
      `E: this machine: the same small work run back to back, and run once every ${spacing.gapMs} ms as the fan-out updates come (median µs of 300 runs, in a process of its own)`,
      spaced,
      ['', 'back to back', `every ${spacing.gapMs} ms`, 'ratio', ''],
    ),
  );

  const during: Row[] = [];
  for (const kind of ['cold', 'warm'] as const) {
    const w = weft.duringLoad[kind];
    const r = relay.duringLoad[kind];
    const k = kind.padEnd(5);
    during.push([`${k} ${label(settings.bigTasks)} load time (ms)`, num(w.loadMs), num(r.loadMs), ratio(w.loadMs, r.loadMs), '']);
    during.push([`${k} deliveries in load window`, String(w.inWindow), String(r.inWindow), '', '']);
    during.push([`${k} p50 in window (ms)`, num(w.p50, 2), num(r.p50, 2), ratio(w.p50, r.p50), '']);
    during.push([`${k} p99 in window (ms)`, num(w.p99, 2), num(r.p99, 2), ratio(w.p99, r.p99), '']);
    during.push([`${k} max in window (ms)`, num(w.max, 2), num(r.max, 2), ratio(w.max, r.max), '']);
    during.push([`${k} p99 outside window (ms)`, num(w.outsideP99, 2), num(r.outsideP99, 2), ratio(w.outsideP99, r.outsideP99), '']);
  }
  sections.push(
    render(
      `Latency on the 1k project (${settings.receiversDuringLoad} receivers, update every ${settings.intervalMs} ms) while another client loads the ${label(settings.bigTasks)} project (cold: Weft restarted first)`,
      during,
    ),
  );

  sections.push(render('Targets (fan-out from C)', targetRows(weft, relay, paired, floor, settings.bigTasks)));

  if (weft.stopMs !== undefined) sections.push(`Weft shutdown after the seed import (flushes the 3 projects): ${num(weft.stopMs, 0)} ms`);
  return sections.join('\n\n');
}
