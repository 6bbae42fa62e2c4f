// Asks IAM's evaluation logic (the @cloud-copilot/iam-simulate evaluator, installed into
// .tools/iam-simulate by scripts/install-test-tools) about each request.
//
// Usage: node simulate.mjs TOOLS_DIR POLICIES_JSON REQUESTS_JSON > decisions.json
//
// POLICIES_JSON is what policies.py prints; REQUESTS_JSON a list of
// {function, action, resource, context}. Each request is judged against its function's
// statements as one identity policy (plus the sealing key's policy for KMS calls, as KMS
// judges it) and answered with {decision, errors?, explain?} in the same order.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [toolsDir, policiesPath, requestsPath] = process.argv.slice(2);
const require = createRequire(join(toolsDir, 'package.json'));
const { runSimulation } = require('@cloud-copilot/iam-simulate');

const policies = JSON.parse(readFileSync(policiesPath, 'utf8'));
const requests = JSON.parse(readFileSync(requestsPath, 'utf8'));
const ACCOUNT = process.env.IAM_ACCOUNT ?? '123456789012';

const decisions = [];
for (const request of requests) {
  const statements = policies[request.function];
  if (!statements) {
    decisions.push({ decision: 'NoSuchFunction' });
    continue;
  }
  const principal = `arn:${request.partition}:iam::${ACCOUNT}:role/${request.function}-role`;
  const simulation = {
    identityPolicies: [
      { name: `${request.function}-policy`, policy: { Version: '2012-10-17', Statement: statements } },
    ],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: request.action.startsWith('kms:') ? policies.kmsKeyPolicy : undefined,
    request: {
      principal,
      action: request.action,
      resource: { resource: request.resource, accountId: ACCOUNT },
      contextVariables: request.context,
    },
  };
  const response = await runSimulation(simulation, {});
  if (response.resultType === 'error') {
    decisions.push({ decision: 'Error', errors: response.errors });
    continue;
  }
  const result = response.resultType === 'single' ? response.result : response.results[0];
  decisions.push({
    decision: response.overallResult,
    explain: result?.analysis?.identityAnalysis?.allowStatements?.map((s) => s.explain),
  });
}
process.stdout.write(JSON.stringify(decisions));
