// `tokenproxy demo`: dev identity provider + echo upstream + sidecar in one process, with curl lines.
import { parseConfig, type Config } from '../configuration.js'
import type { Sidecar } from '../server.js'
import { startDevIdp } from './dev-idp.js'
import { startEchoUpstream } from './echo-upstream.js'

interface DemoOptions {
  port?: string
  adminPort?: string
  out: (s: string) => void
  run: (config: Config, onStarted?: (s: Sidecar) => void, moves?: Record<string, string>) => Promise<number>
}

export async function runDemo (opts: DemoOptions): Promise<number> {
  const idp = await startDevIdp()
  const echo = await startEchoUpstream()
  try {
    const config = parseConfig(JSON.stringify({
      listen: { host: '127.0.0.1', port: opts.port ?? 8080 },
      admin: { host: '127.0.0.1', port: opts.adminPort ?? 9901 },
      log: { requests: true },
      refresh: { minValidity: 5 },
      credentials: { demo: { type: 'keycloak', url: idp.root, realm: idp.realm, clientId: idp.clientId, clientSecret: idp.clientSecret } },
      upstreams: { echo: { target: echo.url, credential: 'demo', prefix: '/echo' } },
    }), {})
    return await opts.run(config, (sidecar) => {
      const proxy = sidecar.addresses.listen!
      const admin = sidecar.addresses.admin!
      opts.out([
        '',
        `tokenproxy demo: dev Keycloak at ${idp.root}/realms/${idp.realm} ` +
          `(client ${idp.clientId}, ${idp.lifetime}s tokens, refreshed ahead),`,
        `echo upstream at ${echo.url}, proxied under ${proxy}/echo. Try:`,
        '',
        `  curl -s ${proxy}/echo/start-bp                                  ` +
          '# upstream sees "authorization": Bearer <JWT from the dev Keycloak>',
        `  curl -s -H 'Authorization: Basic Zm9vOmJhcg==' ${proxy}/echo/x   # the client's own header is replaced`,
        `  curl -s ${admin}/readyz                                         # credential state and expiry`,
        `  curl -s ${admin}/metrics | grep '^tokenproxy_'                  # token and request metrics`,
        `  curl -s ${proxy}/nowhere                                        # 404 NO_ROUTE as application/problem+json`,
        '',
        'Ctrl-C stops it.',
        '',
      ].join('\n'))
    }, { 'listen.port': '--port', 'admin.port': '--admin-port' })
  } finally {
    await Promise.all([idp.close(), echo.close()])
  }
}
