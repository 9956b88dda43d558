// A Kubernetes Secret volume on disk, as the kubelet writes and rotates it (a `..data` symlink swapped atomically).
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** A Secret volume as the kubelet writes it: timestamped directories, `..data` pointing at the current one. */
export class SecretVolume {
  readonly file: string
  #version = 0
  constructor (readonly dir: string, first: string) {
    this.file = join(dir, 'client-secret')
    this.rotate(first)
    symlinkSync(join('..data', 'client-secret'), this.file)
  }

  /** Writes `value` (null: no file at all) into a new directory and swaps `..data` to it atomically. */
  rotate (value: string | null): void {
    const version = `..2026_11_23_${++this.#version}`
    mkdirSync(join(this.dir, version))
    if (value !== null) writeFileSync(join(this.dir, version, 'client-secret'), value)
    symlinkSync(version, join(this.dir, '..data_tmp'))
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'))
  }
}
