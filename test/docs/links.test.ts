/**
 * Every relative link in README.md and docs/**\/*.md resolves to a file, and every `*.md` path that a
 * comment in src/**\/*.ts cites exists (relative to the repo root or to the citing file).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');

function walk(dir: string, ext: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, ext));
    else if (e.name.endsWith(ext)) out.push(p);
  }
  return out;
}

/** Relative link targets of markdown text (links and images), anchors stripped; code blocks skipped. */
export function markdownTargets(md: string): string[] {
  const text = md.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  const out: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const t = m[1]!;
    if (/^(https?:|mailto:)/i.test(t) || t.startsWith('#')) continue;
    out.push(decodeURIComponent(t.replace(/#.*$/, '')));
  }
  return out;
}

/** Broken relative links of one markdown file's text, resolved from its folder. */
export function brokenLinks(md: string, dir: string, exists = existsSync): string[] {
  return markdownTargets(md).filter((t) => !exists(path.resolve(dir, t)));
}

/** `*.md` paths cited in the comments of a TypeScript source. */
export function citedMarkdown(ts: string): string[] {
  const comments = [...ts.matchAll(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)].map((m) => m[0]).join('\n');
  return [...comments.matchAll(/(?<![\w/.-])((?:\.{1,2}\/)?[\w./-]*[\w-]\.md)\b/g)].map((m) => m[1]!);
}

test('the checker catches a broken link and passes a good one (in-memory sample)', () => {
  const files = new Set([path.resolve('/r/docs/a.md'), path.resolve('/r/README.md'), path.resolve('/r/docs/x.png')]);
  const exists = (p: string) => files.has(p);
  const md = '[ok](a.md#top) ![img](x.png) [up](../README.md) [web](https://x.y/z.md) [in](#here)\n'
    + '[bad](missing.md) ![gone](nope.png)\n```\n[in code](ignored.md)\n```\n';
  assert.deepEqual(brokenLinks(md, '/r/docs', exists), ['missing.md', 'nope.png']);
  assert.deepEqual(citedMarkdown('/** see DESIGN.md and docs/style.md */\nconst a = "x.md";\n// STYLE.md'), ['DESIGN.md', 'docs/style.md', 'STYLE.md']);
});

test('every relative link in README.md and docs/ resolves', () => {
  const mds = [path.join(ROOT, 'README.md'), ...walk(path.join(ROOT, 'docs'), '.md')];
  const broken: string[] = [];
  for (const f of mds) {
    for (const t of brokenLinks(readFileSync(f, 'utf8'), path.dirname(f))) broken.push(`${path.relative(ROOT, f)}: ${t}`);
  }
  assert.deepEqual(broken, []);
});

test('every *.md cited in src/ comments exists', () => {
  const broken: string[] = [];
  for (const f of walk(path.join(ROOT, 'src'), '.ts')) {
    for (const c of citedMarkdown(readFileSync(f, 'utf8'))) {
      const ok = [path.resolve(ROOT, c), path.resolve(path.dirname(f), c)].some((p) => existsSync(p) && statSync(p).isFile());
      if (!ok) broken.push(`${path.relative(ROOT, f)}: ${c}`);
    }
  }
  assert.deepEqual(broken, []);
});
