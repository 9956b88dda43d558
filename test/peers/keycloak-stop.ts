// tap's `after` hook: stops the run's shared Keycloak (started by keycloak-server.ts as the `before` hook).
import { stopShared } from './keycloak-server.js'

await stopShared()
