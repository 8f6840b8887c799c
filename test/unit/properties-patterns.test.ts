// Properties of the glob patterns witnessctl and the relays take (store/patterns.ts), with fast-check
// and fixed seeds: an escaped name matches exactly itself; matching agrees with a regular-expression
// oracle built here, in the test only, from the same small alphabet (the matcher itself never
// builds one); any pattern text compiles or is refused with GlobError, and a compiled pattern
// answers any text. Examples and the linear-time bound: patterns.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileGlob, GlobError, GLOB_MAX_LENGTH } from '../../store/patterns.ts';

const runs = (seed: number, numRuns = 500): fc.Parameters<unknown> => ({ seed, numRuns });

/**
 * Any Unicode scalar value (no lone surrogates). Built here rather than with fast-check's 'binary'
 * unit, whose first use costs seconds of set-up.
 */
const codePoints = (maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.integer({ min: 0, max: 0x10ffff }).filter((cp) => cp < 0xd800 || cp > 0xdfff).map((cp) => String.fromCodePoint(cp)), maxLength });
/** A pattern that stands for `text` alone: the three wildcard characters bracketed. */
function escapeGlob(text: string): string {
  return Array.from(text, (c) => (c === '*' || c === '?' || c === '[' ? `[${c}]` : c)).join('');
}

/** Glob pieces over a small ASCII alphabet, each with the regular expression it means. */
const PIECES: readonly [glob: string, regex: string][] = [
  ['a', 'a'],
  ['b', 'b'],
  ['A', 'a'],
  ['\\', '\\\\'],
  ['*', '.*'],
  ['?', '.'],
  ['[ab]', '[ab]'],
  ['[!a]', '[^a]'],
  ['[^b]', '[^b]'],
  ['[a-b]', '[a-b]'],
  ['[B-C]', '[b-c]'],
  ['[*]', '\\*'],
  ['[?]', '\\?'],
  ['[[]', '\\['],
  ['[]a]', '[\\]a]'],
];
const TEXT_CHARS = ['a', 'b', 'c', 'A', 'B', '*', '?', '[', ']', '\\'];

describe('properties: glob patterns', () => {
  it('an escaped name matches that name (any case of it, for ASCII) and nothing one character longer or shorter', () => {
    fc.assert(
      fc.property(codePoints(60), fc.string({ unit: 'binary-ascii', maxLength: 60 }), (text, ascii) => {
        const g = compileGlob(escapeGlob(text));
        assert.equal(g.matches(text), true);
        assert.equal(g.matches(`${text}x`), false);
        if (text.length > 0) assert.equal(g.matches(Array.from(text).slice(0, -1).join('')), false);
        const a = compileGlob(escapeGlob(ascii));
        assert.equal(a.matches(ascii.toUpperCase()), true);
        assert.equal(a.matches(ascii.toLowerCase()), true);
      }),
      runs(0x474c_0001),
    );
  });

  it('matching agrees with a case-insensitive regular expression of the same pattern, on any text', () => {
    const pattern = fc.array(fc.constantFrom(...PIECES), { maxLength: 8 });
    const text = fc.array(fc.constantFrom(...TEXT_CHARS), { maxLength: 10 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(pattern, fc.array(text, { minLength: 1, maxLength: 5 }), (pieces, texts) => {
        const g = compileGlob(pieces.map(([p]) => p).join(''));
        const oracle = new RegExp(`^${pieces.map(([, r]) => r).join('')}$`, 'is');
        for (const t of texts) assert.equal(g.matches(t), oracle.test(t), `${g.source} against ${JSON.stringify(t)}`);
      }),
      runs(0x474c_0002, 1000),
    );
  });

  it('any pattern text: compiles or GlobError (too long, a reversed range); a compiled pattern answers any text', () => {
    const source = fc.oneof(
      codePoints(40),
      fc.array(fc.constantFrom('*', '?', '[', ']', '!', '^', '-', 'a', 'z', 'é', '\\'), { maxLength: 30 }).map((cs) => cs.join('')),
      fc.integer({ min: GLOB_MAX_LENGTH - 2, max: GLOB_MAX_LENGTH + 2 }).map((n) => '*'.repeat(n)),
    );
    fc.assert(
      fc.property(source, fc.array(codePoints(30), { maxLength: 4 }), (src, texts) => {
        let g: ReturnType<typeof compileGlob>;
        try {
          g = compileGlob(src);
        } catch (err) {
          if (err instanceof GlobError) return;
          throw err;
        }
        assert.ok(Array.from(src).length <= GLOB_MAX_LENGTH);
        assert.equal(g.source, src);
        for (const t of texts) assert.equal(typeof g.matches(t), 'boolean');
        // A '*' appended (to a pattern without brackets, which the '*' could join) matches what the
        // pattern matched, also with anything after it.
        if (!src.includes('[') && Array.from(src).length < GLOB_MAX_LENGTH) {
          const star = compileGlob(`${src}*`);
          for (const t of texts) if (g.matches(t)) assert.equal(star.matches(`${t}${t}`), true);
        }
      }),
      runs(0x474c_0003, 1000),
    );
  });
});
