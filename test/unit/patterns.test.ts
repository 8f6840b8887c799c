// The glob patterns of `witnessctl list` selections and of `list` requests from other nodes
// (store/patterns.ts): syntax, case-insensitivity, limits, agreement with a dynamic-programming
// reference on random patterns, and bounded time on the patterns that make backtracking matchers
// (regular expressions) run away.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, GLOB_MAX_LENGTH, GlobError } from '../../store/patterns.ts';

const m = (pattern: string, text: string): boolean => compileGlob(pattern).matches(text);

/** Milliseconds f takes (best of three, so a GC pause does not decide). */
function timed(f: () => void): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

describe('glob patterns', () => {
  it('a pattern without wildcards is the whole value, ignoring case', () => {
    assert.equal(m('lister', 'lister'), true);
    assert.equal(m('LISTER', 'Lister'), true);
    assert.equal(m('list', 'lister'), false, 'not a substring search');
    assert.equal(m('ister', 'lister'), false);
    assert.equal(m('', ''), true);
    assert.equal(m('', 'x'), false);
    assert.equal(m('Élan', 'élan'), true, 'non-ASCII letters fold too');
    assert.equal(m('ΣΟΦΊΑ', 'σοφία'), true);
    assert.equal(m('σ', 'ς'), true, 'final sigma');
    assert.equal(m('日本', '日本'), true);
    assert.equal(m('日本', '日'), false);
  });

  it('* any run, ? one character (a code point), ** is *', () => {
    assert.equal(m('list*', 'lister'), true);
    assert.equal(m('*ter', 'lister'), true);
    assert.equal(m('*ste*', 'lister'), true);
    assert.equal(m('*', ''), true);
    assert.equal(m('**', 'anything'), true);
    assert.equal(m('l?ster', 'lister'), true);
    assert.equal(m('l?ster', 'lster'), false);
    assert.equal(m('?', ''), false);
    assert.equal(m('??', '日本'), true);
    assert.equal(m('?', '😀'), true, 'a surrogate pair is one character');
    assert.equal(m('a*b*c', 'aXbYc'), true);
    assert.equal(m('a*b*c', 'aXbYcZ'), false);
    assert.equal(m('*.example.com', 'host.EXAMPLE.com'), true);
  });

  it('[...] sets, ranges and negation, case-insensitive; [ without ] is literal; backslash is literal', () => {
    assert.equal(m('host[0-9]', 'host7'), true);
    assert.equal(m('host[0-9]', 'hostx'), false);
    assert.equal(m('[a-c]x', 'Bx'), true, 'ranges ignore case');
    assert.equal(m('[A-C]x', 'bx'), true);
    assert.equal(m('[!a-c]x', 'Bx'), false);
    assert.equal(m('[^a-c]x', 'dx'), true);
    assert.equal(m('[xyz]', 'Y'), true);
    assert.equal(m('[]]', ']'), true, '] first is a member');
    assert.equal(m('[!]]', 'a'), true);
    assert.equal(m('[a-]', '-'), true, '- last is a member');
    assert.equal(m('[abc', '[abc'), true, 'no closing ]: literal');
    assert.equal(m('[abc', 'a'), false);
    assert.equal(m('a[*]b', 'a*b'), true, '[*] is a literal star');
    assert.equal(m('a[*]b', 'axb'), false);
    assert.equal(m('[?]', '?'), true);
    assert.equal(m('[[]x', '[x'), true);
    assert.equal(m('WORKGROUP\\alice', 'workgroup\\ALICE'), true, 'DOMAIN\\user as written');
    assert.equal(m('*\\alice', 'WORKGROUP\\alice'), true);
    assert.equal(m('[é-ë]', 'Ê'), true);
  });

  it('regular-expression syntax is literal text', () => {
    assert.equal(m('(a+)+$', '(A+)+$'), true);
    assert.equal(m('(a+)+$', 'aaaa'), false);
    assert.equal(m('^admin-', 'admin-x'), false);
    assert.equal(m('a.c', 'abc'), false);
    assert.equal(m('a|b', 'a'), false);
  });

  it('limits: at most GLOB_MAX_LENGTH characters (code points); a reversed range is refused', () => {
    assert.equal(GLOB_MAX_LENGTH, 256);
    assert.equal(m('a'.repeat(256), 'A'.repeat(256)), true);
    assert.equal(m('日'.repeat(256), '日'.repeat(256)), true, '256 characters, whatever their UTF-16 length');
    assert.throws(() => compileGlob('a'.repeat(257)), (e: unknown) => e instanceof GlobError && /257 characters; at most 256/.test(e.message));
    assert.throws(() => compileGlob('[z-a]'), (e: unknown) => e instanceof GlobError && /range z-a is reversed/.test(e.message));
    assert.equal(compileGlob('x*').source, 'x*');
  });

  it('agrees with a dynamic-programming reference on random patterns and texts', () => {
    // The reference: tokens of the small alphabet used here, and the textbook O(n·m) table.
    type Tok = { star: true } | { star: false; test: (c: string) => boolean };
    const atoms: Record<string, Tok> = {
      '*': { star: true },
      '?': { star: false, test: () => true },
      '[ab]': { star: false, test: (c) => 'ab'.includes(c.toLowerCase()) },
      '[!a]': { star: false, test: (c) => c.toLowerCase() !== 'a' },
      '[a-b]': { star: false, test: (c) => c.toLowerCase() === 'a' || c.toLowerCase() === 'b' },
    };
    for (const c of ['a', 'b', 'A', 'B', 'c', 'é', 'É', '\\']) atoms[c] = { star: false, test: (x) => x.toLowerCase() === c.toLowerCase() };
    const reference = (toks: Tok[], text: string[]): boolean => {
      // row[j]: the first i tokens match the first j characters of text.
      let row = [true, ...text.map(() => false)];
      for (const t of toks) {
        const next = [t.star && row[0] === true];
        for (let j = 1; j <= text.length; j++) next[j] = t.star ? row[j] === true || next[j - 1] === true : row[j - 1] === true && t.test(text[j - 1] ?? '');
        row = next;
      }
      return row[text.length] === true;
    };
    const names = Object.keys(atoms);
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...names), { maxLength: 12 }), fc.array(fc.constantFrom('a', 'b', 'A', 'B', 'c', 'é', 'É', '\\', '*', '?'), { maxLength: 16 }), (pat, text) => {
        const toks = pat.map((n) => atoms[n] ?? { star: true as const });
        assert.equal(m(pat.join(''), text.join('')), reference(toks, text), `${pat.join('')} against ${text.join('')}`);
      }),
      { numRuns: 3000, seed: 20240611 },
    );
  });

  it('patterns that make backtracking matchers run away are answered promptly', () => {
    const long = 'a'.repeat(10_000);
    const budget = 200; // ms; each case takes a few ms here
    for (const [pattern, text] of [
      ['*a*a*a*a*a*a*a*b', long],
      ['*a*a*a*a*a*a*a*b', `${long}c`],
      [`${'*a'.repeat(127)}b`, long], // the longest pattern taken: 10,000 × 255 steps at most
      ['(a+)+$', `${'a'.repeat(40)}!`], // the classic regex blow-up: literal text here
      ['(a|a)*b', long],
      [`${'?'.repeat(200)}*b`, long],
      ['*[ab]*[ab]*[ab]*[ab]*c', 'ab'.repeat(5000)],
    ] as const) {
      let got = true;
      const ms = timed(() => { got = m(pattern, text); });
      assert.equal(got, false, pattern);
      assert.ok(ms < budget, `${pattern.slice(0, 40)} against ${text.length} characters took ${ms.toFixed(1)} ms`);
    }
    assert.equal(m('*a*a*a*a*a*a*a*a', long), true);
  });
});
