import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier, grantAllows, grantWrites, looksLikeToken } from '../src/server/tokens.js';
import { atTime } from '../src/server/expiry.js';
import { TokensConfigSchema } from '../src/config/schema.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const now = () => Math.floor(Date.now() / 1000);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weft-tokens-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const hs = (claims: Record<string, unknown>, key = SECRET) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(key));
const verifier = async (config: Record<string, unknown>) => (await TokenVerifier.fromConfig(TokensConfigSchema.parse(config)))!;

describe('tokens issued by the host application', () => {
  it('grant the projects and writes their claims name, to the user in sub (HS256)', async () => {
    const v = await verifier({ secret: SECRET });
    const grant = await v.verify(await hs({ sub: 'ann', projects: [1, 'p2'], write: [1], exp: now() + 60 }));
    expect(grant.user).toBe('ann');
    expect(grantAllows(grant, 1) && grantAllows(grant, 'p2')).toBe(true);
    expect(grantAllows(grant, 2)).toBe(false);
    expect(grantWrites(grant, 1)).toBe(true);
    expect(grantWrites(grant, 'p2')).toBe(false);
    expect(grant.expiresAt).toBeGreaterThan(Date.now());
    const all = await v.verify(await hs({ sub: 'root', projects: '*', exp: now() + 60 }));
    expect(grantWrites(all, 'anything')).toBe(true);
  });

  it('grant no writes to a project they do not grant, whatever write says', async () => {
    const v = await verifier({ secret: SECRET });
    const writesAll = await v.verify(await hs({ sub: 'ann', projects: [1], write: true, exp: now() + 60 }));
    expect(grantWrites(writesAll, 1)).toBe(true);
    expect(grantWrites(writesAll, 2)).toBe(false);
    const writesOther = await v.verify(await hs({ sub: 'ann', projects: [1], write: [1, 2], exp: now() + 60 }));
    expect(grantWrites(writesOther, 2)).toBe(false);
  });

  it('are refused when expired, signed with another key, missing exp or claims, or for another audience', async () => {
    const v = await verifier({ secret: SECRET, audience: 'weft' });
    await expect(v.verify(await hs({ sub: 'ann', projects: '*', aud: 'weft', exp: now() - 10 }))).rejects.toThrow('token expired');
    await expect(v.verify(await hs({ sub: 'ann', projects: '*', aud: 'weft', exp: now() + 60 }, 'another-secret-of-at-least-32-characters'))).rejects.toThrow('invalid token');
    await expect(v.verify(await hs({ sub: 'ann', projects: '*', aud: 'weft' }))).rejects.toThrow();
    await expect(v.verify(await hs({ sub: 'ann', projects: '*', aud: 'other', exp: now() + 60 }))).rejects.toThrow('not for this server');
    await expect(v.verify(await hs({ projects: '*', aud: 'weft', exp: now() + 60 }))).rejects.toThrow('token claims: sub');
    await expect(v.verify('not.a.token')).rejects.toThrow('invalid token');
    // "none" is never an algorithm a verifier accepts.
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', projects: '*', aud: 'weft', exp: now() + 60 })).toString('base64url')}.`;
    await expect(v.verify(unsigned)).rejects.toThrow('invalid token');
  });

  it('are verified with an RS256 public key file or an ES256 JWKS file', async () => {
    const rsa = await generateKeyPair('RS256');
    await writeFile(join(dir, 'rsa.pem'), await exportSPKI(rsa.publicKey));
    const rs = await verifier({ publicKeyFile: join(dir, 'rsa.pem') });
    const signedRs = await new SignJWT({ sub: 'ben', projects: [3], exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);
    expect((await rs.verify(signedRs)).user).toBe('ben');

    const ec = await generateKeyPair('ES256');
    await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const es = await verifier({ jwksFile: join(dir, 'jwks.json') });
    const signedEs = await new SignJWT({ sub: 'cid', projects: '*', write: false, exp: now() + 60 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(ec.privateKey);
    const grant = await es.verify(signedEs);
    expect(grant.user).toBe('cid');
    expect(grantWrites(grant, 1)).toBe(false);
    await expect(es.verify(signedRs)).rejects.toThrow('invalid token');
  });

  it('need a key of one kind and a long enough secret', async () => {
    expect(await TokenVerifier.fromConfig(undefined)).toBeNull();
    expect(() => TokensConfigSchema.parse({ secret: 'short' })).toThrow(/32 characters/);
    await expect(TokenVerifier.fromConfig(TokensConfigSchema.parse({ secret: SECRET, jwksFile: 'x' }))).rejects.toThrow('one of');
    expect(looksLikeToken(await hs({ sub: 'a', projects: '*' }))).toBe(true);
    expect(looksLikeToken('admin')).toBe(false);
  });
});

describe('the expiry timer', () => {
  it('runs at once for a time past, later for one to come, and never once cancelled', async () => {
    const fired: string[] = [];
    atTime(Date.now() - 1000, () => fired.push('past'));
    expect(fired).toEqual(['past']);
    atTime(Date.now() + 30, () => fired.push('soon'));
    const cancel = atTime(Date.now() + 30, () => fired.push('cancelled'));
    cancel();
    await new Promise((r) => setTimeout(r, 80));
    expect(fired).toEqual(['past', 'soon']);
  });

  it('waits for an expiry further than a Node timer can in steps, with no timer overflow', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(w.name);
    process.on('warning', onWarning);
    let fired = false;
    const cancel = atTime(Date.now() + 30 * 24 * 3600 * 1000, () => (fired = true));
    try {
      await new Promise((r) => setTimeout(r, 60));
    } finally {
      cancel();
      process.off('warning', onWarning);
    }
    expect(fired).toBe(false);
    expect(warnings).not.toContain('TimeoutOverflowWarning');
  });
});
