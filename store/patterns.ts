// Glob patterns for selecting registrations by names that clients chose (witnessctl list, and the
// agent's relay answering `list` for another node). No regular expression is ever built from a
// pattern: a pattern is parsed into tokens and matched by the two-pointer glob algorithm, which
// never takes more than O(length of text × length of pattern) steps, whatever either contains.
//
// Syntax (case-insensitive, always the whole value):
//   *        any run of characters, also none
//   ?        exactly one character
//   [abc]    one of these; [a-z] a range; [!abc] or [^abc] none of these; ']' first is a member
//   anything else stands for itself, backslash included (DOMAIN\user has one); to match a
//   literal '*', '?' or '[' write [*], [?], [[]. A '[' without a closing ']' is literal.
// A pattern without wildcards therefore matches exactly that value, ignoring case.
//
// Leaf module: imports nothing, so store/, agent/ and service/ can all use it.

/** The longest pattern taken, in characters (code points), here and from other nodes. */
export const GLOB_MAX_LENGTH = 256;

export class GlobError extends Error {
  override name = 'GlobError';
}

type Token =
  | { t: 'star' }
  | { t: 'one' }
  | { t: 'char'; key: string }
  | { t: 'set'; negate: boolean; chars: Set<string>; ranges: [number, number][] };

/** A compiled pattern. */
export interface Glob {
  /** The pattern as given (what travels to other nodes). */
  readonly source: string;
  matches(text: string): boolean;
}

/**
 * The key two characters compare by: lower-cased then upper-cased, so that 'a'/'A', 'é'/'É' and
 * 'σ'/'ς'/'Σ' meet. One code point in; the key may be longer (e.g. 'ß' → 'SS'), which is fine:
 * keys are only compared with each other, one character of text against one token.
 */
function foldKey(ch: string): string {
  const c = ch.charCodeAt(0);
  if (ch.length === 1 && c < 0x80) return c >= 0x61 && c <= 0x7a ? String.fromCharCode(c - 0x20) : ch;
  return ch.toLowerCase().toUpperCase();
}

/** The code points a character may take in a range test: itself and its single-code-point case variants. */
function caseVariants(ch: string): number[] {
  const out = [ch.codePointAt(0) ?? 0];
  for (const v of [ch.toLowerCase(), ch.toUpperCase()]) {
    const cp = v.codePointAt(0) ?? 0;
    if (v.length === String.fromCodePoint(cp).length && !out.includes(cp)) out.push(cp);
  }
  return out;
}

function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Parses a bracket expression starting at chars[i] === '['; null when it has no closing ']'. */
function parseSet(chars: readonly string[], i: number): { token: Token; next: number } | null {
  let j = i + 1;
  let negate = false;
  if (chars[j] === '!' || chars[j] === '^') {
    negate = true;
    j++;
  }
  const set = new Set<string>();
  const ranges: [number, number][] = [];
  let first = true;
  for (; j < chars.length; j++) {
    const c = chars[j] ?? '';
    if (c === ']' && !first) return { token: { t: 'set', negate, chars: set, ranges }, next: j + 1 };
    first = false;
    const hi = chars[j + 2];
    if (chars[j + 1] === '-' && hi !== undefined && hi !== ']') {
      const a = c.codePointAt(0) ?? 0;
      const b = hi.codePointAt(0) ?? 0;
      if (a > b) throw new GlobError(`range ${c}-${hi} is reversed (${hex(a)} > ${hex(b)})`);
      ranges.push([a, b]);
      j += 2;
    } else {
      set.add(foldKey(c));
    }
  }
  return null;
}

/** Compiles a pattern; throws GlobError when it is too long or malformed. */
export function compileGlob(source: string): Glob {
  const chars = Array.from(source);
  if (chars.length > GLOB_MAX_LENGTH) throw new GlobError(`pattern of ${chars.length} characters; at most ${GLOB_MAX_LENGTH} are taken`);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; ) {
    const c = chars[i] ?? '';
    if (c === '*') {
      if (tokens.at(-1)?.t !== 'star') tokens.push({ t: 'star' }); // '**' is '*'
      i++;
    } else if (c === '?') {
      tokens.push({ t: 'one' });
      i++;
    } else if (c === '[') {
      const s = parseSet(chars, i);
      if (s === null) {
        tokens.push({ t: 'char', key: foldKey(c) });
        i++;
      } else {
        tokens.push(s.token);
        i = s.next;
      }
    } else {
      tokens.push({ t: 'char', key: foldKey(c) });
      i++;
    }
  }
  return { source, matches: (text) => matchTokens(tokens, Array.from(text)) };
}

function tokenMatches(tok: Token, ch: string): boolean {
  switch (tok.t) {
    case 'one':
      return true;
    case 'char':
      return tok.key === foldKey(ch);
    case 'set': {
      let hit = tok.chars.has(foldKey(ch));
      if (!hit && tok.ranges.length > 0) {
        const cps = caseVariants(ch);
        hit = tok.ranges.some(([a, b]) => cps.some((cp) => cp >= a && cp <= b));
      }
      return hit !== tok.negate;
    }
    case 'star':
      return false;
  }
}

/**
 * The two-pointer glob match: on a mismatch, go back to just after the last '*' and let it take
 * one more character of text. Only the last '*' is ever revisited (an earlier one could not do
 * better), so each character of text is tried against each token at most once per '*' restart:
 * O(n·m) at worst, with no recursion and no exponential case.
 */
function matchTokens(tokens: readonly Token[], text: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  let star = -1; // index of the last '*' token seen
  let resume = 0; // where in text that '*' stopped
  while (t < text.length) {
    const tok = tokens[p];
    if (tok !== undefined && tok.t === 'star') {
      star = p++;
      resume = t;
    } else if (tok !== undefined && tokenMatches(tok, text[t] ?? '')) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (tokens[p]?.t === 'star') p++;
  return p === tokens.length;
}
