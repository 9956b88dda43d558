// package.json `engines` is honest: every production dependency in the lock file runs on every Node version it admits.
import { readFileSync } from 'node:fs'
import semver from 'semver'
import t from 'tap'

interface LockEntry { dev?: boolean, engines?: { node?: string } | string[], version?: string }

const root = new URL('../../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, LockEntry> }

t.test('every production dependency admits every Node version that engines.node admits', async (t) => {
  const ours = pkg.engines.node
  t.ok(semver.validRange(ours), `engines.node ${ours} is a range`)
  t.ok(semver.satisfies(process.version, ours), `the Node running the tests (${process.version}) is admitted`)
  const checked: string[] = []
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (path === '' || entry.dev === true) continue
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
    if (range === undefined) continue
    checked.push(path)
    t.ok(semver.subset(ours, range),
      `${path.replace(/^.*node_modules\//, '')}@${entry.version} declares node ${range}: admits all of ${ours}`)
  }
  t.ok(checked.length > 5, `${checked.length} production packages declare engines`)
})
