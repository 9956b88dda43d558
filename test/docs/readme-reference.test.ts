// Every error code and metric tokenproxy has is documented in the README with its status or type.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { ERROR_CODES } from '../../src/errors.js'
import { createMetrics } from '../../src/observability/metrics.js'

const readme = readFileSync('README.md', 'utf8')

t.test('error codes: each in the README errors table with its HTTP status', async (t) => {
  for (const [code, { status }] of Object.entries(ERROR_CODES)) {
    t.match(readme, new RegExp(`^\\| \`${code}\` \\| ${status}\\b`, 'm'), `${code} (${status}) documented`)
  }
})

t.test('metrics: each tokenproxy_ metric in the README metrics table with its type', async (t) => {
  const { registry } = createMetrics()
  const ours = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('tokenproxy_'))
  t.same(ours.map((m) => m.name).sort(), [
    'tokenproxy_config_reloads_total', 'tokenproxy_request_duration_seconds', 'tokenproxy_requests_total',
    'tokenproxy_token_expiry_timestamp_seconds', 'tokenproxy_token_request_duration_seconds', 'tokenproxy_token_requests_total',
    'tokenproxy_upstream_auth_retries_total',
  ], 'the SPEC metrics')
  for (const m of ours) t.match(readme, new RegExp(`^\\| \`${m.name}\` \\| ${m.type} \\|`, 'm'), `${m.name} (${m.type}) documented`)
})

t.test('metrics with cache.redis: the cache operations counter too, documented', async (t) => {
  const without = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name)
  const ours = (await createMetrics({ cache: true }).registry.getMetricsAsJSON())
    .filter((m) => m.name.startsWith('tokenproxy_') && !without.includes(m.name))
  t.same(ours.map((m) => m.name), ['tokenproxy_cache_operations_total'])
  t.match(readme,
    /^\| `tokenproxy_cache_operations_total` \| counter \| operation = get, set, lock, delete; outcome = hit, miss, ok, error \|/m)
})
