// Planned moves: crm_simulate's answer parsed (a real capture from the 3-node lab cluster), and the
// planner asking once per configuration change and recording each planned IP move once.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { openStore } from '../../store/index.ts';
import { MovePlanner, parseSimulation, readPlanInputs, type PlannedMove } from '../../agent/planned.ts';
import { ip, view } from '../helpers/views.ts';
import { lastEvents } from '../../store/events.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-planned-'));
after(() => { fs.rmSync(tmp, { recursive: true, force: true }); });

describe('planned moves', () => {
  it('reads the moves in crm_simulate -S --output-as=xml', () => {
    const xml = fs.readFileSync(new URL('../fixtures/cib/crm-simulate-move.xml', import.meta.url), 'utf8');
    assert.deepEqual(parseSimulation(xml), [{ resource: 'vip', from: 'n1', to: 'n3' }]);
    assert.deepEqual(parseSimulation('<pacemaker-result><actions/></pacemaker-result>'), []);
    assert.deepEqual(parseSimulation(''), []);
  });

  it('notices bans and standby nodes, not other constraints or attributes', () => {
    const xml = '<cib><configuration><nodes><node id="1" uname="n1"/><node id="2" uname="n2"><instance_attributes id="a"><nvpair id="x" name="standby" value="on"/></instance_attributes></node>' +
      '<node id="3" uname="n3"><instance_attributes id="b"><nvpair id="y" name="standby" value="off"/></instance_attributes></node></nodes><constraints>' +
      '<rsc_location id="cli-ban-vip-on-n1" rsc="vip" node="n1" score="-INFINITY"/><rsc_location id="cli-prefer-g1" rsc="g1" node="n3" score="INFINITY"/><rsc_location id="loc" rsc="vip" node="n2" score="10"/>' +
      '</constraints></configuration><status><node_state uname="n1"><transient_attributes><instance_attributes><nvpair name="standby" value="on"/></instance_attributes></transient_attributes></node_state></status></cib>';
    assert.deepEqual([...readPlanInputs(xml).marks].sort(), ['ban cli-ban-vip-on-n1', 'standby n2']);
  });

  it('asks the scheduler on configuration changes only, and records each planned IP move once', async () => {
    const store = openStore(path.join(tmp, 'p.db'));
    const asked: string[] = [];
    let answer: PlannedMove[] = [];
    const planner = new MovePlanner({ store, logger: pino({ level: 'silent' }), simulate: (xml) => { asked.push(xml); return Promise.resolve(answer); } });
    const at = (epoch: number, updates: number) => {
      const v = view(epoch, { ips: [ip('198.18.0.100', 'n1', 'vip'), ip('198.18.0.101', 'n3', 'vip2')] });
      return { ...v, cib: { ...v.cib, numUpdates: updates } };
    };
    const cib = (constraints: string, nodes = '') => `<cib><configuration><nodes>${nodes}</nodes><constraints>${constraints}</constraints></configuration><status/></cib>`;
    const ban = '<rsc_location id="cli-ban-vip-on-n1" rsc="vip" role="Started" node="n1" score="-INFINITY"/>';
    const standby = '<node id="2" uname="n2"><instance_attributes id="nodes-2"><nvpair id="nodes-2-standby" name="standby" value="on"/></instance_attributes></node>';
    planner.onCib(cib(''), at(5, 1)); // baseline
    planner.onCib(cib(''), at(5, 2)); // status only
    planner.onCib(cib('<rsc_location id="loc1" rsc="vip" node="n2" score="50"/>'), at(6, 0)); // a configuration change that evacuates nothing
    await planner.settle();
    assert.deepEqual(asked, []);
    answer = [{ resource: 'vip', from: 'n1', to: 'n3' }, { resource: 'not-an-ip', from: 'n1', to: 'n3' }];
    planner.onCib(cib(ban), at(7, 0)); // crm_resource --ban: no destination named
    await planner.settle();
    planner.onCib(cib(ban), at(8, 0)); // another change, nothing new evacuating: not asked
    planner.onCib(cib(ban, standby), at(9, 0)); // n2 in standby: asked; the vip move is still planned
    await planner.settle();
    assert.deepEqual(asked, [cib(ban), cib(ban, standby)]);
    const events = lastEvents(store, 10).filter((e) => e.kind === 'ip_move_planned');
    assert.deepEqual(events.map((e) => [e.subject, e.from, e.to, e.payload['resource']]), [['198.18.0.100', 'n1', 'n3', 'vip']]);
    store.close();
  });

  it('a new cli-prefer constraint (pcs resource move R N) is recorded in the same sync, without waiting for the scheduler', async () => {
    const store = openStore(path.join(tmp, 'q.db'));
    let asked = 0;
    const planner = new MovePlanner({ store, logger: pino({ level: 'silent' }), simulate: () => { asked++; return Promise.resolve([]); } });
    const v = (epoch: number) => view(epoch, { ips: [{ ...ip('198.18.0.100', 'n1', 'vip'), group: 'g1' }] });
    const prefer = (rsc: string, node: string) => `<cib><configuration><constraints><rsc_location id="cli-prefer-${rsc}" rsc="${rsc}" role="Started" node="${node}" score="INFINITY"/></constraints></configuration></cib>`;
    planner.onCib('<cib><configuration><constraints/></configuration></cib>', v(1));
    planner.onCib(prefer('g1', 'n3'), v(2)); // the group is moved
    const now = lastEvents(store, 10).filter((e) => e.kind === 'ip_move_planned');
    assert.deepEqual(now.map((e) => [e.subject, e.from, e.to, e.payload['via']]), [['198.18.0.100', 'n1', 'n3', 'cli-prefer']], 'recorded synchronously');
    await planner.settle();
    planner.onCib(prefer('g1', 'n3'), v(3)); // another change while the constraint stands; the scheduler still says nothing
    await planner.settle();
    assert.equal(asked, 0, 'no scheduler run for a move that names its destination');
    assert.equal(lastEvents(store, 10).filter((e) => e.kind === 'ip_move_planned').length, 1, 'not again');
    store.close();
  });
});
