// What to check when a token request fails: the README's Troubleshooting table, matched to the answer.
import { serviceFor, SERVICES, type CredentialConfig } from '../credentials/registry.js'
import type { Hint } from '../credentials/service.js'
import type { TokenErrorInfo } from '../credentials/token-error.js'

/** The rows about any identity service, after the service's own. */
const GENERIC: readonly Hint[] = [
  { match: (i) => /CERT|UNABLE_TO_VERIFY/.test(i.error ?? ''), fix: '`ca: { file: /path/ca.pem }` on that credential or upstream' },
  {
    match: (i) => i.error === 'timeout',
    fix: 'check the `url` and what is in between (an HTTP proxy, a firewall that drops); ' +
      'raise the credential\'s `timeout` for a slow server',
  },
  {
    match: (i) => i.status === undefined && i.error !== undefined &&
      /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|network)$/.test(i.error),
    fix: 'check the `url`: scheme, host and port',
  },
]

/** Every row of the table: each service's, then the generic ones. */
export const HINTS: readonly Hint[] = [...SERVICES.flatMap((s) => s.hints), ...GENERIC]

/** The README's advice for this failure, or undefined when no row fits; first match wins. */
export function hintFor (cfg: CredentialConfig, info: TokenErrorInfo): string | undefined {
  return [...serviceFor(cfg).hints, ...GENERIC].find((h) => h.match(info))?.fix
}
