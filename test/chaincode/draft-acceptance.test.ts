/** Acceptance (承兑) vouches for the draft as its issuer signed it: altered stored content is refused. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChaincodeHarness } from './support/harness';
import { actor, approvedProject, payAllHops, setUpProvince } from './support/fixture';

describe('Draft:accept checks the issuer signature', () => {
  let h: ChaincodeHarness;
  before(async () => {
    h = await ChaincodeHarness.start();
    await setUpProvince(h);
  });
  after(() => h.close());

  it('refuses a draft whose stored amount no longer matches what the issuer signed, and accepts an intact one', async () => {
    const { projectId } = await approvedProject(h);
    const [tampered, intact] = await payAllHops(h, projectId);
    const key = [...(await h.snapshot()).keys()].find((k) => k.startsWith('\u0000Draft\u0000') && k.includes(tampered.draftId))!;
    assert.ok(key, 'the draft is stored under its composite key');
    const stored = (await h.query<Record<string, unknown>>(await actor(h, 'leadingGroup'), 'Draft:get', tampered.draftId));
    h.tamper(key, Buffer.from(JSON.stringify({ ...stored, amount: String(BigInt(tampered.amount) + 100n) }), 'utf8'));

    const unit = await actor(h, 'unit');
    const before = await h.snapshot();
    const refused = await h.submit(unit, 'Draft:accept', tampered.draftId);
    assert.equal(refused.ok, false);
    assert.match(refused.message, /^VALIDATION: draft .* does not match its issuer's signature/);
    assert.deepEqual(await h.snapshot(), before, 'a refused acceptance writes nothing');

    const accepted = await h.submit<{ status: string }>(unit, 'Draft:accept', intact.draftId);
    assert.equal(accepted.ok, true, accepted.message);
  });
});
