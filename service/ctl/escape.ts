// Making strings that clients chose safe to print on an admin's terminal or in a log.
//
// Client computer names, NetNames, share names and IP address strings come from RegisterEx, possibly
// from unauthenticated clients. Printed raw, a newline forges a line of output, ESC starts a
// terminal control sequence (colours, cursor moves, window title, OSC 8 links, and on some
// terminals worse), C1 controls are CSI/OSC for terminals that take 8-bit controls, and bidi
// overrides reorder what the admin reads. escapeText shows each such character as a visible escape
// instead; a backslash becomes "\\", so the output is unambiguous (unescapable back to the value).
// Letters of every script (é, 日本, ...) stay as they are.

/**
 * What a terminal or log viewer would act on or hide:
 * - C0 controls U+0000–U+001F, DEL U+007F, C1 controls U+0080–U+009F;
 * - bidi controls: ALM U+061C, LRM/RLM U+200E–U+200F, embeddings and overrides U+202A–U+202E,
 *   isolates U+2066–U+2069;
 * - invisible characters that hide or join text: zero-width space U+200B, word joiner and invisible
 *   operators U+2060–U+2065, BOM/ZWNBSP U+FEFF, interlinear annotation U+FFF9–U+FFFB;
 * - line and paragraph separators U+2028–U+2029 (new lines to some viewers);
 * - lone surrogates (not characters: a terminal would show U+FFFD and hide which value it was).
 * ZWJ/ZWNJ (U+200C–U+200D) are left alone: scripts such as Persian and Devanagari need them.
 */
const UNSAFE_NOT_BACKSLASH =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const UNSAFE = new RegExp(`\\\\|${UNSAFE_NOT_BACKSLASH.source}`, 'g');

const NAMED: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const u = c.charCodeAt(0);
  return u <= 0xff ? `\\x${u.toString(16).padStart(2, '0')}` : `\\u${u.toString(16).padStart(4, '0')}`;
}

/**
 * A client-chosen string as it may be printed: control, bidi and invisible characters as `\n`,
 * `\r`, `\t`, `\xHH` (up to U+00FF) or `\uHHHH`, a backslash as `\\`; everything else unchanged.
 */
export function escapeText(s: string): string {
  return s.replace(UNSAFE, escapeOne);
}

/**
 * For whole messages (witnessctl's errors and notes on stderr), whose own text may hold backslashes
 * (DOMAIN\\user): the same escapes for what a terminal would act on, a backslash left as it is.
 * Client-chosen strings inside a message are escapeText-ed where the message is made; this is the
 * last line of defence for everything else (node names, other nodes' errors, the admin's input).
 */
export function inertText(s: string): string {
  return s.replace(UNSAFE_NOT_BACKSLASH, escapeOne);
}

/** escapeText for a value that may be null or undefined, shown as `-`. */
export function escapeOr(s: string | null | undefined, none = '-'): string {
  return s === null || s === undefined ? none : escapeText(s);
}

/**
 * JSON.stringify, with the characters it leaves raw but a terminal would act on (DEL, C1, bidi and
 * invisible characters, line separators) written as \uHHHH escapes. The text is still JSON and
 * parses to exactly the same value; JSON.stringify already escapes C0 controls, quotes,
 * backslashes and lone surrogates.
 */
export function safeJson(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(UNSAFE_NOT_BACKSLASH, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * An authenticated principal, DOMAIN\user: the separator shown as one backslash (as admins write
 * it), each part escaped like any client-chosen text (a backslash inside the user name is `\\`).
 */
export function escapePrincipal(s: string | null | undefined, none = '-'): string {
  if (s === null || s === undefined) return none;
  const at = s.indexOf('\\');
  return at < 0 ? escapeText(s) : `${escapeText(s.slice(0, at))}\\${escapeText(s.slice(at + 1))}`;
}
