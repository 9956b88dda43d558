// What to check when a token request fails: the README's Troubleshooting table, matched to the answer.
import type { TokenErrorInfo } from '../credentials/token-error.js'

interface Hint {
  /** Credential type the row is about (undefined: any). */
  type?: string
  match: (info: TokenErrorInfo) => boolean
  /** The fix, word for word as in the README's table. */
  fix: string
}

const said = (info: TokenErrorInfo, text: string): boolean => (info.description ?? '').toLowerCase().includes(text)

/** First match wins: the more specific rows come first. */
export const HINTS: readonly Hint[] = [
  { type: 'keycloak', match: (i) => i.error === 'unauthorized_client' && said(i, 'service account'), fix: 'client settings: Client authentication on, Service account roles on' },
  { type: 'keycloak', match: (i) => i.error === 'unauthorized_client' && said(i, 'direct access grants'), fix: 'client settings: Direct access grants on' },
  { type: 'keycloak', match: (i) => i.error === 'unauthorized_client' && i.status === 401, fix: 'copy the secret from the client\'s Credentials tab; in a `{ file }`, only one trailing newline is trimmed' },
  { type: 'keycloak', match: (i) => i.error === 'invalid_client' || i.error === 'unauthorized_client', fix: 'check the client id and that the client is enabled' },
  { type: 'keycloak', match: (i) => i.status === 404 && i.error === 'Realm does not exist', fix: 'the realm name as in the admin console\'s realm list' },
  { type: 'keycloak', match: (i) => i.status === 404, fix: 'compare with the `iss` of a token Keycloak issued' },
  { type: 'keycloak', match: (i) => i.error === 'invalid_grant', fix: 'log in once as the user, or clear the required actions' },
  { type: 'regards', match: (i) => i.status === 401, fix: '`client` is REGARDS\' OAuth client (default `client`/`secret`); `tenant` is the project name, sent as `scope`' },
  { type: 'regards', match: (i) => i.status === 400, fix: 'check the user\'s access to that project; a V1 server (before 2024) also needs `format: form`' },
  { type: 'waltid-wallet', match: (i) => i.status === 429, fix: 'another process logs in as the same user, or a restart loop; tokenproxy itself logs in once per session and once per 401 burst' },
  { type: 'waltid-wallet', match: (i) => i.status !== undefined && i.status >= 400, fix: 'the wallet user\'s Keycloak credentials; with `keycloak: NAME`, that credential\'s token must be a user token of the wallet\'s realm' },
  { match: (i) => /CERT|UNABLE_TO_VERIFY/.test(i.error ?? ''), fix: '`ca: { file: /path/ca.pem }` on that credential or upstream' },
  { match: (i) => i.error === 'timeout', fix: 'check the `url` and what is in between (an HTTP proxy, a firewall that drops); raise the credential\'s `timeout` for a slow server' },
  { match: (i) => i.status === undefined && i.error !== undefined && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|network)$/.test(i.error), fix: 'check the `url`: scheme, host and port' },
]

/** The README's advice for this failure, or undefined when no row fits. */
export function hintFor (type: string, info: TokenErrorInfo): string | undefined {
  return HINTS.find((h) => (h.type === undefined || h.type === type) && h.match(info))?.fix
}
