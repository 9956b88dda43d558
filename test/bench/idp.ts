// Bench identity provider, run as its own process: the demo's dev Keycloak (from dist/) with 300 s tokens, counting token requests.
import { subscribe } from 'node:diagnostics_channel'
import type { IncomingMessage } from 'node:http'
import { isMain } from './scenarios.js'

export interface IdpInfo { root: string, realm: string, clientId: string, clientSecret: string, tokenUrl: string }

interface DevIdpModule {
  startDevIdp (opts: { lifetime?: number }): Promise<{ root: string, realm: string, clientId: string, clientSecret: string }>
}

if (isMain(import.meta.url) && process.send !== undefined) {
  let tokenRequests = 0
  // Every HTTP request this process serves starts here: the dev IdP's own server needs no change to be counted.
  subscribe('http.server.request.start', (message) => {
    const { request } = message as { request: IncomingMessage }
    if (request.method === 'POST' && (request.url ?? '').endsWith('/protocol/openid-connect/token')) tokenRequests += 1
  })
  const { startDevIdp } = await import(new URL('../../dist/demo/dev-idp.js', import.meta.url).href) as DevIdpModule
  const idp = await startDevIdp({ lifetime: 300 })
  const tokenUrl = `${idp.root}/realms/${idp.realm}/protocol/openid-connect/token`
  process.on('message', (question) => {
    if (question === 'token-requests') process.send!({ tokenRequests })
  })
  process.on('disconnect', () => process.exit(0))
  const info: IdpInfo = { root: idp.root, realm: idp.realm, clientId: idp.clientId, clientSecret: idp.clientSecret, tokenUrl }
  process.send(info)
}
