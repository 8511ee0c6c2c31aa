/**
 * Who may log in and which projects they may open (PROTOCOL.md §2.5). Reserved accounts need their
 * password; any other name logs in anonymously when anonymous logins are on. Project access is
 * checked with strict equality, so "1" is not project 1.
 */
import { verifyPassword } from './passwords.js';
import type { Config } from '../config/schema.js';
import type { ProjectId } from '../protocol/schemas.js';

export interface User {
  name: string;
  /** null for anonymous users. */
  group: string | null;
}

export class AccessPolicy {
  private readonly accounts: Map<string, { password: string; group: string }>;
  private readonly groups: Map<string, ProjectId[]>;

  constructor(private readonly config: Pick<Config, 'users' | 'groups' | 'anonymous' | 'projects' | 'readOnlyGroups'>) {
    this.accounts = new Map(Object.entries(config.users));
    this.groups = new Map(Object.entries(config.groups));
  }

  authenticate(login: string, password: string | null | undefined): User | null {
    const account = this.accounts.get(login);
    if (account) return typeof password === 'string' && verifyPassword(password, account.password) ? { name: login, group: account.group } : null;
    return this.config.anonymous.enabled ? { name: login, group: null } : null;
  }

  /** Does logging in as `login` need a password (so that failing it may be a guess)? */
  checksPassword(login: string): boolean {
    return this.accounts.has(login) || !this.config.anonymous.enabled;
  }

  private allowed(user: User): ProjectId[] {
    return user.group === null ? this.config.anonymous.projects : (this.groups.get(user.group) ?? []);
  }

  /** May the user change the projects it can see? */
  canWrite(user: User): boolean {
    return user.group === null ? !this.config.anonymous.readOnly : !this.config.readOnlyGroups.includes(user.group);
  }

  canAccess(user: User, project: ProjectId): boolean {
    return this.allowed(user).some((p) => p === project);
  }

  /** Projects the user may open, in configuration order. */
  projectsFor(user: User): { id: ProjectId; name: string }[] {
    return this.config.projects.filter((p) => this.canAccess(user, p.id)).map((p) => ({ id: p.id, name: p.name }));
  }
}
