// Keeps only the mappings of a source map whose source passes `keep` (here: our own src/ files).
// Coverage of the bundled CLI, run as a child process by the tests, is remapped through the map;
// without this, every bundled dependency would land in the coverage report as if it were ours.
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
const VALUE = new Map([...B64].map((c, i) => [c, i]))

/** Base64 VLQ fields of one segment ("AAgBC" -> [0, 0, 16, 1]). */
function decodeSegment (text) {
  const out = []
  let value = 0
  let shift = 0
  for (const c of text) {
    const digit = VALUE.get(c)
    if (digit === undefined) throw new Error(`bad base64 VLQ character ${JSON.stringify(c)} in source map`)
    value += (digit & 31) << shift
    if (digit & 32) { shift += 5; continue }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1)
    value = 0
    shift = 0
  }
  return out
}

function encodeValue (n) {
  let v = n < 0 ? (-n << 1) | 1 : n << 1
  let out = ''
  do {
    let digit = v & 31
    v >>>= 5
    if (v > 0) digit |= 32
    out += B64[digit]
  } while (v > 0)
  return out
}

/** Returns a copy of `map` (a parsed v3 source map) with the sources that fail `keep` and their mappings removed. */
export function filterSourceMap (map, keep) {
  const kept = map.sources.map((s) => keep(s))
  const newIndex = []
  let next = 0
  for (const k of kept) newIndex.push(k ? next++ : -1)
  // Absolute fields carry across lines (all but the generated column, which restarts on each line).
  const abs = { source: 0, line: 0, column: 0, name: 0 }
  const prevOut = { source: 0, line: 0, column: 0, name: 0 }
  const lines = map.mappings.split(';').map((line) => {
    let genColumn = 0
    let prevGenOut = 0
    const segments = []
    for (const seg of line === '' ? [] : line.split(',')) {
      const f = decodeSegment(seg)
      genColumn += f[0]
      if (f.length < 4) continue // a segment without a source: nothing to keep
      abs.source += f[1]
      abs.line += f[2]
      abs.column += f[3]
      if (f.length >= 5) abs.name += f[4]
      if (!kept[abs.source]) continue
      const source = newIndex[abs.source]
      let out = encodeValue(genColumn - prevGenOut) + encodeValue(source - prevOut.source) +
        encodeValue(abs.line - prevOut.line) + encodeValue(abs.column - prevOut.column)
      if (f.length >= 5) { out += encodeValue(abs.name - prevOut.name); prevOut.name = abs.name }
      prevGenOut = genColumn
      prevOut.source = source
      prevOut.line = abs.line
      prevOut.column = abs.column
      segments.push(out)
    }
    return segments.join(',')
  })
  return {
    ...map,
    sources: map.sources.filter((_, i) => kept[i]),
    ...(map.sourcesContent === undefined ? {} : { sourcesContent: map.sourcesContent.filter((_, i) => kept[i]) }),
    mappings: lines.join(';'),
  }
}
