// Timeouts on timers we hold: AbortSignal.timeout inside AbortSignal.any loses its timer when collected (nodejs/node#57736).

interface Deadline {
  readonly signal: AbortSignal
  /** Stops the timer and forgets the parent signal; call it when the work is done. */
  clear (): void
}

/** A signal that aborts with a TimeoutError after `ms`, or with `parent`'s reason when that aborts first. */
function deadline (ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort(new DOMException(`timed out after ${ms / 1000}s`, 'TimeoutError')) }, ms)
  const onParent = (): void => { controller.abort(parent!.reason) }
  if (parent?.aborted === true) onParent()
  else parent?.addEventListener('abort', onParent, { once: true })
  return {
    signal: controller.signal,
    clear () {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onParent)
    },
  }
}

/** Runs `work` under a deadline of `ms`, clearing the timer however it ends. */
export async function withDeadline<T> (ms: number, work: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T> {
  const d = deadline(ms, parent)
  try {
    return await work(d.signal)
  } finally {
    d.clear()
  }
}

/**
 * Settles with `work`, or rejects with the signal's reason as soon as it aborts, even when `work`
 * cannot notice (undici only acts on an abort once a queued request has a connection).
 */
export function untilAborted<T> (work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined)
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
