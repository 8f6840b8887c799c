// The agent's one XML reader: the whole CIB (configuration and status), and the XML that
// Pacemaker's tools print (crm_simulate, attrd_updater). One tokenizer (XmlScanner), one decoder
// of attribute values (decodeAttributeValue), two ways of using them:
//
// - readXml builds a small element tree and checks well-formedness on the way (strict mode): for
//   the configuration and tool output, which are small and varied.
// - agent/cib/status-scan.ts drives the scanner itself (lenient mode) through the status section,
//   which is huge and regular (18 MB at 32 nodes × 1,000 resources), in the same pass as the
//   configuration: it reads only the attributes it needs and jumps over the <lrm_resource> blocks
//   the witness does not care about. Lenient mode checks nothing it does not need to (names,
//   duplicate attributes, '<' or a bad reference in a value, text between tags), ends a tag at its
//   first '>' and finds an attribute by ` name="` in the tag before walking the tag's attributes
//   (then exactly as strict mode does). That relies on what Pacemaker writes: '>' in a value is
//   escaped (&gt;) and values are in double quotes. Either way, every value goes through the same
//   decoder, so what a value reads as does not depend on the path it was read by.
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
  // Most values hold nothing to decode: one pass over their characters says so.
  let i = 0;
  for (; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 38 || c === 10 || c === 9 || c === 13) break;
  }
  if (i === raw.length) return raw;
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

/** Characters that end a name: white space, '/', '>', '=', quotes, '<'. */
const NAME_END = new Uint8Array(128);
for (const ch of ' \n\t\r/>="\'<') NAME_END[ch.charCodeAt(0)] = 1;

/** The end of the name that starts at `p` (the first character that ends it, or the end of the text). */
function nameEnd(xml: string, from: number): number {
  const n = xml.length;
  let p = from;
  while (p < n) {
    const c = xml.charCodeAt(p);
    if (c < 128 && NAME_END[c] === 1) break;
    p++;
  }
  return p;
}

/**
 * A cursor over the tags of a document. next() moves to the next start or end tag, passing over
 * text, comments, CDATA sections, processing instructions and a DOCTYPE; then name, closing,
 * empty and the attributes describe that tag. Attribute values are sliced and decoded only when
 * asked for. Nothing looks further ahead than the current tag (or the block skipPast jumps), so
 * no per-tag cost grows with the size of the document.
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
  /** Attributes walked so far (all of them once `walked`). */
  private count = 0;
  /** name start, name end, value start, value end (inside the quotes) of each attribute. */
  private spans = new Int32Array(4 * 32);
  /** The current tag's attributes were walked (always in strict mode; on demand in lenient mode). */
  private walked = true;
  /** Lenient mode: the attribute text of the current tag, [attrFrom, attrTo), and its slice once made. */
  private attrFrom = 0;
  private attrTo = 0;
  private text: string | null = null;
  /** Where the last walk ended: just past the tag, and whether it was an empty-element tag. */
  private walkEnd = 0;
  private walkEmpty = false;

  constructor(xml: string, opts: { strict: boolean; what: string; from?: number }) {
    this.xml = xml;
    this.strict = opts.strict;
    this.what = opts.what;
    this.pos = opts.from ?? 0;
  }

  /** A lenient scanner over the same document from the current position (see the file's comment). */
  lenient(): XmlScanner {
    return new XmlScanner(this.xml, { strict: false, what: this.what, from: this.pos });
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
      let p = nameEnd(xml, nameStart);
      if (p === nameStart) this.fail(p >= xml.length ? 'the document ends inside a tag' : `a tag without a name`, lt);
      this.name = xml.slice(nameStart, p);
      if (this.strict && !XML_NAME.test(this.name)) this.fail(`<${this.name}> is not a valid element name`, lt);
      this.count = 0;
      this.walked = true;
      this.empty = false;
      if (this.closing) {
        while (isSpace(xml.charCodeAt(p))) p++;
        if (xml.charCodeAt(p) !== 62) this.fail(p >= xml.length ? 'the document ends inside a tag' : `</${this.name}> has more than a name`, lt);
        this.pos = p + 1;
        return true;
      }
      if (this.strict) {
        this.readAttributes(p);
        this.pos = this.walkEnd;
        this.empty = this.walkEmpty;
        this.walked = true;
        return true;
      }
      // Lenient: the tag ends at the first '>' (what Pacemaker writes escapes '>' in values as
      // &gt;); attributes are found when asked for.
      const gt = xml.indexOf('>', p);
      if (gt < 0) this.fail('the document ends inside a tag', lt);
      this.empty = gt > p && xml.charCodeAt(gt - 1) === 47;
      this.attrFrom = p;
      this.attrTo = this.empty ? gt - 1 : gt;
      this.text = null;
      this.walked = false;
      this.pos = gt + 1;
      return true;
    }
  }

  /** Reads the attributes of a start tag from `p` (just after its name) to its '>' or '/>'. */
  private readAttributes(from: number): void {
    const xml = this.xml;
    this.count = 0;
    let p = from;
    for (;;) {
      const spaced = isSpace(xml.charCodeAt(p));
      while (isSpace(xml.charCodeAt(p))) p++;
      const c = xml.charCodeAt(p);
      if (c === 62 /* > */) {
        this.walkEnd = p + 1;
        this.walkEmpty = false;
        return;
      }
      if (c === 47 /* / */ && xml.charCodeAt(p + 1) === 62) {
        this.walkEnd = p + 2;
        this.walkEmpty = true;
        return;
      }
      if (Number.isNaN(c)) this.fail('the document ends inside a tag');
      if (!spaced) this.fail(`<${this.name}>: attributes must be separated by white space`, p);
      const ns = p;
      const ne = nameEnd(xml, p);
      p = ne;
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
    for (let i = vs; i < ve; i++) {
      const c = xml.charCodeAt(i);
      if (c === 60) this.fail(`<${this.name}>: '<' in the value of ${name}`, i);
      if (c === 38) this.checkReference(i, ve);
    }
  }

  /** Strict: the '&' at `a` starts a reference this reader knows and XML allows, ending before `to`. */
  private checkReference(a: number, to: number): void {
    const xml = this.xml;
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

  /** Strict: text between tags may hold only valid references; notes text that is not white space. */
  private checkText(from: number, to: number): void {
    const xml = this.xml;
    for (let i = from; i < to; i++) {
      const c = xml.charCodeAt(i);
      if (!isSpace(c)) this.textSeen = true;
      if (c === 38) this.checkReference(i, to);
    }
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
    if (!this.walked) {
      // Lenient fast path, the way the status section is read: ` name="` found in the tag's text
      // (it cannot occur inside a double-quoted value, where '"' is escaped). Anything written
      // otherwise (single quotes, other white space, spaces around '=') or missing: walk the tag.
      const text = (this.text ??= this.xml.slice(this.attrFrom, this.attrTo));
      const i = text.indexOf(` ${name}="`);
      if (i >= 0) {
        const from = i + name.length + 3;
        const j = text.indexOf('"', from);
        if (j >= 0) return decodeAttributeValue(text.slice(from, j));
      }
      this.walk();
    }
    const k = this.indexOfAttribute(name);
    return k < 0 ? undefined : this.valueAt(k);
  }

  /** Lenient mode: walks the current tag's attributes (once). */
  private walk(): void {
    if (this.walked) return;
    this.readAttributes(this.attrFrom);
    this.walked = true;
  }

  private valueAt(k: number): string {
    return decodeAttributeValue(this.xml.slice(this.spans[k * 4 + 2] ?? 0, this.spans[k * 4 + 3] ?? 0));
  }

  /** Every attribute of the current tag, decoded (the first of a name given twice in lenient mode). */
  attributes(): Record<string, string> {
    this.walk();
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
