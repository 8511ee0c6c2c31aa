import { ENV_VARS } from '../config/load.js';

/** Two-column list, names padded to a common width. */
export function columns(rows: ReadonlyArray<readonly [string, string]>, indent = 2): string {
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, text]) => `${' '.repeat(indent)}${name.padEnd(width)}  ${text}`).join('\n');
}

export function envVarsHelp(): string {
  return `Environment (flags override these; these override the config file):\n${columns(ENV_VARS.map((v) => [v.name, v.description] as const))}`;
}
