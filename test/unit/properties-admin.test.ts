// Properties of the cross-node admin protocol's wire format (agent/admin/wire.ts: a request is the
// JSON of a WireRequest in a transient node attribute, a result the JSON of a WireResult plus its
// time) and of witnessctl's escapes for client-chosen text (service/ctl/escape.ts), with fast-check
// and fixed seeds: requests and results survive encode → decode, fields a newer peer adds are
// ignored, any JSON value decodes to a well-typed request or fails with the decoder's own Error
// (never a TypeError from reaching into a wrong shape), and escaped text reads back to the value.
// Examples: admin-relay and ctl-output tests.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeWireRequest, decodeWireResult, type WireRequest, type WireResult } from '../../agent/admin/wire.ts';
import { ADMIN_KINDS } from '../../store/admin-requests.ts';
import { LIST_FILTER_FIELDS } from '../../store/registrations.ts';
import { escapeText, safeJson } from '../../service/ctl/escape.ts';

const runs = (seed: number, numRuns = 500): fc.Parameters<unknown> => ({ seed, numRuns });

/** Any UTF-16 code units, lone surrogates included: names come from clients. */
const units = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength });
const id = fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b).toString('hex'));
/** JSON carries any finite number exactly, but not -0 (it comes back as 0). */
const at = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Object.is(x, -0));

const wireRequest: fc.Arbitrary<WireRequest> = fc.record(
  {
    id,
    from: units(20).filter((s) => s !== ''),
    at,
    kind: fc.constantFrom<WireRequest['kind']>('list', ...ADMIN_KINDS),
    selector: fc.record({ key: units(40), client: units(20), share: units(20), netName: units(20), ip: units(20), all: fc.constant(true as const) }, { requiredKeys: [], noNullPrototype: true }),
    target: fc.record({ node: units(20), ip: units(20) }, { requiredKeys: [], noNullPrototype: true }),
    globs: fc.record(Object.fromEntries(LIST_FILTER_FIELDS.map((f) => [f, units(20)])) as Record<(typeof LIST_FILTER_FIELDS)[number], fc.Arbitrary<string>>, { requiredKeys: [], noNullPrototype: true }),
  },
  { requiredKeys: ['id', 'from', 'at', 'kind', 'selector', 'target'], noNullPrototype: true },
);

/** Decodes, insisting that a refusal is the decoder's own Error (or JSON.parse's SyntaxError), nothing else. */
function decodeOrRefuse<T>(decode: () => T): T | null {
  try {
    return decode();
  } catch (err) {
    if (err instanceof Error && (err.constructor === Error || err instanceof SyntaxError)) return null;
    throw err;
  }
}

describe('properties: cross-node admin wire format', () => {
  it('requests: JSON as remote.ts writes it → decodeWireRequest gives the request back', () => {
    fc.assert(
      fc.property(wireRequest, (r) => {
        assert.deepEqual(decodeWireRequest(JSON.stringify(r)), r);
      }),
      runs(0x4144_0001),
    );
  });

  it('requests: fields a newer peer adds are ignored; an older witnessctl\'s regex filters are only flagged', () => {
    const known = new Set(['id', 'from', 'at', 'kind', 'selector', 'target', 'globs', 'filters', '__proto__']);
    const extra = fc.dictionary(units(10).filter((k) => !known.has(k)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
    fc.assert(
      fc.property(wireRequest, extra, fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }), (r, more, filters) => {
        const sent = filters === undefined ? { ...more, ...r } : { ...more, ...r, filters };
        const got = decodeWireRequest(JSON.stringify(sent));
        assert.deepEqual(got, filters === undefined ? r : { ...r, regexFilters: true });
      }),
      runs(0x4144_0002),
    );
  });

  it('requests: any JSON value or text decodes to a well-typed request or is refused with the decoder\'s Error', () => {
    // Valid requests with a field, or a field inside selector/target/globs, replaced by any JSON value.
    const json = fc.jsonValue({ maxDepth: 1 });
    const shaped = fc
      .tuple(
        wireRequest,
        fc.array(fc.tuple(fc.constantFrom('id', 'from', 'at', 'kind', 'selector', 'target', 'globs'), json), { maxLength: 1 }),
        fc.array(fc.tuple(fc.constantFrom('selector', 'target', 'globs'), fc.constantFrom('key', 'client', 'all', 'node', 'ip', ...LIST_FILTER_FIELDS), json), { maxLength: 2 }),
      )
      .map(([r, top, inner]) => {
        const o: Record<string, unknown> = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
        for (const [k, v] of top) o[k] = v;
        for (const [k, sub, v] of inner) {
          const field = o[k] ?? {};
          if (typeof field === 'object' && field !== null && !Array.isArray(field)) o[k] = { ...field, [sub]: v };
        }
        return o;
      });
    const text = fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), shaped.map((v) => JSON.stringify(v)), units(30));
    fc.assert(
      fc.property(text, (t) => {
        const r = decodeOrRefuse(() => decodeWireRequest(t));
        if (r === null) return;
        assert.match(r.id, /^[0-9a-f]{16}$/);
        assert.ok(typeof r.from === 'string' && r.from !== '');
        assert.equal(typeof r.at, 'number');
        assert.ok(r.kind === 'list' || ADMIN_KINDS.includes(r.kind));
        for (const v of Object.values(r.selector)) assert.ok(typeof v === 'string' || v === true);
        for (const v of Object.values(r.target)) assert.equal(typeof v, 'string');
        for (const [k, v] of Object.entries(r.globs ?? {})) assert.ok((LIST_FILTER_FIELDS as readonly string[]).includes(k) && typeof v === 'string');
        // What was decoded, sent again, decodes the same.
        assert.deepEqual(decodeWireRequest(JSON.stringify(r)), r);
      }),
      runs(0x4144_0003, 1500),
    );
  });

  it('results: JSON as the relay writes it (with its time) → decodeWireResult gives id, node, ok and result back', () => {
    const wireResult: fc.Arbitrary<WireResult> = fc.record({ id, node: units(20), ok: fc.boolean(), result: fc.dictionary(units(10), fc.jsonValue({ maxDepth: 3 })) }, { noNullPrototype: true });
    fc.assert(
      fc.property(wireResult, at, (r, now) => {
        const value = JSON.stringify({ ...r, at: now });
        // What JSON can say of the result (-0 becomes 0, a "__proto__" key an own property).
        const expected = JSON.parse(JSON.stringify(r)) as WireResult;
        assert.deepEqual(decodeWireResult(value), expected);
      }),
      runs(0x4144_0004),
    );
  });

  it('results: any text gives a result or the decoder\'s Error', () => {
    const json = fc.jsonValue({ maxDepth: 1 });
    const shaped = fc.tuple(fc.record({ id, node: units(5), ok: fc.boolean(), result: fc.dictionary(units(5), json) }), fc.constantFrom('id', 'node', 'ok', 'result'), json, fc.boolean()).map(([r, k, v, change]) => JSON.stringify(change ? { ...r, [k]: v } : r));
    const text = fc.oneof(fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), shaped, units(30));
    fc.assert(
      fc.property(text, (t) => {
        const r = decodeOrRefuse(() => decodeWireResult(t));
        if (r) assert.ok(typeof r.id === 'string' && typeof r.node === 'string' && typeof r.ok === 'boolean' && typeof r.result === 'object');
      }),
      runs(0x4144_0005, 1000),
    );
  });
});

/** What a terminal or viewer would act on (escape.ts's list), for checking the output holds none raw. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The inverse of escapeText, written from its documented escapes: \\ \n \r \t \xHH \uHHHH. */
function unescapeText(s: string): string {
  return s.replace(/\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4})/g, (_m, e: string) => {
    if (e === '\\') return '\\';
    if (e === 'n') return '\n';
    if (e === 'r') return '\r';
    if (e === 't') return '\t';
    return String.fromCharCode(parseInt(e.slice(1), 16));
  });
}

describe('properties: witnessctl escapes', () => {
  const text = fc.oneof(units(40), fc.array(fc.constantFrom('\\', '\n', '\u001b', '\u0085', '\u202e', '\ud800', '\udc00', 'é', 'a', 'x', '5'), { maxLength: 20 }).map((cs) => cs.join('')));

  it('escapeText: no character a terminal acts on is left raw, and the escapes read back to the exact value', () => {
    fc.assert(
      fc.property(text, (s) => {
        const e = escapeText(s);
        assert.doesNotMatch(e, UNSAFE);
        assert.equal(unescapeText(e), s);
      }),
      runs(0x4553_0001, 1000),
    );
  });

  it('safeJson: still JSON for the same value, with nothing unsafe left raw', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), text, (v, s) => {
        for (const value of [v, s, { name: s, v }]) {
          const j = safeJson(value);
          assert.doesNotMatch(j, UNSAFE);
          assert.deepEqual(JSON.parse(j), JSON.parse(JSON.stringify(value)));
        }
      }),
      runs(0x4553_0002, 500),
    );
  });
});
