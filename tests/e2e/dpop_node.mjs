// A DPoP client from the npm registry (panva's `dpop`, 2.x) for the tests, kept running: it
// makes one key pair, prints its public JWK as the first line, then answers each line of
// JSON {"htu", "htm", "token"} on stdin with one proof on stdout. The package signs Ed25519
// proofs as RFC 9864's `Ed25519` only. argv[2]: the package's entry file; argv[3]: the algorithm.
import { pathToFileURL } from 'node:url'
import * as readline from 'node:readline'

const DPoP = await import(pathToFileURL(process.argv[2]).href)
const alg = process.argv[3] || 'Ed25519'
const keys = await DPoP.generateKeyPair(alg)
const jwk = await crypto.subtle.exportKey('jwk', keys.publicKey)
delete jwk.key_ops
delete jwk.ext
console.log(JSON.stringify(jwk))
for await (const line of readline.createInterface({ input: process.stdin })) {
  const { htu, htm, token } = JSON.parse(line)
  console.log(await DPoP.generateProof(keys, htu, htm, undefined, token))
}
