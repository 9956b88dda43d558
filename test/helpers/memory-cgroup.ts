// A memory cgroup of the test's own, nested under the one this process runs in (cgroup v2 or v1), to run a child under a limit.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface MemoryCgroup {
  dir: string
  /** Where a process writes its pid to join. */
  procs: string
  /** Highest memory use the kernel saw in the group, in bytes (v2: memory.peak; v1: memory.max_usage_in_bytes). */
  peak (): number
  /** Memory charged to the group now, in bytes. */
  usage (): number
  /** Changes the limit (lowering it below the usage makes the kernel reclaim, or kill). */
  setLimit (bytes: number): void
  /** Processes the kernel's OOM killer ended in the group. */
  oomKills (): number
  /** Removes the group once the processes in it have ended (waits up to 5 s for them). */
  remove (): Promise<void>
}

const read = (file: string): string => readFileSync(file, 'utf8')

/** Creates the group with `limit` bytes, or says in one line why it cannot be made here. */
export function createMemoryCgroup (name: string, limit: number): MemoryCgroup | string {
  const lines = read('/proc/self/cgroup').split('\n')
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3)
  const v1 = lines.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l))?.split(':')[2]
  let dir: string
  let kind: 'v1' | 'v2'
  if (v1 !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    dir = join('/sys/fs/cgroup/memory', v1, name)
    kind = 'v1'
  } else if (v2 !== undefined && existsSync(join('/sys/fs/cgroup', v2, 'cgroup.controllers'))) {
    dir = join('/sys/fs/cgroup', v2, name)
    kind = 'v2'
  } else {
    return 'no memory cgroup controller is mounted (neither cgroup v2 at /sys/fs/cgroup nor v1 at /sys/fs/cgroup/memory)'
  }
  try {
    mkdirSync(dir)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    return `cannot create a memory cgroup at ${dir} (${code}): run as root with a writable cgroup tree`
  }
  const setLimit = (bytes: number): void => {
    if (kind === 'v1') {
      // No swap to escape into: memsw (memory + swap) gets the same limit; it may never be below the memory limit.
      const memsw = join(dir, 'memory.memsw.limit_in_bytes')
      const hasMemsw = existsSync(memsw)
      const lowering = bytes < Number(read(join(dir, 'memory.limit_in_bytes')).trim())
      if (hasMemsw && !lowering) writeFileSync(memsw, String(bytes))
      writeFileSync(join(dir, 'memory.limit_in_bytes'), String(bytes))
      if (hasMemsw && lowering) writeFileSync(memsw, String(bytes))
    } else {
      writeFileSync(join(dir, 'memory.max'), String(bytes))
      if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0')
    }
  }
  try {
    setLimit(limit)
  } catch (err) {
    rmdirSync(dir)
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    return `cannot set a memory limit on ${dir} (${code}); on cgroup v2 the parent must delegate the memory controller`
  }
  const stat = (file: string, key: string): number => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(read(join(dir, file)))?.[1] ?? 0)
  return {
    dir,
    procs: join(dir, 'cgroup.procs'),
    peak: () => Number(read(join(dir, kind === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak')).trim()),
    usage: () => Number(read(join(dir, kind === 'v1' ? 'memory.usage_in_bytes' : 'memory.current')).trim()),
    setLimit,
    oomKills: () => kind === 'v1' ? stat('memory.oom_control', 'oom_kill') : stat('memory.events', 'oom_kill'),
    async remove () {
      for (let i = 0; i < 100 && read(join(dir, 'cgroup.procs')).trim() !== ''; i++) await new Promise((resolve) => setTimeout(resolve, 50))
      rmdirSync(dir)
    },
  }
}
