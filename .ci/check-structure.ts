// The house rules that eslint cannot see, checked on every CI run (`npm run lint`):
//  1. every import follows the data flow (CIB → agent → store → service → client) or goes down to
//     a shared leaf room: the rooms and what each may import are in ROOMS below;
//  2. no two files import each other, directly or around a circle;
//  3. no SQL outside store/: product code elsewhere never calls store.stmt() or store.db;
//  4. no dead exports: every name a product file exports is used by product code, in its own file
//     or imported by another (an export that only tests use belongs in test/helpers/); no public
//     class member that nothing but tests (or nothing at all) mentions;
//  5. docs/CONTRACTS.md matches the code: every path it names exists, every signature in its ts
//     blocks is the declaration's own text (see checkContracts).
// It reads the code as text with TypeScript's parser (no type checking), so it takes ~1 s.
//
//   node --import tsx .ci/check-structure.ts          every check, exit 1 on any finding
//   node --import tsx .ci/check-structure.ts --rooms  prints each room's imports of other rooms
//   … --root DIR                                     checks another tree (test/unit/check-structure.test.ts)

import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** The checkout to check: this one, or `--root DIR` (the script's own test gives it a made-up tree). */
const rootArg = process.argv.indexOf('--root');
const ROOT = rootArg > 0 && process.argv[rootArg + 1] !== undefined ? path.resolve(process.argv[rootArg + 1] ?? '.') : path.resolve(import.meta.dirname, '..');

/**
 * The product's rooms, most specific first, each with the rooms it may import (its own room is
 * always allowed). A file belongs to the first room whose prefix its path starts with.
 */
const ROOMS: readonly (readonly [string, readonly string[]])[] = [
  // Leaves: import nothing of ours.
  ['store/', []],
  ['service/bytes/', []],
  ['service/log.ts', ['store/log-levels.ts']],
  ['service/node-flags.ts', []],
  // The agent reads the CIB and writes the store; it never reaches into the service.
  ['agent/', ['store/']],
  // The service, bottom to top: security providers know nothing of RPC; RPC calls them through
  // the one interface of service/auth/context.ts; EPM and witness are interfaces on RPC.
  ['service/auth/', ['service/bytes/', 'service/log.ts']],
  ['service/rpc/', ['service/auth/context.ts', 'service/bytes/', 'service/log.ts']],
  ['service/epm/', ['service/rpc/', 'service/auth/context.ts', 'service/bytes/', 'service/log.ts', 'store/']],
  ['service/swn/', ['service/rpc/', 'service/auth/context.ts', 'service/bytes/', 'service/log.ts', 'store/']],
  // witnessctl, a program beside witnessd rather than part of it: the store, the asking end of
  // the cross-node admin protocol (agent/admin/, whose other end is the agent's relay), the
  // account file's commands, the names of MS-SWN message types for the audit.
  ['service/ctl/', ['agent/admin/', 'service/auth/accounts/', 'service/swn/constants.ts', 'store/']],
  // witnessd's entry, configuration and assembly.
  ['service/', ['service/', 'store/']],
  // The OCF agents run both programs and probe the service.
  ['ocf/', ['agent/', 'service/', 'store/']],
  // Programs and tools outside the product's layers.
  ['packaging/', ['*']],
  ['bench/', ['*']],
  ['test/', ['*']],
];

/** Where product code lives (dead exports are looked for here); tests and benches only use it. */
const PRODUCT = ['agent/', 'service/', 'store/', 'ocf/', 'packaging/'];
const SCANNED = [...PRODUCT, 'bench/', 'test/'];

function isProduct(file: string): boolean {
  return PRODUCT.some((p) => file.startsWith(p));
}

function roomOf(file: string): readonly [string, readonly string[]] | null {
  return ROOMS.find(([prefix]) => file.startsWith(prefix)) ?? null;
}

interface FileFacts {
  /** Resolved imports: target file → the names taken ('*' for all of them). */
  imports: Map<string, Set<string>>;
  /** The first SQL-looking use of a store (`.stmt(`, `.db.prepare` …), or null. */
  sql: string | null;
  /** Names this file exports itself (re-exports are recorded as imports and exports both). */
  exports: Set<string>;
  /** How often each identifier occurs in the file (an export used inside its own file is alive). */
  mentions: Map<string, number>;
  /** Public members of the file's classes (methods, properties, accessors): class.member. */
  members: { cls: string; name: string }[];
  /**
   * Exports and members whose doc comment gives a reason for a use the imports do not show:
   * `@testOnly <why>` (tests alone use it, on purpose) or `@entry <who calls it>` (generated code).
   */
  testOnly: Set<string>;
}

function markedTestOnly(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => (t.tagName.text === 'testOnly' || t.tagName.text === 'entry') && typeof t.comment === 'string' && t.comment.trim() !== '');
}

function walk(dir: string, out: string[]): string[] {
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist' && !e.name.startsWith('.')) walk(rel, out);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

function resolve(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
}

function hasExport(node: ts.Node): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

function read(file: string): FileFacts {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const imports = new Map<string, Set<string>>();
  const exports = new Set<string>();
  const take = (spec: string, names: Iterable<string>): void => {
    const target = resolve(file, spec);
    if (target === null) return;
    const set = imports.get(target) ?? new Set<string>();
    for (const n of names) set.add(n);
    imports.set(target, set);
  };
  const mentions = new Map<string, number>();
  const members: { cls: string; name: string }[] = [];
  const testOnly = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isClassDeclaration(node) && node.name) {
      for (const m of node.members) {
        if (!(ts.isMethodDeclaration(m) || ts.isPropertyDeclaration(m) || ts.isGetAccessorDeclaration(m) || ts.isSetAccessorDeclaration(m))) continue;
        if (!ts.isIdentifier(m.name)) continue;
        const mods = ts.getModifiers(m) ?? [];
        if (mods.some((x) => x.kind === ts.SyntaxKind.PrivateKeyword || x.kind === ts.SyntaxKind.ProtectedKeyword || x.kind === ts.SyntaxKind.OverrideKeyword)) continue;
        members.push({ cls: node.name.text, name: m.name.text });
        if (markedTestOnly(m)) testOnly.add(`${node.name.text}.${m.name.text}`);
      }
    }
    if (ts.isIdentifier(node)) mentions.set(node.text, (mentions.get(node.text) ?? 0) + 1);
    // import('./x.ts') anywhere: everything of x counts as used.
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg !== undefined && ts.isStringLiteral(arg)) take(arg.text, ['*']);
    }
    ts.forEachChild(node, visit);
  };
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier)) {
      const names: string[] = [];
      const clause = st.importClause;
      if (clause?.name) names.push('default');
      const nb = clause?.namedBindings;
      if (nb && ts.isNamespaceImport(nb)) names.push('*');
      if (nb && ts.isNamedImports(nb)) for (const el of nb.elements) names.push((el.propertyName ?? el.name).text);
      take(st.moduleSpecifier.text, clause ? names : ['*']);
    } else if (ts.isExportDeclaration(st)) {
      const spec = st.moduleSpecifier && ts.isStringLiteral(st.moduleSpecifier) ? st.moduleSpecifier.text : null;
      const clause = st.exportClause;
      if (clause && ts.isNamedExports(clause)) {
        for (const el of clause.elements) {
          exports.add(el.name.text);
          if (spec !== null) take(spec, [(el.propertyName ?? el.name).text]);
        }
      } else if (spec !== null) take(spec, ['*']);
    } else if (ts.isExportAssignment(st)) {
      exports.add('default');
    } else if (hasExport(st)) {
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) {
          if (!ts.isIdentifier(d.name)) continue;
          exports.add(d.name.text);
          if (markedTestOnly(st)) testOnly.add(d.name.text);
        }
      } else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || ts.isEnumDeclaration(st)) && st.name) {
        exports.add(st.name.text);
        if (markedTestOnly(st)) testOnly.add(st.name.text);
      }
    }
    visit(st);
  }
  const sql = /\.stmt\(|\.db\.(?:prepare|pragma|exec|transaction|open)\b/.exec(text)?.[0] ?? null;
  return { imports, sql, exports, mentions, members, testOnly };
}

/** Files in circles of imports (Tarjan's strongly connected components of size > 1, or a self-import). */
function circles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v) ?? 0, idx.get(w) ?? 0));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      for (;;) {
        const w = stack.pop();
        if (w === undefined) break;
        on.delete(w);
        comp.push(w);
        if (w === v) break;
      }
      if (comp.length > 1 || graph.get(v)?.has(v) === true) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) strong(v);
  return found;
}

/** Whitespace collapsed, for comparing a declaration with the text a document gives for it. */
function squash(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();
}

/** A parameter as a document writes it: a default makes it optional, a literal default gives its type. */
function paramText(p: ts.ParameterDeclaration): string {
  const optional = p.questionToken !== undefined || p.initializer !== undefined ? '?' : '';
  const init = p.initializer;
  const inferred =
    init === undefined ? null
    : ts.isNumericLiteral(init) ? 'number'
    : ts.isStringLiteral(init) ? 'string'
    : init.kind === ts.SyntaxKind.TrueKeyword || init.kind === ts.SyntaxKind.FalseKeyword ? 'boolean'
    : null;
  const type = p.type ? p.type.getText() : inferred;
  return `${p.dotDotDotToken ? '...' : ''}${p.name.getText()}${optional}${type !== null ? `: ${type}` : ''}`;
}

function signatureText(name: string, d: ts.SignatureDeclarationBase): string {
  return squash(`${name}(${d.parameters.map(paramText).join(', ')})${d.type ? `: ${d.type.getText()}` : ''}`);
}

/** The signatures a file declares: `fn(…): T` for exported functions, `Class.method(…): T` for public methods. */
function signaturesOf(file: string): Map<string, string> {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out = new Map<string, string>();
  for (const st of sf.statements) {
    if (ts.isFunctionDeclaration(st) && st.name && hasExport(st)) out.set(st.name.text, signatureText(st.name.text, st));
    if (ts.isClassDeclaration(st) && st.name) {
      for (const m of st.members) {
        if (ts.isMethodDeclaration(m) && ts.isIdentifier(m.name)) out.set(`${st.name.text}.${m.name.text}`, signatureText(`${st.name.text}.${m.name.text}`, m));
        if (ts.isConstructorDeclaration(m)) out.set(`new ${st.name.text}`, signatureText(`new ${st.name.text}`, m));
      }
    }
  }
  return out;
}

/**
 * docs/CONTRACTS.md against the code. Its ```ts blocks hold lines `// path.ts` (the file the
 * signatures below it are in) and signatures `name(…): T`, `Class.method(…): T` or `new Class(…)`,
 * each exactly as declared (parameters with defaults shown as optional), optionally followed by a
 * `// comment`. Every repository path the document names must exist.
 */
function checkContracts(): string[] {
  const doc = 'docs/CONTRACTS.md';
  const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
  const problems: string[] = [];
  for (const m of text.matchAll(/(?<![\w/.-])((?:agent|service|store|ocf|packaging|bin|test|bench|docs)\/[\w./-]*[\w/])/g)) {
    const p = m[1] ?? '';
    if (!fs.existsSync(path.join(ROOT, p))) problems.push(`contracts: ${doc} names ${p}, which does not exist`);
  }
  let signatures = 0;
  for (const block of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
    let file: string | null = null;
    let decl = new Map<string, string>();
    for (const raw of (block[1] ?? '').split('\n')) {
      const line = raw.trim();
      const where = /^\/\/ ((?:agent|service|store|ocf)\/[\w./-]+\.ts)$/.exec(line);
      if (where) {
        file = where[1] ?? null;
        decl = file !== null && fs.existsSync(path.join(ROOT, file)) ? signaturesOf(file) : new Map<string, string>();
        continue;
      }
      if (line === '' || line.startsWith('//')) continue;
      const sig = squash(line.replace(/\s+\/\/ .*$/, '').replace(/;$/, ''));
      const name = /^((?:new )?[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?)\(/.exec(sig)?.[1];
      if (name === undefined || file === null) {
        problems.push(`contracts: ${doc}: "${line}" is neither a signature nor a "// file.ts" line`);
        continue;
      }
      signatures++;
      const actual = decl.get(name);
      if (actual === undefined) problems.push(`contracts: ${doc}: ${file} declares no ${name}`);
      else if (actual !== sig) problems.push(`contracts: ${doc}: ${file} ${name} is\n    ${actual}\n  the document says\n    ${sig}`);
    }
  }
  if (signatures === 0) problems.push(`contracts: ${doc} holds no signatures to check`);
  return problems;
}

function main(): number {
  const files = SCANNED.flatMap((d) => (fs.existsSync(path.join(ROOT, d)) ? walk(d, []) : []));
  const facts = new Map(files.map((f) => [f, read(f)] as const));
  const problems: string[] = [];

  // 1. Layers.
  const roomEdges = new Map<string, number>();
  for (const [file, f] of facts) {
    const room = roomOf(file);
    if (room === null) continue;
    const [prefix, allowed] = room;
    for (const target of f.imports.keys()) {
      const to = roomOf(target);
      if (to === null || to[0] === prefix) continue;
      const key = `${prefix} -> ${to[0]}`;
      roomEdges.set(key, (roomEdges.get(key) ?? 0) + 1);
      if (allowed.includes('*')) continue;
      if (!allowed.some((a) => target.startsWith(a))) problems.push(`layer: ${file} imports ${target} (room ${prefix} may import ${allowed.join(', ') || 'nothing of ours'})`);
    }
  }
  if (process.argv.includes('--rooms')) {
    for (const [k, n] of [...roomEdges].sort()) console.log(`${String(n).padStart(4)}  ${k}`);
  }

  // 2. Circles.
  const graph = new Map([...facts].map(([file, f]) => [file, new Set(f.imports.keys())] as const));
  for (const c of circles(graph)) problems.push(`circle: ${c.join(' <-> ')}`);

  // 3. SQL stays in store/.
  for (const [file, f] of facts) {
    if (isProduct(file) && !file.startsWith('store/') && f.sql !== null) problems.push(`sql outside store/: ${file}: ${f.sql} (add a function to the table's module in store/)`);
  }

  // 4. Dead exports of product files.
  /** file → the names other files (those `from` keeps) import from it. */
  const importedNames = (from: (file: string) => boolean): Map<string, Set<string>> => {
    const out = new Map<string, Set<string>>();
    for (const [file, f] of facts) {
      if (!from(file)) continue;
      for (const [target, names] of f.imports) {
        if (target === file) continue;
        const set = out.get(target) ?? new Set<string>();
        for (const n of names) set.add(n);
        out.set(target, set);
      }
    }
    return out;
  };
  const used = importedNames(() => true);
  const usedByProduct = importedNames(isProduct);
  for (const [file, f] of facts) {
    if (!isProduct(file)) continue;
    const byProduct = usedByProduct.get(file) ?? new Set<string>();
    const byAny = used.get(file) ?? new Set<string>();
    if (byProduct.has('*')) continue;
    for (const name of f.exports) {
      // Alive: another product file imports it, or its own file uses it (an options type in an
      // exported signature, a constant beside its users); only the declaration's own name: dead.
      if (byProduct.has(name) || (f.mentions.get(name) ?? 0) > 1) continue;
      if (byAny.has(name) || byAny.has('*')) {
        if (!f.testOnly.has(name)) problems.push(`test-only export: ${file}: ${name} (move it to test/helpers/, or say why with @testOnly)`);
      } else if (!f.testOnly.has(name)) problems.push(`dead export: ${file}: ${name}`);
    }
  }

  // 5. Dead public members of product classes: a name mentioned nowhere in product code but at its
  // declaration. Names are compared as text, so a namesake elsewhere keeps a member alive (this
  // check misses some dead members; it never flags a used one).
  const productMentions = new Map<string, number>();
  const anyMentions = new Map<string, number>();
  for (const [file, f] of facts) {
    const product = isProduct(file);
    for (const [name, n] of f.mentions) {
      anyMentions.set(name, (anyMentions.get(name) ?? 0) + n);
      if (product) productMentions.set(name, (productMentions.get(name) ?? 0) + n);
    }
  }
  for (const [file, f] of facts) {
    if (!isProduct(file)) continue;
    for (const m of f.members) {
      const declared = f.members.filter((x) => x.name === m.name).length;
      if ((productMentions.get(m.name) ?? 0) > declared) continue;
      if ((anyMentions.get(m.name) ?? 0) > declared) {
        if (!f.testOnly.has(`${m.cls}.${m.name}`)) problems.push(`test-only member: ${file}: ${m.cls}.${m.name} (say why with @testOnly, or remove it)`);
      } else problems.push(`dead member: ${file}: ${m.cls}.${m.name}`);
    }
  }

  problems.push(...checkContracts());

  for (const p of problems) console.log(p);
  console.log(`check-structure: ${facts.size} files, ${problems.length} finding(s)`);
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main();
