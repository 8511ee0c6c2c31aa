/**
 * Who may log in and which projects they may open (PROTOCOL.md §2.5). Reserved accounts need their
 * password; any other name logs in anonymously when anonymous logins are on. Project access is
 * checked with strict equality, so "1" is not project 1.
 */
import { verifyPassword } from './passwords.js';
import { TokenError, grantAllows, grantWrites, looksLikeToken, type TokenGrant, type TokenVerifier } from './tokens.js';
import type { Config } from '../config/schema.js';
import type { ProjectId } from '../protocol/schemas.js';
import type { ProjectList } from '../projects/catalog.js';
import { grantOf, type AuthRequest, type WeftHooks } from './hooks.js';

export const WRONG_CREDENTIALS = 'Wrong username/password';

export interface User {
  name: string;
  /** null for anonymous users and users logged in with a token. */
  group: string | null;
  /** What the token the user logged in with grants (its projects, writes, expiry). */
  grant?: TokenGrant;
}

export class AccessPolicy {
  private readonly accounts: Map<string, { password: string; group: string }>;
  private readonly groups: Map<string, ProjectId[]>;

  constructor(
    private readonly config: Pick<Config, 'users' | 'groups' | 'anonymous' | 'readOnlyGroups' | 'onDemandProjects'>,
    private readonly tokens: TokenVerifier | null,
    private readonly projects: ProjectList,
    /** The host application's own authentication, asked first (src/server/hooks.ts). */
    private readonly hook: WeftHooks['authenticate'] = undefined,
    private readonly hookFailed: (error: Error) => void = () => {},
  ) {
    this.accounts = new Map(Object.entries(config.users));
    this.groups = new Map(Object.entries(config.groups));
  }

  authenticate(login: string, password: string | null | undefined): User | null {
    const account = this.accounts.get(login);
    if (account) return typeof password === 'string' && verifyPassword(password, account.password) ? { name: login, group: account.group } : null;
    return this.config.anonymous.enabled ? { name: login, group: null } : null;
  }

  /**
   * A login with a password or an app-issued token: `token`, or a `password` that looks like one
   * for a name that is not a configured account. The user, or why not.
   */
  async logIn(login: string, password: string | null | undefined, token?: unknown, from: Pick<AuthRequest, 'address' | 'via'> = { address: '', via: 'bryntum' }): Promise<User | { refused: string }> {
    if (this.hook) {
      const request: AuthRequest = { login, password: typeof password === 'string' ? password : null, token: typeof token === 'string' ? token : null, ...from };
      try {
        const answer = await this.hook(request);
        if (answer === null) return { refused: WRONG_CREDENTIALS };
        if (answer !== undefined) {
          const grant = grantOf(answer);
          return { name: grant.user, group: null, grant };
        }
      } catch (e) {
        this.hookFailed(e as Error);
        return { refused: 'Authentication failed' };
      }
    }
    const candidate = typeof token === 'string' ? token : !this.accounts.has(login) && looksLikeToken(password) ? password : null;
    if (candidate === null || !this.tokens) {
      if (typeof token === 'string') return { refused: 'Tokens are not accepted by this server' };
      return this.authenticate(login, password) ?? { refused: WRONG_CREDENTIALS };
    }
    try {
      const grant = await this.tokens.verify(candidate);
      if (login !== '' && login !== grant.user) return { refused: 'Token is for another user' };
      return { name: grant.user, group: null, grant };
    } catch (e) {
      if (e instanceof TokenError) return { refused: `Invalid token: ${e.message}` };
      throw e;
    }
  }

  /** Does logging in as `login` need a password (so that failing it may be a guess)? */
  checksPassword(login: string): boolean {
    return this.accounts.has(login) || !this.config.anonymous.enabled;
  }

  private allowed(user: User): ProjectId[] {
    return user.group === null ? this.config.anonymous.projects : (this.groups.get(user.group) ?? []);
  }

  /** May the user change `project` (one it can see)? */
  canWrite(user: User, project: ProjectId): boolean {
    if (user.grant) return grantWrites(user.grant, project);
    return user.group === null ? !this.config.anonymous.readOnly : !this.config.readOnlyGroups.includes(user.group);
  }

  /** `"*"` in a group's list (or a token's) stands for every project. */
  canAccess(user: User, project: ProjectId): boolean {
    if (user.grant) return grantAllows(user.grant, project);
    return this.allowed(user).some((p) => p === project || p === '*');
  }

  /**
   * May opening `project`, which does not exist, create it empty? Only with `onDemandProjects` on,
   * for a token that names it (not one for `"*"`: a typo must not make a project).
   */
  mayCreate(user: User, project: ProjectId): boolean {
    return this.config.onDemandProjects && Array.isArray(user.grant?.projects) && user.grant.projects.includes(project);
  }

  /** Projects the user may open, in the order they were created. */
  projectsFor(user: User): { id: ProjectId; name: string }[] {
    return this.projects.list().filter((p) => this.canAccess(user, p.id)).map((p) => ({ id: p.id, name: p.name }));
  }
}
