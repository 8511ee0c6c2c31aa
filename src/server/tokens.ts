/**
 * Tokens the host application issues (JWT, verified with jose): HS256 with a shared secret, or
 * RS256 / ES256 with a public key (PEM) or a JWKS file. Claims:
 *
 *   sub       the user name others see (required)
 *   projects  "*" or the project ids it may open (required)
 *   write     true, false, or the project ids it may change (default true: all it may open)
 *   exp       expiry (required unless `tokens.requireExpiry` is false)
 *   iss, aud  checked when `tokens.issuer` / `tokens.audience` are set
 */
import { readFile } from 'node:fs/promises';
import { createSecretKey } from 'node:crypto';
import { createLocalJWKSet, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { ProjectIdSchema, type ProjectId } from '../protocol/schemas.js';
import type { TokensConfig } from '../config/schema.js';

export type { TokensConfig } from '../config/schema.js';

const ProjectListSchema = z.union([z.literal('*'), z.array(ProjectIdSchema).max(10_000)]);
const ClaimsSchema = z.object({
  sub: z.string().min(1).max(200),
  projects: ProjectListSchema,
  write: z.union([z.boolean(), z.array(ProjectIdSchema).max(10_000)]).default(true),
  exp: z.number().optional(),
});

/** What a verified token grants. */
export interface TokenGrant {
  user: string;
  projects: '*' | ProjectId[];
  write: boolean | ProjectId[];
  /** Epoch ms the token expires at; null for none. */
  expiresAt: number | null;
}

export class TokenError extends Error {}

export function grantAllows(grant: TokenGrant, project: ProjectId): boolean {
  return grant.projects === '*' || grant.projects.includes(project);
}

export function grantWrites(grant: TokenGrant, project: ProjectId): boolean {
  if (!grantAllows(grant, project)) return false;
  return typeof grant.write === 'boolean' ? grant.write : grant.write.includes(project);
}

/** Tokens look like three base64url parts joined by dots. */
export function looksLikeToken(text: unknown): text is string {
  return typeof text === 'string' && text.length < 16_384 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(text);
}

export class TokenVerifier {
  private constructor(
    private readonly key: JWTVerifyGetKey,
    private readonly algorithms: string[],
    private readonly config: TokensConfig,
  ) {}

  /** Null when no key is configured: tokens are then not accepted at all. */
  static async fromConfig(config: TokensConfig | undefined, resolvePath: (p: string) => string = (p) => p): Promise<TokenVerifier | null> {
    if (!config) return null;
    const set = [config.secret, config.publicKeyFile, config.jwksFile].filter((v) => v !== undefined).length;
    if (set === 0) return null;
    if (set > 1) throw new TokenError('tokens: give one of secret, publicKeyFile, jwksFile');
    if (config.secret) {
      const key = createSecretKey(Buffer.from(config.secret, 'utf8'));
      return new TokenVerifier(async () => key, ['HS256'], config);
    }
    if (config.publicKeyFile) {
      const pem = await readFile(resolvePath(config.publicKeyFile), 'utf8');
      const alg = pem.includes('BEGIN PUBLIC KEY') && /MFkwEwYHKoZIzj0CAQYI/.test(pem) ? 'ES256' : 'RS256';
      const key = await importSPKI(pem, alg);
      return new TokenVerifier(async () => key, [alg], config);
    }
    const jwks = JSON.parse(await readFile(resolvePath(config.jwksFile!), 'utf8'));
    return new TokenVerifier(createLocalJWKSet(jwks), ['RS256', 'ES256'], config);
  }

  async verify(token: string): Promise<TokenGrant> {
    let payload: JWTPayload;
    try {
      const options = { algorithms: this.algorithms, issuer: this.config.issuer, audience: this.config.audience, requiredClaims: this.config.requireExpiry ? ['exp'] : [] };
      ({ payload } = await jwtVerify(token, this.key, options));
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new TokenError(code === 'ERR_JWT_EXPIRED' ? 'token expired' : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? `token not for this server: ${(e as Error).message}` : 'invalid token');
    }
    const claims = ClaimsSchema.safeParse(payload);
    if (!claims.success) throw new TokenError(`token claims: ${claims.error.issues[0]?.path.join('.')} ${claims.error.issues[0]?.message}`);
    const { sub, projects, write, exp } = claims.data;
    return { user: sub, projects, write, expiresAt: exp === undefined ? null : exp * 1000 };
  }
}
