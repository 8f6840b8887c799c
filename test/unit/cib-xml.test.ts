// agent/cib/xml.ts, the agent's one XML reader: the decoder every path uses, well-formedness as the
// strict reader checks it, and every way the agent reads CIB XML agreeing on a value — the
// configuration (parseCib's tree), the status section (readStatus, lenient), the planner's
// configuration read and crm_simulate's output. The CIB built by Pacemaker's own tools is
// test/fixtures/cib/08-odd-values.xml (make-fixtures.sh); the references Pacemaker 2.1.5 does not
// write itself (&#10;, &#x41;, a literal newline) are added by hand to inline derivatives.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fc from 'fast-check';
import { CibParseError } from '../../agent/cib/errors.ts';
import { parseCib } from '../../agent/cib/parse.ts';
import { scanStatus } from '../../agent/cib/status-scan.ts';
import { decodeAttributeValue, readXml, XmlScanner } from '../../agent/cib/xml.ts';
import { parseSimulation, readPlanInputs } from '../../agent/planned.ts';

const fixture = (name: string): string => fs.readFileSync(new URL(`../fixtures/cib/${name}.xml`, import.meta.url), 'utf8');

/** Escapes a value as libxml2 does in an attribute. */
const escape = (v: string): string => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');

/** A CIB whose resource parameter, node attribute, transient attribute and operation carry `raw` (as written between quotes). */
function cibWith(raw: string): string {
  return `<cib epoch="3" num_updates="1" admin_epoch="0"><configuration><crm_config/>
  <nodes><node id="1" uname="n1"><instance_attributes id="n1-ia"><nvpair id="n1-note" name="note" value="${raw}"/></instance_attributes></node></nodes>
  <resources><primitive id="r" class="ocf" provider="heartbeat" type="Dummy"><instance_attributes id="r-ia"><nvpair id="r-note" name="note" value="${raw}"/></instance_attributes></primitive></resources>
  <constraints/></configuration><status>
  <node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"><transient_attributes id="1"><instance_attributes id="status-1"><nvpair id="status-1-note" name="note" value="${raw}"/></instance_attributes></transient_attributes>
  <lrm id="1"><lrm_resources><lrm_resource id="r" class="ocf" provider="heartbeat" type="Dummy"><lrm_rsc_op id="r_last_0" operation_key="r_start_0" operation="${raw}" call-id="2" rc-code="0" op-status="0" interval="0"/></lrm_resource></lrm_resources></lrm></node_state></status></cib>`;
}

/** The value as read by each path. */
function readEachWay(xml: string): Record<string, string | undefined> {
  const cib = parseCib(xml);
  const n1 = cib.status.find((s) => s.uname === 'n1');
  const prim = cib.resources.find((r) => r.id === 'r');
  const tree = readXml(xml, { what: 'CIB' });
  const nodeNvpair = tree.children.find((c) => c.name === 'configuration')?.children.find((c) => c.name === 'nodes')?.children[0]?.children[0]?.children[0];
  return {
    configuration: prim?.kind === 'primitive' ? prim.params['note'] : undefined,
    nodeAttribute: cib.nodes[0]?.attributes['note'],
    readXml: nodeNvpair?.attrs['value'],
    transient: n1?.attributes['note'],
    operation: n1?.resources[0]?.ops[0]?.operation,
    scanStatus: scanStatus(xml, null)[0]?.attributes['note'],
  };
}

describe('the one decoder', () => {
  it('the predefined entities, decimal and hexadecimal character references', () => {
    assert.equal(decodeAttributeValue('&amp; &lt; &gt; &quot; &apos; &#10; &#x41; &#65; &#x1F600;'), '& < > " \' \n A A \u{1F600}');
    assert.equal(decodeAttributeValue('&amp;amp;'), '&amp;');
    assert.equal(decodeAttributeValue('plain'), 'plain');
  });
  it('normalises literal white space in a value to spaces, as XML says (a reference keeps it)', () => {
    assert.equal(decodeAttributeValue('a\nb\tc\r\nd\re'), 'a b c d e');
    assert.equal(decodeAttributeValue('a&#10;b&#9;c&#13;d'), 'a\nb\tc\rd');
  });
  it('leaves what is not a known reference as written (strict reading refuses it first)', () => {
    assert.equal(decodeAttributeValue('&foo; &#0; &#xD800; &#99999999; & &amp'), '&foo; &#0; &#xD800; &#99999999; & &amp');
  });
});

describe('every reader agrees on a value', () => {
  it('a CIB made by crm_resource and crm_attribute: the escaped characters read the same in the configuration and the status', () => {
    const cib = parseCib(fixture('08-odd-values'));
    const prim = cib.resources.find((r) => r.id === 'odd-text');
    const want = 'a&b<c>"d\'\\ne    f'; // Pacemaker 2.1.5 wrote the newline as "\n" and the tab as four spaces
    assert.equal(prim?.kind === 'primitive' ? prim.params['note'] : undefined, want);
    assert.equal(cib.status.find((s) => s.uname === 'n1')?.attributes['note'], want);
  });
  it('&amp; &lt; &gt; &quot; &apos; &#10; &#x41; and a literal newline, through each path', () => {
    const raw = 'x&amp;y &lt;&gt; &quot;q&quot; &apos;a&apos; line1&#10;line2 &#x41;&#66; lit\nnl';
    const want = 'x&y <> "q" \'a\' line1\nline2 AB lit nl';
    const got = readEachWay(cibWith(raw));
    assert.deepEqual(got, { configuration: want, nodeAttribute: want, readXml: want, transient: want, operation: want, scanStatus: want });
  });
  it('any value, escaped as libxml2 escapes it or with every character as a reference, reads back the same everywhere', () => {
    const value = fc.string({ unit: fc.oneof(fc.constantFrom('&', '<', '>', '"', "'", '\n', '\t', ';', '#', 'x', ' '), fc.string({ unit: 'grapheme', maxLength: 1 })), maxLength: 30 });
    fc.assert(fc.property(value, fc.boolean(), (v, allRefs) => {
      // Each code point as one character reference.
      const raw = allRefs ? Array.from(v, (ch) => `&#x${(ch.codePointAt(0) ?? 0).toString(16)};`).join('') : escape(v);
      const got = readEachWay(cibWith(raw));
      for (const [path, s] of Object.entries(got)) assert.equal(s, v, `${path} read ${JSON.stringify(raw)}`);
    }), { numRuns: 300, seed: 10 });
  });
  it('the planner and crm_simulate output read references the same way', () => {
    const cib = cibWith('x').replace('<constraints/>', '<constraints><rsc_location id="cli-prefer-r" rsc="r" node="n&#49;" score="INFINITY"/></constraints>')
      .replace('name="note" value="x"/></instance_attributes></node>', 'name="note" value="x"/><nvpair id="n1-sb" name="standby" value="&#111;n"/></instance_attributes></node>');
    const plan = readPlanInputs(cib);
    assert.deepEqual([...plan.prefer], [['r', 'n1']]);
    assert.deepEqual([...plan.marks], ['standby n1']);
    assert.deepEqual(parseSimulation('<pacemaker-result><actions><rsc_action action="move" resource="vip&amp;1" source="n1" dest="n&#x33;"/></actions></pacemaker-result>'), [{ resource: 'vip&1', from: 'n1', to: 'n3' }]);
  });
});

describe('well-formedness (strict reading)', () => {
  const refuses = (xml: string, message: RegExp): void => {
    assert.throws(() => readXml(xml, { what: 'CIB' }), (e: unknown) => e instanceof CibParseError && message.test(e.message), `${xml} should be refused with ${String(message)}`);
  };
  it('refuses each kind of malformed document with a line and column', () => {
    refuses('<cib epoch="1"><configuration></cib>', /^CIB is not well-formed XML: <\/cib> closes <configuration> \(line 1, column 31\)$/);
    refuses('<cib>\n  <a x="1" x="2"/></cib>', /attribute x is given twice \(line 2, column 12\)/);
    refuses('<cib><a x=1/></cib>', /the value of x is not quoted/);
    refuses('<cib><a x="1"y="2"/></cib>', /must be separated by white space/);
    refuses('<cib><a x="a<b"/></cib>', /'<' in the value of x/);
    refuses('<cib><a x="&foo;"/></cib>', /"&foo;" is not a reference this reader knows/);
    refuses('<cib><a x="a & b"/></cib>', /"&" is not a reference/);
    refuses('<cib><a x="&#0;"/></cib>', /"&#0;" is not a reference/);
    refuses('<cib><a x="&#99999999;"/></cib>', /is not a reference/);
    refuses('<cib>a &c</cib>', /"&" is not a reference/);
    refuses('text<cib/>', /text outside the root element/);
    refuses('<cib/>text', /text outside the root element/);
    refuses('<cib/><cib/>', /a second root element <cib>/);
    refuses('<cib><a>', /<a> is never closed/);
    refuses('<cib><a x="1', /the value of x is never closed/);
    refuses('<cib><!-- never closed', /a comment is never closed/);
    refuses('<cib><1a/></cib>', /<1a> is not a valid element name/);
    refuses('', /no root element/);
    refuses('<cib></a></cib>', /<\/a> closes <cib>/);
  });
  it('accepts comments, CDATA, processing instructions, a DOCTYPE, single quotes, spaces around =, and a raw > in a value', () => {
    const tree = readXml('<?xml version="1.0"?>\n<!DOCTYPE cib [ <!ENTITY x "y"> ]>\n<!-- c <b> -->\n<cib a = \'1\' b="x>y"><![CDATA[ <not a="tag"/> ]]><c/><!-- <d/> --></cib>\n', { what: 'CIB' });
    assert.deepEqual(tree, { name: 'cib', attrs: { a: '1', b: 'x>y' }, children: [{ name: 'c', attrs: {}, children: [] }] });
  });
  it('parseCib keeps its own messages', () => {
    assert.throws(() => parseCib('<html><body/></html>'), new CibParseError('not a CIB: the root element is <html>, expected <cib>'));
    assert.throws(() => parseCib('<cib epoch="1"><status><node_state id="1" uname="n1"><lrm/>'), new CibParseError('CIB status is truncated: <node_state id="1"> is never closed'));
    assert.throws(() => parseCib('<cib epoch="1"><status><node_state id="1"><lrm><lrm_resources><lrm_resource id="x"><lrm_rsc_op id="a"/>'), /CIB status is truncated/);
    assert.throws(() => parseCib('<cib epoch="1"><status></status></cib><extra/>'), /a second root element <extra>/);
    assert.equal(parseCib('<cib epoch="1"><status/></cib>').status.length, 0);
  });
});

describe('the scanner', () => {
  it('the status section written unusually (single quotes, new lines, spaces around =) reads as written usually', () => {
    const usual = cibWith('v&amp;1');
    const unusual = usual
      .replace('<node_state id="1" uname="n1" in_ccm="true"', "<node_state\n\tid='1' uname = 'n1'\n in_ccm=\"true\"")
      .replace('<nvpair id="status-1-note" name="note" value="v&amp;1"/>', "<nvpair id='status-1-note'\nname='note'\tvalue='v&amp;1' />")
      .replace('<lrm_rsc_op id="r_last_0" operation_key="r_start_0" operation="v&amp;1" call-id="2"', '<lrm_rsc_op id="r_last_0"\noperation_key="r_start_0" operation = "v&amp;1" call-id=\'2\'');
    assert.notEqual(unusual, usual);
    assert.deepEqual(parseCib(unusual), parseCib(usual));
    assert.deepEqual(readEachWay(unusual), readEachWay(usual));
  });

  it('reads the same tags strictly and leniently, and skips a block unread', () => {
    const xml = '<a><!-- x --><b id="1" v="p&amp;q"/><c id="2"><d id="3"/></c><e id="4"/></a>';
    for (const strict of [true, false]) {
      const sc = new XmlScanner(xml, { strict, what: 'test' });
      const seen: string[] = [];
      while (sc.next()) {
        seen.push(`${sc.closing ? '/' : ''}${sc.name}${sc.empty ? '/' : ''}${sc.attr('v') !== undefined ? `:${sc.attr('v') ?? ''}` : ''}`);
        if (!sc.closing && sc.name === 'c') assert.equal(sc.skipPast('c'), true);
      }
      assert.deepEqual(seen, ['a', 'b/:p&q', 'c', 'e/', '/a'], strict ? 'strict' : 'lenient');
    }
  });
});
