// A one-off helper for the move to a 140-character line limit (drop it once src/ is wrapped).
//
//   node scripts/wrap-long-lines.cjs FILE...          one pass: breaks each line over 140 characters once,
//                                                     prints {"any":changed,"manual":{file:[lines left]}}
//   node scripts/wrap-long-lines.cjs --check REV FILE...   prints each FILE whose code differs from REV's,
//                                                     ignoring layout, trailing commas and braces around one statement
//
// A pass breaks a long line at its outermost argument or array list (after the last comma that fits), else after
// &&, ||, ?? or + of an expression on that line, else before the ? and : of a ternary, else puts each property of
// an object literal on a line of its own; a one-line if/for/while gets its body in braces on a line of its own, and a
// comment is reflowed. Run `npx eslint --fix` after each pass (it indents), repeat until nothing changes, then wrap
// what is left by hand and read the diff.
'use strict'
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const ts = require('typescript')

const MAX = 140

function parse (file, text) {
  const kind = /\.[cm]?js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind)
}

/** Where a line may break, found in the syntax tree. */
function analyse (file, text) {
  const sf = parse(file, text)
  const cands = [] // a break after pos: { pos, depth, kind, start, end, anc }
  const objects = [] // object literals: { start, end, props: [[start, end]], depth }
  const ternaries = []
  const blockers = [] // [start, end]: no break inside (template literals, statement headers)
  const bodies = [] // one-statement bodies of if/for/while
  const walk = (node, depth, anc) => {
    let d = depth
    let a = anc
    const start = node.getStart(sf)
    const list = (elems, kind, end) => {
      for (let i = 0; i < elems.length - 1; i++) {
        let p = elems[i].end
        while (text[p] === ' ') p++
        if (text[p] === ',') cands.push({ pos: p + 1, depth, kind, end, start, anc })
      }
    }
    if (ts.isTemplateExpression(node)) blockers.push([start, node.end])
    if (ts.isObjectLiteralExpression(node)) {
      d = depth + 1
      if (node.properties.length > 0) {
        objects.push({ start, end: node.end, props: node.properties.map((p) => [p.getStart(sf), p.end]), depth })
      }
      a = [...anc, [start, node.end, 'object']]
    }
    if (ts.isConditionalExpression(node)) {
      ternaries.push({ start, end: node.end, q: node.questionToken.getStart(sf), c: node.colonToken.getStart(sf), depth, anc })
      a = [...anc, [start, node.end, 'ternary']]
    }
    if (ts.isIfStatement(node) || ts.isWhileStatement(node)) blockers.push([start, node.expression.end + 1])
    if (ts.isForStatement(node) || ts.isForOfStatement(node) || ts.isForInStatement(node)) {
      blockers.push([start, node.statement.getStart(sf)])
    }
    const loop = ts.isWhileStatement(node) || ts.isForStatement(node) || ts.isForOfStatement(node) || ts.isForInStatement(node)
    if ((ts.isIfStatement(node) && node.elseStatement === undefined) || loop) {
      const body = ts.isIfStatement(node) ? node.thenStatement : node.statement
      if (!ts.isBlock(body)) bodies.push({ stmtStart: start, bodyStart: body.getStart(sf), bodyEnd: body.end })
    }
    if ((ts.isCallExpression(node) || ts.isNewExpression(node)) && node.arguments) {
      d = depth + 1
      list(node.arguments, 'arg', node.end)
    }
    if (ts.isArrayLiteralExpression(node)) {
      d = depth + 1
      list(node.elements, 'array', node.end)
    }
    if (ts.isFunctionLike(node) && node.parameters && node.parameters.length > 1) list(node.parameters, 'param', node.parameters.end)
    if (ts.isBinaryExpression(node)) {
      const k = ts.SyntaxKind
      const ops = [k.AmpersandAmpersandToken, k.BarBarToken, k.QuestionQuestionToken, k.PlusToken]
      if (ops.includes(node.operatorToken.kind)) {
        cands.push({ pos: node.operatorToken.end, depth: depth + 0.5, kind: 'op', end: node.end, start, anc })
      }
    }
    ts.forEachChild(node, (c) => walk(c, d, a))
  }
  walk(sf, 0, [])
  return { cands, objects, ternaries, blockers, bodies }
}

/** Edits [pos, deleteCount, insert] for one long line, or undefined when it is left for a person. */
function editsFor (text, ls, le, found) {
  const { cands, objects, ternaries, blockers, bodies } = found
  const line = text.slice(ls, le)
  const indent = /^\s*/.exec(line)[0]
  const spacesFrom = (p) => { let n = p; while (text[n] === ' ') n++; return n - p }
  const spacesBefore = (p) => { let b = p; while (text[b - 1] === ' ') b--; return p - b }
  if (/^\s*\/\//.test(line)) {
    let cut = line.lastIndexOf(' ', MAX)
    while (cut > 0 && line.length - cut < 30) cut = line.lastIndexOf(' ', cut - 1)
    return cut <= indent.length + 3 ? undefined : [[ls + cut, 1, `\n${indent}// `]]
  }
  const onLine = (s, e) => s >= ls && e <= le + 1
  const inBlocker = (p) => blockers.some(([s, e]) => p > s && p < e && s >= ls)
  const body = bodies.filter((b) => b.stmtStart >= ls && b.bodyEnd <= le + 1 && b.stmtStart - ls === indent.length)
    .sort((x, y) => x.stmtStart - y.stmtStart)[0]
  if (body) {
    const n = spacesBefore(body.bodyStart)
    return [[body.bodyEnd, 0, `\n${indent}}`], [body.bodyStart - n, n, ` {\n${indent}  `]]
  }
  // Several properties of an object that began on an earlier line: one property per line.
  const outer = objects.filter((o) => o.start < ls && o.end > le && o.props.filter(([s]) => s > ls && s < le).length >= 2)
    .sort((x, y) => y.start - x.start)[0]
  if (outer) {
    return outer.props.filter(([s]) => s > ls && s < le).slice(1).map(([s]) => [s - spacesBefore(s), spacesBefore(s), `\n${indent}`])
  }
  const blocked = (c) => inBlocker(c.pos) || c.anc.some(([s, e]) => c.pos > s && c.pos < e && s >= ls && e <= le + 1)
  const ok = cands.filter((c) => c.pos > ls && c.pos < le && c.pos - ls <= MAX && /\s/.test(text[c.pos]) &&
    text.slice(c.pos, le).trim().length > 0 && (c.end <= le + 1 || (c.kind !== 'op' && c.start < ls)) &&
    (c.kind !== 'op' || c.start >= ls) && !blocked(c) && !(c.kind === 'arg' && /^ *[.?]/.test(text.slice(c.end, le))))
  const pick = (list) => {
    const min = Math.min(...list.map((c) => c.depth))
    return list.filter((c) => c.depth === min).sort((x, y) => y.pos - x.pos)[0]
  }
  const main = ok.filter((c) => c.kind !== 'param')
  if (main.length > 0) {
    const best = pick(main)
    const middle = best.start < ls && best.end > le
    return [[best.pos, spacesFrom(best.pos), middle ? `\n${indent}` : `\n${indent}  `]]
  }
  const tern = ternaries.filter((x) => onLine(x.start, x.end) && !inBlocker(x.start) &&
    !x.anc.some(([s, e, k]) => k === 'object' && s >= ls && e <= le + 1)).sort((x, y) => x.depth - y.depth)[0]
  if (tern) return [tern.c, tern.q].map((p) => [p - spacesBefore(p), spacesBefore(p), `\n${indent}  `])
  const obj = objects.filter((o) => onLine(o.start, o.end) && o.end - ls > MAX && o.props.length > 1 && !inBlocker(o.start))
    .sort((x, y) => x.depth - y.depth || x.start - y.start)[0]
  if (obj) {
    const es = [[obj.start + 1, spacesFrom(obj.start + 1), '\n']]
    for (let i = 0; i < obj.props.length - 1; i++) {
      const c = obj.props[i][1] + spacesFrom(obj.props[i][1])
      if (text[c] !== ',') return undefined
      es.push([c + 1, spacesFrom(c + 1), '\n'])
    }
    const close = obj.end - 1
    const comma = text.slice(obj.props[obj.props.length - 1][1], close).includes(',')
    es.push([close - spacesBefore(close), spacesBefore(close), comma ? '\n' : ',\n'])
    return es
  }
  const params = ok.filter((c) => c.kind === 'param')
  if (params.length > 0) {
    const best = pick(params)
    return [[best.pos, spacesFrom(best.pos), `\n${indent}  `]]
  }
  return undefined
}

function wrapPass (file) {
  const text = fs.readFileSync(file, 'utf8')
  const found = analyse(file, text)
  const edits = []
  const manual = []
  let ls = 0
  text.split('\n').forEach((line, i) => {
    const le = ls + line.length
    if ([...line].length > MAX) {
      const e = editsFor(text, ls, le, found)
      if (e === undefined) manual.push(i + 1)
      else edits.push(...e)
    }
    ls = le + 1
  })
  edits.sort((x, y) => y[0] - x[0])
  let out = text
  for (const [p, del, ins] of edits) out = out.slice(0, p) + ins + out.slice(p + del)
  if (out !== text) fs.writeFileSync(file, out)
  return { changed: out !== text, manual }
}

/** The code of a file without its layout: comments, trailing commas and one-statement braces do not count. */
function code (file, text) {
  const unwrap = (ctx) => (root) => {
    const one = (s) => (s && ts.isBlock(s) && s.statements.length === 1 ? s.statements[0] : s)
    const visit = (node) => {
      const n = ts.visitEachChild(node, visit, ctx)
      const f = ts.factory
      if (ts.isIfStatement(n)) return f.updateIfStatement(n, n.expression, one(n.thenStatement), n.elseStatement && one(n.elseStatement))
      if (ts.isForOfStatement(n)) return f.updateForOfStatement(n, n.awaitModifier, n.initializer, n.expression, one(n.statement))
      if (ts.isForStatement(n)) return f.updateForStatement(n, n.initializer, n.condition, n.incrementor, one(n.statement))
      if (ts.isWhileStatement(n)) return f.updateWhileStatement(n, n.expression, one(n.statement))
      return n
    }
    return ts.visitNode(root, visit)
  }
  const printed = ts.createPrinter({ removeComments: true }).printFile(ts.transform(parse(file, text), [unwrap]).transformed[0])
  return printed.replace(/,(\s*[)\]}])/g, '$1').replace(/\s+/g, ' ')
}

const args = process.argv.slice(2)
if (args[0] === '--check') {
  const [, rev, ...files] = args
  for (const file of files) {
    const before = execFileSync('git', ['show', `${rev}:${file}`], { encoding: 'utf8' })
    if (code(file, before) !== code(file, fs.readFileSync(file, 'utf8'))) console.log(file)
  }
} else {
  const manual = {}
  let any = false
  for (const file of args) {
    const r = wrapPass(file)
    any ||= r.changed
    if (r.manual.length > 0) manual[file] = r.manual
  }
  console.log(JSON.stringify({ any, manual }))
}
