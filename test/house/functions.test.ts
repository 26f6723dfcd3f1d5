/**
 * The house rule on the runtime's shape (issue 14, "The house"): no function in src/runtime is
 * longer than {@link MAX_LINES} lines (`runInner` was 414). Every function declaration, method,
 * accessor, constructor, function expression and arrow function with a block body counts, from its
 * first line to its last (nested functions count inside their parent too).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const DIR = 'src/runtime';
/** The longest a function in src/runtime may be, in lines. */
const MAX_LINES = 80;

interface Fn {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function nameOf(n: ts.Node, sf: ts.SourceFile): string {
  const named = n as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(sf);
  const p = n.parent;
  if (p && ts.isVariableDeclaration(p)) return p.name.getText(sf);
  if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
  return '(anonymous)';
}

function functionsOf(file: string): Fn[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Fn[] = [];
  const visit = (n: ts.Node): void => {
    const isFn = ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessorDeclaration(n)
      || ts.isSetAccessorDeclaration(n) || ts.isFunctionExpression(n) || (ts.isArrowFunction(n) && ts.isBlock(n.body));
    if (isFn) {
      const start = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(n.getEnd()).line;
      out.push({ file, name: nameOf(n, sf), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('house rules (function length in src/runtime)', () => {
  const fns = readdirSync(DIR).filter((f) => f.endsWith('.ts')).flatMap((f) => functionsOf(path.join(DIR, f)));

  it('finds the functions of src/runtime', () => {
    assert.ok(fns.length > 20, `${fns.length} functions found`);
  });

  it(`no function in src/runtime is over ${MAX_LINES} lines`, () => {
    const long = fns.filter((f) => f.lines > MAX_LINES).map((f) => `${f.file}:${f.line} ${f.name}: ${f.lines} lines`);
    assert.deepEqual(long, [], long.join('\n'));
  });
});
