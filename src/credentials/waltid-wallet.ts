// walt.id wallet-api: Keycloak login (password, or another credential's token) -> wallet session JWT.
import type { Checker } from '../config/checker.js'
import { readTimeout, type Raw } from '../config/credential-schema.js'
import type { Secret } from '../config/secrets.js'
import type { CredentialBase } from '../config/types.js'
import type { Credential, CredentialDeps, IssuedToken } from './credential.js'
import { AttemptWindow, type WindowLimit } from './attempt-window.js'
import { withDeadline } from './deadline.js'
import { idpDispatcher, postToIdp, type IdpAnswer } from './idp-http.js'
import type { IdentityService } from './service.js'
import { TokenRequestError } from './token-error.js'
import { checkToken, clean, describeBody, errorBody, parseJson } from './token-response.js'

interface WaltidWalletCredential extends CredentialBase {
  type: 'waltid-wallet'
  /** The wallet-api root; routes live under {url}/wallet-api. */
  url: string
  username?: string
  password?: Secret
  /** Log in with this keycloak credential's access token instead of a password. */
  keycloak?: string
}

function read (c: Checker, obj: Raw, path: string, name: string): WaltidWalletCredential | undefined {
  const insecureHttp = c.bool(obj, 'insecureHttp', path, false)
  const url = c.url(c.string(obj, 'url', path, { required: true }), `${path}.url`, insecureHttp)
  const keycloak = c.string(obj, 'keycloak', path)
  const username = c.string(obj, 'username', path, { required: keycloak === undefined })
  const password = c.secret(obj, 'password', path, keycloak === undefined)
  if (keycloak !== undefined && obj.password !== undefined) {
    c.add(path, 'give either password or keycloak (a credential whose token logs in), not both')
  }
  const timeout = readTimeout(c, obj, path)
  if (url === undefined || timeout === undefined || (keycloak === undefined && (username === undefined || password === undefined))) {
    return undefined
  }
  return {
    type: 'waltid-wallet',
    name,
    tokenUrl: `${url}/wallet-api/auth/keycloak/login`,
    timeout,
    insecureHttp,
    url,
    username,
    ...(keycloak === undefined ? { password } : { keycloak }),
  }
}

/** `keycloak` must name a keycloak credential. */
function checkLinks (c: Checker, cred: WaltidWalletCredential, all: Readonly<Record<string, CredentialBase>>,
  names: readonly string[]): void {
  if (cred.keycloak === undefined) return
  const target = all[cred.keycloak]
  const path = `credentials.${cred.name}.keycloak`
  if (!names.includes(cred.keycloak)) {
    c.add(path,
    `${JSON.stringify(cred.keycloak)} is not a defined credential (defined: ${names.join(', ')})`)
  } else if (target !== undefined && target.type !== 'keycloak') {
    c.add(path,
    `${JSON.stringify(cred.keycloak)} is a ${target.type} credential; the wallet logs in with a keycloak one`)
  }
}

/** The wallet allows 30 logins per 60 s per user (429 past that); we stay well under it. */
const LOGIN_LIMIT: WindowLimit = { max: 20, windowMs: 60_000 }

/** Failed logins: 500 with Keycloak's 401 in `message` today, 400 before late 2024; 429 rate limited. */
function walletError (answer: IdpAnswer): TokenRequestError {
  const body = errorBody(answer)
  const message = clean(body?.message)
  const what = message ?? describeBody(answer)
  const failed = `wallet login answered ${answer.status}: ${what}`
  if (answer.status === 429) {
    return new TokenRequestError('RATE_LIMITED', failed, { status: 429, error: 'rate_limited', description: message })
  }
  const refused = (answer.status >= 400 && answer.status < 500) || /\b401\b|unauthorized|invalid (user )?credentials/i.test(message ?? '')
  return new TokenRequestError(refused ? 'REJECTED' : 'SERVICE_ERROR', failed, {
    status: answer.status, error: refused ? 'login_failed' : clean(body?.id, 80) ?? 'login_error', description: message,
  })
}

export function waltidWalletCredential (cfg: WaltidWalletCredential, deps: CredentialDeps, limit = LOGIN_LIMIT): Credential {
  const loginUrl = `${cfg.url}/wallet-api/auth/keycloak/login`
  const logins = new AttemptWindow(limit)
  let session: { token: string, keycloakUserId: unknown } | undefined
  const http = idpDispatcher(cfg.ca, cfg.timeout)

  async function keycloakToken (name: string): Promise<string> {
    try {
      return await deps.tokenFor(name)
    } catch (err) {
      throw new TokenRequestError('DEPENDENCY_UNAVAILABLE',
        `cannot log in to the wallet: keycloak credential "${name}" has no token (${(err as Error).message})`,
        { error: 'keycloak_token_unavailable' }, { cause: err })
    }
  }

  return {
    name: cfg.name,
    tokenUrl: loginUrl,
    async fetchToken (signal: AbortSignal): Promise<IssuedToken> {
      if (logins.count() >= limit.max) {
        throw new TokenRequestError('LOGIN_RATE_LIMITED',
          `not logging in: ${logins.count()} wallet logins in the last ${limit.windowMs / 1000}s already ` +
            '(the wallet allows 30 per minute per user)',
          { error: 'login_rate_limited' })
      }
      const body: Record<string, string> = { type: 'keycloak' }
      if (cfg.username !== undefined) body.username = cfg.username
      if (cfg.keycloak !== undefined) body.token = await keycloakToken(cfg.keycloak)
      else body.password = cfg.password!.reveal()
      logins.take()
      const answer = await postToIdp(loginUrl, { 'content-type': 'application/json', accept: 'application/json' }, JSON.stringify(body),
        signal, http.dispatcher, [body.password, body.token])
      if (answer.status < 200 || answer.status >= 300) throw walletError(answer)
      const json = parseJson(answer)
      if (json === undefined) {
        throw new TokenRequestError('BAD_RESPONSE', `wallet login answered ${answer.status} with ${describeBody(answer)}`,
          { status: answer.status, error: 'bad_response' })
      }
      const token = checkToken(json.token, 'the wallet login', 'a token', answer.status)
      session = { token, keycloakUserId: json.keycloakUserId }
      // No expires_in: the session JWT's exp rules (30 days in the shipped wallet config).
      return { accessToken: token }
    },
    async close (): Promise<void> {
      if (session !== undefined) {
        const { token, keycloakUserId } = session
        session = undefined
        // Logout answers 200 always and does not revoke the session token; best effort, short.
        await withDeadline(2000,
          async (signal) => await postToIdp(`${cfg.url}/wallet-api/auth/keycloak/logout`, { 'content-type': 'application/json' },
            JSON.stringify({ keycloakUserId, token }), signal, http.dispatcher, [token]))
          .catch(() => undefined)
      }
      await http.close()
    },
  }
}

export const waltidWalletService: IdentityService<WaltidWalletCredential> = {
  type: 'waltid-wallet',
  keys: ['url', 'username', 'password', 'keycloak'],
  read,
  checkLinks,
  describe: (c) => c.keycloak === undefined
    ? `${c.type} keycloak login, user ${c.username} (password ${c.password?.describe()})`
    : `${c.type} keycloak login, with the token of credential ${c.keycloak}`,
  // A wallet that logs in with a keycloak credential's token is that credential's user.
  identity: (c, identityOf) => ({ username: c.username, via: c.keycloak === undefined ? undefined : identityOf(c.keycloak) }),
  hints: [
    {
      match: (i) => i.status === 429,
      fix: 'another process logs in as the same user, or a restart loop; tokenproxy itself logs in once per session and once per 401 burst',
    },
    {
      match: (i) => i.status !== undefined && i.status >= 400,
      fix: 'the wallet user\'s Keycloak credentials; ' +
        'with `keycloak: NAME`, that credential\'s token must be a user token of the wallet\'s realm',
    },
  ],
  create: (cfg, deps) => waltidWalletCredential(cfg, deps),
}
