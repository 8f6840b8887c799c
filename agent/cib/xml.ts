// The agent's one XML reader: the whole CIB (configuration and status), and the XML that
// Pacemaker's tools print (crm_simulate, attrd_updater). One tokenizer (XmlScanner), one decoder
// of attribute values (decodeAttributeValue), two ways of using them:
//
// - readXml builds a small element tree and checks well-formedness on the way (strict mode): for
//   the configuration and tool output, which are small and varied.
// - agent/cib/status-scan.ts drives the scanner itself (lenient mode) through the status section,
//   which is huge and regular (18 MB at 32 nodes × 1,000 resources), reading only the attributes it
//   needs and jumping over the <lrm_resource> blocks the witness does not care about. Lenient mode
//   differs only in what it does not check (name characters, duplicate attributes, '<' or a bad
//   reference inside a value, text between tags); what it reads, it reads and decodes exactly as
//   strict mode does.
//
// Entities: the five predefined ones and character references are decoded, nothing else is
// defined (a DOCTYPE is passed over, its declarations ignored: no entity expansion, no external
// anything). Attribute values are normalised as XML 1.0 §3.3.3 says (a literal tab, newline or
// carriage return is a space; "&#10;" is a newline), which is how libxml2, and so Pacemaker, reads
// the same CIB.

import { CibParseError } from './errors.ts';

const XML_NAME = /^[A-Za-z_:\u00C0-\uFFFF][-A-Za-z0-9_:.\u00B7\u00C0-\uFFFF]*$/;
const REFERENCE = /\r\n|[\t\n\r]|&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g;
const STRICT_REFERENCE = /^&(?:#x([0-9a-fA-F]+)|#([0-9]+)|amp|lt|gt|quot|apos);/;

/** A code point XML 1.0 allows in a document (its Char production). */
function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

function referenceText(ref: string): string | null {
  switch (ref) {
    case 'amp': return '&';
    case 'lt': return '<';
    case 'gt': return '>';
    case 'quot': return '"';
    case 'apos': return "'";
    default: {
      const cp = ref.startsWith('#x') ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return isXmlChar(cp) ? String.fromCodePoint(cp) : null;
    }
  }
}

/**
 * An attribute value as written between its quotes → its value: literal tab/newline/CR (and CR LF)
 * become a space, then "&amp; &lt; &gt; &quot; &apos; &#10; &#x41;" are resolved. Anything else
 * after '&' (an undefined entity, a reference to a code point XML does not allow) is kept as
 * written; strict reading refuses such a document before its values are decoded.
 */
export function decodeAttributeValue(raw: string): string {
  REFERENCE.lastIndex = 0;
  if (!REFERENCE.test(raw)) return raw;
  return raw.replace(REFERENCE, (m: string, ref: string | undefined) => (ref === undefined ? ' ' : (referenceText(ref) ?? m)));
}

/** Where `at` is in `xml`, for messages: "line L, column C" (1-based, columns in UTF-16 units). */
export function positionOf(xml: string, at: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = xml.indexOf('\n'); i >= 0 && i < at; i = xml.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${at - lineStart + 1}`;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

/** Characters that end a name (space, '/', '>', '=', quotes, '<'). */
function endsName(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13 || c === 47 || c === 62 || c === 61 || c === 34 || c === 39 || c === 60 || Number.isNaN(c);
}

/**
 * A cursor over the tags of a document. next() moves to the next start or end tag, passing over
 * text, comments, CDATA sections, processing instructions and a DOCTYPE; then name, closing,
 * empty and the attributes describe that tag. Attribute values are sliced and decoded only when
 * asked for, and only values that contain '&' or literal white space are decoded at all.
 */
export class XmlScanner {
  readonly xml: string;
  readonly strict: boolean;
  /** What the document is, for messages ("CIB", "crm_simulate output"). */
  readonly what: string;
  /** Offset just past the current tag. */
  pos: number;
  /** Offset of the current tag's '<'. */
  start = 0;
  /** Strict mode: text other than white space came before the current tag (since the previous one). */
  textSeen = false;
  name = '';
  /** An end tag (</x>). */
  closing = false;
  /** An empty-element tag (<x/>). */
  empty = false;
  /** Number of attributes of the current tag. */
  count = 0;
  /** name start, name end, value start, value end (inside the quotes) of each attribute. */
  private spans = new Int32Array(4 * 32);
  /** No '&', tab, newline or CR inside the current tag: its values need no decoding. */
  private plain = true;
  // Next offsets of characters that make a value need decoding, found by indexOf and kept until
  // the cursor passes them, so each is searched for once per stretch of the document. Each cache
  // is asked with increasing offsets only (checkAmp by the strict checks, the others by next()).
  private checkAmp = -1;
  private nextAmp = -1;
  private nextNl = -1;
  private nextCr = -1;
  private nextTab = -1;

  constructor(xml: string, opts: { strict: boolean; what: string; from?: number }) {
    this.xml = xml;
    this.strict = opts.strict;
    this.what = opts.what;
    this.pos = opts.from ?? 0;
  }

  /** Throws CibParseError "<what> is not well-formed XML: <msg> (line L, column C)". */
  fail(msg: string, at: number = this.start): never {
    throw new CibParseError(`${this.what} is not well-formed XML: ${msg} (${positionOf(this.xml, at)})`);
  }

  /** Moves to the next tag; false at the end of the document. */
  next(): boolean {
    const xml = this.xml;
    this.textSeen = false;
    for (;;) {
      const textStart = this.pos;
      const lt = xml.indexOf('<', textStart);
      if (lt < 0) {
        this.start = xml.length;
        if (this.strict) this.checkText(textStart, xml.length);
        this.pos = xml.length;
        return false;
      }
      if (this.strict) this.checkText(textStart, lt);
      const c = xml.charCodeAt(lt + 1);
      if (c === 33 /* ! */ || c === 63 /* ? */) {
        this.pos = this.passOver(lt, c);
        continue;
      }
      this.start = lt;
      this.closing = c === 47;
      const nameStart = lt + (this.closing ? 2 : 1);
      let p = nameStart;
      while (!endsName(xml.charCodeAt(p))) p++;
      if (p === nameStart) this.fail(p >= xml.length ? 'the document ends inside a tag' : `a tag without a name`, lt);
      this.name = xml.slice(nameStart, p);
      if (this.strict && !XML_NAME.test(this.name)) this.fail(`<${this.name}> is not a valid element name`, lt);
      this.count = 0;
      this.empty = false;
      if (this.closing) {
        while (isSpace(xml.charCodeAt(p))) p++;
        if (xml.charCodeAt(p) !== 62) this.fail(p >= xml.length ? 'the document ends inside a tag' : `</${this.name}> has more than a name`, lt);
        this.pos = p + 1;
        this.plain = true;
        return true;
      }
      this.readAttributes(p);
      this.plain = this.noneBefore(lt, this.pos);
      return true;
    }
  }

  /** Reads the attributes of a start tag from `p` (just after its name) to its '>' or '/>'. */
  private readAttributes(from: number): void {
    const xml = this.xml;
    let p = from;
    for (;;) {
      const spaced = isSpace(xml.charCodeAt(p));
      while (isSpace(xml.charCodeAt(p))) p++;
      const c = xml.charCodeAt(p);
      if (c === 62 /* > */) {
        this.pos = p + 1;
        return;
      }
      if (c === 47 /* / */ && xml.charCodeAt(p + 1) === 62) {
        this.empty = true;
        this.pos = p + 2;
        return;
      }
      if (Number.isNaN(c)) this.fail('the document ends inside a tag');
      if (!spaced) this.fail(`<${this.name}>: attributes must be separated by white space`, p);
      const ns = p;
      while (!endsName(xml.charCodeAt(p))) p++;
      const ne = p;
      if (ne === ns) this.fail(`<${this.name}>: unexpected ${JSON.stringify(xml.charAt(p))} where an attribute was expected`, p);
      while (isSpace(xml.charCodeAt(p))) p++;
      if (xml.charCodeAt(p) !== 61 /* = */) this.fail(`<${this.name}>: attribute ${xml.slice(ns, ne)} has no value`, ns);
      p++;
      while (isSpace(xml.charCodeAt(p))) p++;
      const q = xml.charCodeAt(p);
      if (q !== 34 && q !== 39) this.fail(`<${this.name}>: the value of ${xml.slice(ns, ne)} is not quoted`, p);
      const close = xml.indexOf(q === 34 ? '"' : "'", p + 1);
      if (close < 0) this.fail(`<${this.name}>: the value of ${xml.slice(ns, ne)} is never closed`, p);
      if (this.strict) this.checkAttribute(ns, ne, p + 1, close);
      const i = this.count * 4;
      if (i + 4 > this.spans.length) {
        const grown = new Int32Array(this.spans.length * 2);
        grown.set(this.spans);
        this.spans = grown;
      }
      this.spans[i] = ns;
      this.spans[i + 1] = ne;
      this.spans[i + 2] = p + 1;
      this.spans[i + 3] = close;
      this.count++;
      p = close + 1;
    }
  }

  private checkAttribute(ns: number, ne: number, vs: number, ve: number): void {
    const xml = this.xml;
    const name = xml.slice(ns, ne);
    if (!XML_NAME.test(name)) this.fail(`<${this.name}>: ${JSON.stringify(name)} is not a valid attribute name`, ns);
    for (let k = 0; k < this.count; k++) {
      const s = this.spans[k * 4] ?? 0;
      if ((this.spans[k * 4 + 1] ?? 0) - s === name.length && xml.startsWith(name, s)) this.fail(`<${this.name}>: attribute ${name} is given twice`, ns);
    }
    const lt = xml.indexOf('<', vs);
    if (lt >= 0 && lt < ve) this.fail(`<${this.name}>: '<' in the value of ${name}`, lt);
    this.checkReferences(vs, ve);
  }

  /** Strict: every '&' in [from, to) starts a reference this reader knows and XML allows. */
  private checkReferences(from: number, to: number): void {
    // Called with increasing `from`; the cached next '&' keeps this linear in the document.
    if (this.checkAmp < from) this.checkAmp = this.indexOrEnd('&', from);
    if (this.checkAmp >= to) return;
    const xml = this.xml;
    for (let a = this.checkAmp; a < to; a++) {
      if (xml.charCodeAt(a) !== 38) continue;
      const m = STRICT_REFERENCE.exec(xml.slice(a, Math.min(to, a + 12)));
      const hex = m?.[1];
      const dec = m?.[2];
      const cp = hex !== undefined ? parseInt(hex, 16) : dec !== undefined ? parseInt(dec, 10) : null;
      if (m === null || (cp !== null && !isXmlChar(cp))) {
        const end = xml.indexOf(';', a);
        const shown = end > a && end < to && end - a < 40 ? xml.slice(a, end + 1) : '&';
        this.fail(`${JSON.stringify(shown)} is not a reference this reader knows (only &amp; &lt; &gt; &quot; &apos; and character references)`, a);
      }
    }
  }

  /** Strict: text between tags may hold only valid references; notes text that is not white space. */
  private checkText(from: number, to: number): void {
    if (from >= to) return;
    for (let i = from; i < to && !this.textSeen; i++) if (!isSpace(this.xml.charCodeAt(i))) this.textSeen = true;
    this.checkReferences(from, to);
  }

  private indexOrEnd(ch: string, from: number): number {
    const i = this.xml.indexOf(ch, from);
    return i < 0 ? this.xml.length : i;
  }

  /** No character that needs decoding in [from, to). */
  private noneBefore(from: number, to: number): boolean {
    if (this.nextAmp < from) this.nextAmp = this.indexOrEnd('&', from);
    if (this.nextNl < from) this.nextNl = this.indexOrEnd('\n', from);
    if (this.nextCr < from) this.nextCr = this.indexOrEnd('\r', from);
    if (this.nextTab < from) this.nextTab = this.indexOrEnd('\t', from);
    return this.nextAmp >= to && this.nextNl >= to && this.nextCr >= to && this.nextTab >= to;
  }

  /** Passes over a comment, CDATA section, DOCTYPE or processing instruction at `lt`. */
  private passOver(lt: number, c: number): number {
    const xml = this.xml;
    const until = (end: string, from: number, what: string): number => {
      const i = xml.indexOf(end, from);
      if (i < 0) this.fail(`${what} is never closed`, lt);
      return i + end.length;
    };
    if (c === 63) return until('?>', lt + 2, 'a processing instruction');
    if (xml.startsWith('<!--', lt)) return until('-->', lt + 4, 'a comment');
    if (xml.startsWith('<![CDATA[', lt)) return until(']]>', lt + 9, 'a CDATA section');
    if (xml.startsWith('<!DOCTYPE', lt)) {
      const gt = until('>', lt, 'a DOCTYPE');
      const bracket = xml.indexOf('[', lt);
      // An internal subset ends at "]" then ">".
      if (bracket >= 0 && bracket < gt) return until('>', until(']', bracket, 'a DOCTYPE'), 'a DOCTYPE');
      return gt;
    }
    return this.fail('"<!" that starts no comment, CDATA section or DOCTYPE', lt);
  }

  /** The position of the current tag's attribute `name`, or -1. */
  private indexOfAttribute(name: string): number {
    const xml = this.xml;
    const spans = this.spans;
    for (let k = 0; k < this.count; k++) {
      const s = spans[k * 4] ?? 0;
      if ((spans[k * 4 + 1] ?? 0) - s === name.length && xml.startsWith(name, s)) return k;
    }
    return -1;
  }

  /** The current tag's attribute `name`, decoded, or undefined. */
  attr(name: string): string | undefined {
    const k = this.indexOfAttribute(name);
    return k < 0 ? undefined : this.valueAt(k);
  }

  private valueAt(k: number): string {
    const raw = this.xml.slice(this.spans[k * 4 + 2] ?? 0, this.spans[k * 4 + 3] ?? 0);
    return this.plain ? raw : decodeAttributeValue(raw);
  }

  /** Every attribute of the current tag, decoded (the first of a name given twice in lenient mode). */
  attributes(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let k = 0; k < this.count; k++) {
      const name = this.xml.slice(this.spans[k * 4] ?? 0, this.spans[k * 4 + 1] ?? 0);
      if (!Object.hasOwn(out, name)) out[name] = this.valueAt(k);
    }
    return out;
  }

  /**
   * Moves just past the next `</name>`, the current start tag's end when elements of that name do
   * not nest, without reading what is in between; false (and the cursor unmoved) when there is none.
   */
  skipPast(name: string): boolean {
    if (this.empty) return true;
    const close = `</${name}>`;
    const i = this.xml.indexOf(close, this.pos);
    if (i < 0) return false;
    this.pos = i + close.length;
    return true;
  }
}

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

export interface ReadXmlOptions {
  /** What the document is, for messages. */
  what: string;
  /**
   * Called at each start tag with its ancestors (outermost first). Returning true means the
   * callback read the element itself, through its end tag (nothing more when scanner.empty); it is
   * then left out of the tree.
   */
  takeOver?: (name: string, ancestors: readonly XmlElement[], scanner: XmlScanner) => boolean;
}

/**
 * Reads a whole document into an element tree, checking that it is well-formed: one root element,
 * tags nested and closed, attributes quoted, named once and holding no '<', every '&' a known
 * reference, nothing but white space, comments and processing instructions outside the root.
 * Throws CibParseError. Text content is not kept (nothing the agent reads has any).
 */
export function readXml(xml: string, opts: ReadXmlOptions): XmlElement {
  const sc: XmlScanner = new XmlScanner(xml, { strict: true, what: opts.what });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (sc.next()) {
    if (stack.length === 0 && sc.textSeen) sc.fail('text outside the root element');
    if (sc.closing) {
      const open = stack.pop();
      if (open === undefined) sc.fail(`</${sc.name}> closes nothing`);
      if (open.name !== sc.name) sc.fail(`</${sc.name}> closes <${open.name}>`);
      continue;
    }
    if (root !== null && stack.length === 0) sc.fail(`a second root element <${sc.name}> after <${root.name}>`);
    if (opts.takeOver?.(sc.name, stack, sc) === true) {
      if (root === null) root = { name: sc.name, attrs: {}, children: [] };
      continue;
    }
    const el: XmlElement = { name: sc.name, attrs: sc.attributes(), children: [] };
    const parent = stack.at(-1);
    if (parent) parent.children.push(el);
    else root = el;
    if (!sc.empty) stack.push(el);
  }
  if (sc.textSeen && stack.length === 0) sc.fail('text outside the root element', xml.length);
  const open = stack.at(-1);
  if (open !== undefined) sc.fail(`<${open.name}> is never closed`, xml.length);
  if (root === null) sc.fail('no root element', 0);
  return root;
}

/** The first child element named `name`. */
export function child(el: XmlElement | null | undefined, name: string): XmlElement | null {
  return el?.children.find((c) => c.name === name) ?? null;
}

/** The child elements named `name`. */
export function children(el: XmlElement | null | undefined, name: string): XmlElement[] {
  return el?.children.filter((c) => c.name === name) ?? [];
}

/** Every element named `name` below `el` (not `el` itself), in document order. */
export function descendants(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}
