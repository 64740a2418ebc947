#!/usr/bin/env node
// `npx phonepass <command>`: the operator CLI, compiled to dist/ by `npm run build`.
import { existsSync } from 'node:fs'

const entry = new URL('../dist/src/cli/phonepass.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('phonepass: dist/ is missing; run `npm run build` first\n')
  process.exit(70)
}
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
