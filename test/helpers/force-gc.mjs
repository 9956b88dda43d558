// Preloaded (--import) into a sidecar started with --expose-gc: a full collection every 20 ms, so that
// whatever only a collectable object keeps alive (a timer inside AbortSignal.any, nodejs/node#57736) is lost.
if (typeof globalThis.gc !== 'function') throw new Error('force-gc.mjs needs node --expose-gc')
setInterval(() => { globalThis.gc() }, 20).unref()
