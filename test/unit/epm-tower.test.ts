import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { buildTcpTower, NDR_SYNTAX, parseFloors, parseMapTower, TowerError } from '../../service/epm/tower.ts';
import { uuidFromWire, uuidToWire } from '../../service/rpc/uuid.ts';

const hexFile = (f: string): Buffer => Buffer.from(fs.readFileSync(new URL(`../fixtures/epm/${f}`, import.meta.url), 'utf8').trim(), 'hex');
// The 75-byte tower inside Samba's ept_map response (00-test-ifl frame 10): witness v1.1, NDR, TCP 49155, 198.18.0.1.
const response = hexFile('ept-map-response.hex');
const towerStart = response.indexOf(Buffer.from('4b0000004b000000', 'hex')) + 8;
const samba = response.subarray(towerStart, towerStart + 75);
const WITNESS = { uuid: 'ccd8c074-d0e5-4a40-92b4-d074faa6ba28', version: 1, minor: 1 };

describe('protocol towers', () => {
  it('UUIDs use the mixed-endian GUID wire order', () => {
    assert.equal(uuidToWire(WITNESS.uuid).toString('hex'), '74c0d8cce5d0404a92b4d074faa6ba28');
    assert.equal(uuidFromWire(Buffer.from('045d888aeb1cc9119fe808002b104860', 'hex')), NDR_SYNTAX.uuid);
  });
  it('generates exactly the tower Samba sends', () => {
    const t = buildTcpTower({ iface: WITNESS, transfer: { ...NDR_SYNTAX, minor: 0 }, port: 49155, address: '198.18.0.1' });
    assert.deepEqual(t, samba);
  });
  it('parses the map request tower', () => {
    const req = hexFile('ept-map-request.hex');
    const start = req.indexOf(Buffer.from('4b0000004b000000', 'hex')) + 8;
    const parsed = parseMapTower(req.subarray(start, start + 75));
    assert.deepEqual(parsed, { iface: WITNESS, transfer: { ...NDR_SYNTAX, minor: 0 }, protocol: 0x0b });
  });
  it('rejects truncated towers and too many floors at every cut', () => {
    for (let cut = 0; cut < samba.length; cut++) {
      assert.throws(() => parseMapTower(samba.subarray(0, cut)), TowerError, `cut at ${cut}`);
    }
    const seven = Buffer.from(samba);
    seven.writeUInt16LE(7, 0);
    assert.throws(() => parseFloors(seven), new TowerError('tower: 7 floors, at most 6 accepted'));
  });
});
