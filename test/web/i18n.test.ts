/**
 * Interface text: both languages carry the same keys, and every key a page or controller names
 * literally (t('…')) exists, so no screen ever shows a raw key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOGUES } from '@fund/app/dist/i18n';

const APP = path.resolve(__dirname, '..', '..', 'app', 'src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'i18n' ? [] : sources(full);
    return /\.(pug|ts)$/.test(e.name) ? [full] : [];
  });
}

test('zh-CN and English carry the same keys', () => {
  const zh = Object.keys(CATALOGUES['zh-CN']).sort();
  const en = Object.keys(CATALOGUES.en).sort();
  assert.deepEqual(zh.filter((k) => !en.includes(k)), [], 'keys missing in English');
  assert.deepEqual(en.filter((k) => !zh.includes(k)), [], 'keys missing in Chinese');
});

test('every literal key used by a page or controller exists', () => {
  const missing = new Set<string>();
  for (const file of sources(APP)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bt\(\s*'([a-zA-Z][\w.]*)'/g)) {
      // t('status.' + s) names a family of keys, checked by the label test below.
      if (!m[1].endsWith('.') && !(m[1] in CATALOGUES['zh-CN'])) missing.add(`${m[1]} (${path.relative(APP, file)})`);
    }
  }
  assert.deepEqual([...missing], []);
});

test('every role, project status, draft status and event type has a label', () => {
  const zh = CATALOGUES['zh-CN'];
  const chaincode = fs.readFileSync(require.resolve('@fund/chaincode/dist/access/roles.js'), 'utf8');
  const roles = [...chaincode.matchAll(/'([a-zA-Z]+)', \/\/ /g)].map((m) => m[1]);
  assert.ok(roles.length >= 10);
  for (const r of roles) assert.ok(`role.${r}` in zh, `role.${r}`);
  for (const s of ['SUBMITTED', 'REJECTED', 'APPROVED', 'FUNDED', 'COMPLETED']) assert.ok(`status.${s}` in zh, `status.${s}`);
  const events = new Set<string>();
  const root = path.resolve(__dirname, '..', '..', 'chaincode', 'src');
  for (const file of sources(root)) for (const m of fs.readFileSync(file, 'utf8').matchAll(/emit\(\s*(?:[^']*\?\s*)?'(\w+)'(?:\s*:\s*'(\w+)')?/g)) [m[1], m[2]].filter(Boolean).forEach((e) => events.add(e));
  assert.ok(events.size >= 15, `found ${events.size} event types`);
  for (const e of events) assert.ok(`event.${e}` in zh, `event.${e}`);
});
