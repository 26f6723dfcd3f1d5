/**
 * The house rules, read from the code: every relative `import`, `export ... from` and `import()`
 * in src/**\/*.ts, turned into a graph between the folders of src/ (src/<folder>).
 *
 * - the folder graph has no cycles;
 * - src/eval and src/export (offline tools) import nothing from the runtime, MQTT or WebRTC output;
 * - the device side imports nothing from training (src/train);
 * - src/core (the shared types) imports no other folder.
 *
 * src/*.ts (the CLI, the composition root above every folder) is not a folder of the graph; the
 * few files inside a folder that import it are entry points, listed in {@link ROOT_IMPORTERS}.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const SRC = 'src';
/** The folder of the WebRTC output (live view, signalling, WHEP). */
const WEBRTC = 'webrtc';
/** Folders whose code runs on the device with `sfn-edge run`. */
const DEVICE_SIDE = ['runtime', 'pipeline', 'mqtt', WEBRTC, 'events', 'inference', 'video', 'device', 'scoring', 'caption'];
/** Shared types (predictor, frame, manifest, precision, configuration), below every other folder. */
const CORE = 'core';
/** Offline tools, which must not depend on the running device. */
const OFFLINE = ['eval', 'export'];
const ONLINE = ['runtime', 'mqtt', WEBRTC];
/** Files inside a folder that import src/*.ts, and why. */
const ROOT_IMPORTERS: Record<string, string> = {
  'flash/sea-entry.ts': "the single executable's entry point runs the CLI",
  'learn/train-defaults.ts': "reads the train command's option table, so learn keeps no second copy of a default",
};

interface Edge {
  from: string;
  to: string;
  /** `file -> specifier`, one per import */
  via: string[];
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return tsFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The folder of a path under src/ ('' for src/*.ts). */
function folderOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  return parts.length > 1 ? (parts[0] ?? '') : '';
}

/** Folder edges (a -> b, a != b) and the folder files that import src/*.ts. */
function folderGraph(): { edges: Map<string, Map<string, Edge>>; rootImporters: Set<string> } {
  const edges = new Map<string, Map<string, Edge>>();
  const rootImporters = new Set<string>();
  for (const file of tsFiles(SRC)) {
    const from = folderOf(file);
    if (from === '') continue;
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = folderOf(path.relative(process.cwd(), path.resolve(path.dirname(file), fileName)));
      if (to === '') rootImporters.add(path.relative(SRC, file));
      if (to === from || to === '') continue;
      const out = edges.get(from) ?? new Map<string, Edge>();
      edges.set(from, out);
      const e = out.get(to) ?? { from, to, via: [] };
      out.set(to, e);
      const via = `${path.relative(SRC, file)} -> ${fileName}`;
      if (!e.via.includes(via)) e.via.push(via);
    }
  }
  return { edges, rootImporters };
}

/** Strongly connected components with more than one folder (Tarjan). */
function cycles(edges: Map<string, Map<string, Edge>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) found.push(scc.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

const { edges, rootImporters } = folderGraph();
const show = (e: Edge) => `  ${e.from} -> ${e.to}: ${e.via.join(', ')}`;
const between = (from: string[], to: string[]) =>
  from.flatMap((f) => to.flatMap((t) => (edges.get(f)?.get(t) ? [edges.get(f)!.get(t)!] : [])));

describe('house rules (folder imports in src/)', () => {
  it('every folder the rules name exists', () => {
    for (const f of new Set([...DEVICE_SIDE, ...OFFLINE, ...ONLINE, 'train', CORE])) assert.ok(existsSync(path.join(SRC, f)), `src/${f} named by the rules does not exist`);
  });

  it('the folder graph has no cycles', () => {
    const found = cycles(edges);
    const report = found.map((scc) => `cycle between ${scc.join(', ')}:\n${between(scc, scc).map(show).join('\n')}`);
    assert.deepEqual(report, [], report.join('\n\n'));
  });

  it(`src/eval and src/export import nothing from ${ONLINE.map((f) => `src/${f}`).join(', ')}`, () => {
    const bad = between(OFFLINE, ONLINE);
    assert.deepEqual(bad.map(show), [], bad.map(show).join('\n'));
  });

  it('the device side imports nothing from src/train', () => {
    const bad = between(DEVICE_SIDE, ['train']);
    assert.deepEqual(bad.map(show), [], bad.map(show).join('\n'));
  });

  it('src/core imports no other folder of src/', () => {
    const bad = [...(edges.get(CORE)?.values() ?? [])];
    assert.deepEqual(bad.map(show), [], bad.map(show).join('\n'));
  });

  it('only the listed entry points import src/*.ts', () => {
    assert.deepEqual([...rootImporters].sort(), Object.keys(ROOT_IMPORTERS).sort());
  });
});
