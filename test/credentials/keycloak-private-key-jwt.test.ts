// private_key_jwt (RFC 7523): a client assertion signed with jose is accepted by oidc-provider for RS256, PS256, ES256.
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair } from 'jose'
import { request } from 'undici'
import { parseConfig } from '../../src/configuration.js'
import { configProblems } from '../helpers/config-problems.js'
import { clientAssertion } from '../../src/credentials/client-auth.js'
import type { KeycloakCredential } from '../../src/credentials/keycloak.js'
import { startOidcKeycloak } from '../peers/oidc-keycloak.js'
import { startUpstream } from '../peers/upstream.js'
import { startSidecar, until } from '../helpers/sidecar.js'

async function keyPair (alg: string, kid: string): Promise<{ pem: string, jwk: Record<string, unknown> }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { pem: await exportPKCS8(privateKey), jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } }
}

for (const alg of ['RS256', 'PS256', 'ES256']) {
  t.test(`${alg}: oidc-provider accepts the assertion and the token is injected`, async (t) => {
    const { pem, jwk } = await keyPair(alg, `k-${alg}`)
    const keyFile = join(tmpdir(), `tokenproxy-${process.pid}-${alg}.pem`)
    writeFileSync(keyFile, `${pem}\n`)
    const idp = await startOidcKeycloak({
      clients: [{
        client_id: 'signed-client',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [jwk as never] },
      }]
    })
    t.teardown(() => idp.close())
    const up = await startUpstream()
    t.teardown(() => up.close())
    const { url } = await startSidecar(t, {
      credentials: {
        signed: {
          type: 'keycloak',
          url: idp.root,
          realm: idp.realm,
          clientId: 'signed-client',
          clientAuth: 'private_key_jwt',
          privateKey: { file: keyFile },
          keyId: `k-${alg}`,
          alg,
          scope: 'api:read',
        }
      },
      upstreams: { api: { target: up.url, credential: 'signed', prefix: '/api' } },
    })
    const res = await request(`${url}/api/start-bp`)
    t.equal(res.statusCode, 200)
    await res.body.text()
    const token = up.requests[0]!.headers.authorization!.slice('Bearer '.length)
    const claims = await idp.verifyAccessToken(token)
    t.equal(claims.client_id ?? claims.azp, 'signed-client', 'token issued to the signed client')
    t.equal(idp.failures, 0)
  })
}

t.test('the assertion: iss = sub = client id, aud = token endpoint, fresh jti, short exp, kid', async (t) => {
  const { pem } = await keyPair('ES256', 'k1')
  const cfg = {
    clientId: 'c1',
    tokenUrl: 'https://kc.example/realms/r/protocol/openid-connect/token',
    privateKey: { reveal: () => pem },
    keyId: 'k1',
    alg: 'ES256',
  } as unknown as KeycloakCredential
  const a = await clientAssertion(cfg, 1_800_000_000)
  const b = await clientAssertion(cfg, 1_800_000_000)
  const claims = decodeJwt(a)
  t.same(decodeProtectedHeader(a), { alg: 'ES256', typ: 'JWT', kid: 'k1' })
  t.equal(claims.iss, 'c1')
  t.equal(claims.sub, 'c1')
  t.equal(claims.aud, cfg.tokenUrl)
  t.equal(claims.iat, 1_800_000_000)
  t.equal(claims.exp, 1_800_000_060)
  t.not(claims.jti, decodeJwt(b).jti, 'a new jti every time')
})

t.test('a key the client did not register is rejected (invalid_client)', async (t) => {
  const registered = await keyPair('RS256', 'good')
  const other = await keyPair('RS256', 'good')
  const idp = await startOidcKeycloak({
    clients: [{
      client_id: 'signed-client',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [registered.jwk as never] },
    }]
  })
  t.teardown(() => idp.close())
  const { admin } = await startSidecar(t, {
    credentials: {
      signed: {
        type: 'keycloak',
        url: idp.root,
        realm: idp.realm,
        clientId: 'signed-client',
        clientAuth: 'private_key_jwt',
        privateKey: other.pem,
        keyId: 'good',
      }
    },
    upstreams: { api: { target: 'http://127.0.0.1:9', credential: 'signed', prefix: '/api' } },
  })
  let lastError: Record<string, unknown> | null = null
  await until(async () => {
    const body = await (await request(`${admin}/readyz`)).body.json() as {
      credentials: { signed: { lastError: Record<string, unknown> | null } }
    }
    lastError = body.credentials.signed.lastError
    return lastError !== null
  }, 3000, 'the failure')
  t.equal(lastError!.error, 'invalid_client')
  t.equal(lastError!.outcome, 'rejected')
})

t.test('config: the key must be a PEM private key that fits alg', async (t) => {
  const ec = await keyPair('ES256', 'k')
  const doc = (key: string, alg: string): string => JSON.stringify({
    credentials: {
      s: {
        type: 'keycloak',
        tokenUrl: 'https://kc.example/token',
        clientId: 'c',
        clientAuth: 'private_key_jwt',
        privateKey: key,
        alg,
      }
    },
    upstreams: { u: { target: 'https://up.example', credential: 's', prefix: '/u' } },
  })
  const problems = (text: string): string[] => configProblems(text)
  t.match(problems(doc(ec.pem, 'RS256')), [/credentials\.s\.privateKey: is a ec key, but alg RS256 needs an RSA key/])
  t.match(problems(doc('not a key', 'ES256')), [/credentials\.s\.privateKey: is not a PEM private key/])
  t.match(problems(doc(ec.pem, 'HS256')), [/credentials\.s\.alg: "HS256" is not one of RS256/])
  t.doesNotThrow(() => parseConfig(doc(ec.pem, 'ES256')))
})
