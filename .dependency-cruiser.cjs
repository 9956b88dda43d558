// dependency-cruiser: the boundaries between the folders of src/. `npm run lint` runs it over src/;
// test/lint/lint.test.ts runs it, and shows that each rule catches a violation in a small tree of its own.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'proxy-not-to-credentials',
      comment: 'The proxy gets tokens through tokens/, never from a credential directly.',
      severity: 'error',
      from: { path: '^src/proxy/' },
      to: { path: '^src/credentials/' },
    },
    {
      name: 'credentials-not-to-fastify-proxy-observability',
      comment: 'Credentials talk to identity services only: no HTTP server, no proxy, no logger or metrics.',
      severity: 'error',
      from: { path: '^src/credentials/' },
      to: { path: ['(^|/)node_modules/(fastify|fastify-[^/]+|@fastify/[^/]+)/', '^src/(proxy|observability)/'] },
    },
    {
      name: 'config-not-to-runtime',
      comment: 'config/ reads and checks the config: it imports no runtime module, not even a type from one.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: { path: ['^src/(credentials|tokens|proxy|observability|commands|demo)/', '^src/(server|cli|reload)\\.ts$'] },
    },
    {
      name: 'tokens-not-to-observability',
      comment: 'tokens/ reports through the hooks it is given, not through the logger or the metrics.',
      severity: 'error',
      from: { path: '^src/tokens/' },
      to: { path: '^src/observability/' },
    },
    {
      name: 'no-circular-folders',
      comment: 'No cycle between the folders of src/.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-circular',
      comment: 'No cycle between files.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are dependencies too.
    tsPreCompilationDeps: true,
    // Resolves `./x.js` specifiers to the `./x.ts` files they name (NodeNext).
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'types', 'default'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
}
