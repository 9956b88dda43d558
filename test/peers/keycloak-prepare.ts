// Installs the real Keycloak once, before a run: downloads the distribution (cached), then starts and
// stops each copy the suite uses, so that its one-time Quarkus build is done and kept in .cache/keycloak.
// .ci/run calls it as an install step; `npm test` does the same on its own when it was not run.
import { findJava, KeycloakProcess, missingRequirement } from './keycloak-server.js'

const java = findJava()
const missing = missingRequirement(java)
if (missing !== null) {
  console.log(`# real Keycloak not prepared: ${missing}`)
} else {
  for (const relativePath of ['', '/auth'] as const) {
    const started = Date.now()
    const kc = await KeycloakProcess.create(java!, { relativePath })
    kc.start()
    await kc.ready()
    await kc.dispose()
    console.log(`# real Keycloak${relativePath ? ` (${relativePath})` : ''} prepared in ${Math.round((Date.now() - started) / 1000)} s`)
  }
}
