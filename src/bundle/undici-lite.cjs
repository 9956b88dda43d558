'use strict'
// What tokenproxy and @fastify/reply-from take from undici, for the bundled CLI (build.mjs resolves
// 'undici' to this file). undici's index also loads fetch, WebSocket, EventSource, caches and
// mocks, a megabyte the proxy never runs; leaving them out makes the cold start about 20% shorter.
// test/deploy/bundle.test.ts checks that every name used is here and is undici's own export.
const Dispatcher = require('undici/lib/dispatcher/dispatcher')
const api = require('undici/lib/api')
const { getGlobalDispatcher, setGlobalDispatcher } = require('undici/lib/global')

// As undici's index does: request/stream/pipeline/connect/upgrade on every dispatcher.
Object.assign(Dispatcher.prototype, api)

module.exports = {
  Dispatcher,
  Client: require('undici/lib/dispatcher/client'),
  Pool: require('undici/lib/dispatcher/pool'),
  BalancedPool: require('undici/lib/dispatcher/balanced-pool'),
  Agent: require('undici/lib/dispatcher/agent'),
  ProxyAgent: require('undici/lib/dispatcher/proxy-agent'),
  errors: require('undici/lib/core/errors'),
  getGlobalDispatcher,
  setGlobalDispatcher,
}
