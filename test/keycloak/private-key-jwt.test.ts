// private_key_jwt against a real Keycloak ("Signed JWT" clients): RS256, PS256 and ES256 keys registered as a JWKS.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { decodeJwt, exportJWK, exportPKCS8, generateKeyPair } from 'jose'
import { request } from 'undici'
import { bearerSeen, confidentialClient, realKeycloak, realmName } from '../peers/keycloak-server.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

const ALGS = ['RS256', 'PS256', 'ES256'] as const

const kc = await realKeycloak(t)
if (kc) {
  t.test('Keycloak accepts the signed assertion for each algorithm, and refuses a key it does not know', async (t) => {
    const dir = t.testdir({})
    const keys = await Promise.all(ALGS.map(async (alg) => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
      const file = join(dir, `${alg}.pem`)
      writeFileSync(file, `${await exportPKCS8(privateKey)}\n`)
      return { alg, file, jwk: { ...(await exportJWK(publicKey)), kid: `k-${alg}`, alg, use: 'sig' } }
    }))
    const signed = (clientId: string, alg: string, jwks: unknown): Record<string, unknown> => confidentialClient(clientId, '', {
      clientAuthenticatorType: 'client-jwt',
      attributes: { 'use.jwks.string': 'true', 'jwks.string': JSON.stringify(jwks), 'token.endpoint.auth.signing.alg': alg },
    })
    // The ES256 client knows only the RS256 key: an assertion with its own key must be refused.
    const realm = await kc.admin.createRealm(t, {
      realm: realmName('pkjwt'),
      clients: [...keys.map((k) => signed(`signed-${k.alg}`, k.alg, { keys: [k.jwk] })),
        signed('signed-unknown', 'ES256', { keys: [keys[0]!.jwk] })],
    })
    const up = await startUpstream()
    t.teardown(() => up.close())
    const cred = (clientId: string, k: typeof keys[number]): Record<string, unknown> =>
      ({
        type: 'keycloak',
        url: kc.root,
        realm,
        clientId,
        clientAuth: 'private_key_jwt',
        privateKey: { file: k.file },
        keyId: k.jwk.kid,
        alg: k.alg,
      })
    const { url, admin } = await startSidecar(t, {
      credentials: {
        ...Object.fromEntries(keys.map((k) => [k.alg, cred(`signed-${k.alg}`, k)])),
        'wrong-key': cred('signed-unknown', keys[2]!),
      },
      upstreams: Object.fromEntries(keys.map((k) => [k.alg, { target: up.url, credential: k.alg, prefix: `/${k.alg}` }])),
    })
    await until(async () => (await request(`${admin}/readyz`)).statusCode === 200, 20_000, 'every signed client to hold a token')
    for (const { alg } of keys) {
      const res = await request(`${url}/${alg}/x`)
      t.equal(res.statusCode, 200, `${alg}: proxied`)
      await res.body.dump()
      t.equal(decodeJwt(bearerSeen(up.requests.at(-1)!.headers.authorization)).azp, `signed-${alg}`,
        `${alg}: the token is the signed client's`)
    }
    const readyz = await (await request(`${admin}/readyz`)).body.json() as {
      credentials: Record<string, { lastError: Record<string, unknown> | null }>
    }
    t.match(readyz.credentials['wrong-key']!.lastError, { outcome: 'rejected', status: 400, error: 'invalid_client' },
      'an assertion signed with another key is rejected')
    t.comment(`Keycloak on a wrong key: ${String(readyz.credentials['wrong-key']!.lastError?.message)}`)
  })
}
