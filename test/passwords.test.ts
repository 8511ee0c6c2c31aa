import { describe, expect, it } from 'vitest';
import { hashPassword, isHashed, verifyPassword } from '../src/server/passwords.js';
import { TestClient } from './support/client.js';
import { startServer } from './support/server.js';

describe('configured passwords', () => {
  it('are checked against a scrypt hash, which never holds the password itself', () => {
    const hash = hashPassword('correct horse');
    expect(isHashed(hash)).toBe(true);
    expect(hash).not.toContain('correct');
    expect(verifyPassword('correct horse', hash)).toBe(true);
    expect(verifyPassword('correct horsf', hash)).toBe(false);
    expect(verifyPassword('', hash)).toBe(false);
    // Salted: the same password hashes differently each time.
    expect(hashPassword('correct horse')).not.toBe(hash);
  });

  it('may still be plain text, compared whole', () => {
    expect(verifyPassword('admin', 'admin')).toBe(true);
    expect(verifyPassword('admi', 'admin')).toBe(false);
    expect(verifyPassword('admin ', 'admin')).toBe(false);
  });

  it('refuse a malformed hash or one with absurd costs instead of working on it', () => {
    const [, , r, p, salt, key] = hashPassword('x').split('$');
    expect(verifyPassword('x', `scrypt$${1 << 30}$${r}$${p}$${salt}$${key}`)).toBe(false);
    expect(verifyPassword('x', `scrypt$1000$${r}$${p}$${salt}$${key}`)).toBe(false);
    expect(verifyPassword('x', 'scrypt$16384$8$1$short')).toBe(false);
  });
});

describe('a server whose config holds a hashed password', () => {
  it('logs that user in with the password, over WebSocket and the admin API, and not with the hash', async () => {
    const hash = hashPassword('pa55word');
    const s = await startServer({ users: { admin: { password: hash, group: 'admin' } } });
    try {
      const tryLogin = async (password: string) => {
        const c = await TestClient.connect(s.port);
        c.send({ command: 'login', login: 'admin', password });
        const reply = await c.next();
        await c.close();
        return reply;
      };
      expect((await tryLogin('pa55word')).error).toBeUndefined();
      expect((await tryLogin(hash)).error).toBeDefined();
      const basic = (p: string) => fetch(`http://127.0.0.1:${s.port}/api/projects/1/versions`, { headers: { authorization: `Basic ${Buffer.from(`admin:${p}`).toString('base64')}` } });
      expect((await basic('pa55word')).status).toBe(200);
      expect((await basic('nope')).status).toBe(401);
    } finally {
      await s.dispose();
    }
  });
});
