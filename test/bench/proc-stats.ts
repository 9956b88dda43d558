// Linux /proc accounting for the bench: CPU seconds and resident memory of a process and its descendants.
import { readFileSync, readdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

function read (path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined // the process exited between listing and reading
  }
}

/** Fields of /proc/PID/stat after the `(comm)` field, which may itself contain spaces and parentheses. */
function statFields (pid: number): string[] | undefined {
  const stat = read(`/proc/${pid}/stat`)
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** `pid` and every process below it (nginx: master and worker). */
export function processTree (pid: number): number[] {
  const parents = new Map<number, number[]>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const ppid = Number(statFields(Number(name))?.[1])
    if (!Number.isInteger(ppid)) continue
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)])
  }
  const out: number[] = []
  const walk = (p: number): void => { out.push(p); for (const c of parents.get(p) ?? []) walk(c) }
  walk(pid)
  return out
}

/** User + system CPU seconds consumed so far by `pids` (fields utime, stime: 14 and 15 of stat). */
export function cpuSeconds (pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const f = statFields(pid)
    if (f !== undefined) ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / CLK_TCK
}

/**
 * A memory line of /proc/PID/status in bytes, summed over `pids`. RssAnon is the anonymous part of VmRSS (heap, stacks: what
 * the process itself allocated), without the file-backed pages of the binary that every process running it shares.
 */
export type MemoryField = 'VmRSS' | 'VmHWM' | 'RssAnon'
export function vmBytes (pids: number[], field: MemoryField): number {
  let kib = 0
  for (const pid of pids) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(read(`/proc/${pid}/status`) ?? '')
    if (m !== null) kib += Number(m[1])
  }
  return kib * 1024
}

/** Polls the summed `field` (VmRSS unless told) of `pids` until stopped; returns the highest value seen. */
export function watchPeakRss (pids: number[], field: 'VmRSS' | 'RssAnon' = 'VmRSS', intervalMs = 100): { stop (): number } {
  let peak = vmBytes(pids, field)
  const timer = setInterval(() => { peak = Math.max(peak, vmBytes(pids, field)) }, intervalMs)
  return {
    stop () {
      clearInterval(timer)
      return Math.max(peak, vmBytes(pids, field))
    },
  }
}
