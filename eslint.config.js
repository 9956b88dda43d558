// ESLint flat config: neostandard (standard style, formatting through @stylistic) with its TypeScript support,
// over src/, test/, scripts/ and the top-level config files. `npm run lint` runs it with dependency-cruiser.
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    noJsx: true,
    ignores: ['dist/', '.tap/', '.cache/', 'node_modules/', 'coverage/'],
  }),
  {
    name: 'tokenproxy/overrides',
    rules: {
      '@stylistic/max-len': ['error', { code: 140 }],
      // `void promise()` as a statement marks a promise that is deliberately not awaited.
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
  {
    name: 'tokenproxy/tests',
    files: ['test/**'],
    rules: {
      // Configs under test write tokenproxy's own `${VAR}` substitutions in plain strings.
      'no-template-curly-in-string': 'off',
    },
  },
]
