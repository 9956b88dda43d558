// Keeps only the mappings of a source map whose source passes `keep` (here: our own src/ files).
// Coverage of the bundled CLI, run as a child process by the tests, is remapped through the map;
// without this, every bundled dependency would land in the coverage report as if it were ours.
import { decode, encode } from '@jridgewell/sourcemap-codec'

/** Returns a copy of `map` (a parsed v3 source map) with the sources that fail `keep` and their mappings removed. */
export function filterSourceMap (map, keep) {
  const kept = map.sources.map((s) => keep(s))
  const newIndex = []
  let next = 0
  for (const k of kept) newIndex.push(k ? next++ : -1)
  // decode() gives, per generated line, segments of absolute fields: [column] or
  // [column, source, line, column] or [column, source, line, column, name].
  const lines = decode(map.mappings).map((segments) => segments
    // A segment without a source has nothing to keep.
    .filter((seg) => seg.length >= 4 && kept[seg[1]])
    .map((seg) => {
      const out = [...seg]
      out[1] = newIndex[seg[1]]
      return out
    }))
  return {
    ...map,
    sources: map.sources.filter((_, i) => kept[i]),
    ...(map.sourcesContent === undefined ? {} : { sourcesContent: map.sourcesContent.filter((_, i) => kept[i]) }),
    mappings: encode(lines),
  }
}
