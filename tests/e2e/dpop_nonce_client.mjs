// panva's openid-client (6.x) as the DPoP client of a resource server that asks for nonces,
// kept running: it makes one P-256 key pair and prints its public JWK as the first line, then
// answers each line of JSON {"url", "token"} on stdin with one line of JSON: what
// fetchProtectedResource got ({"status", "nonce"}) or the error it threw ({"error"}). The
// library retries once when the answer is 401 with `DPoP error="use_dpop_nonce"`, and keeps
// the nonce for the next request to that origin. argv[2]: the package's entry file.
import { pathToFileURL } from 'node:url'
import * as readline from 'node:readline'

const client = await import(pathToFileURL(process.argv[2]).href)
const keys = await client.randomDPoPKeyPair('ES256')
const jwk = await crypto.subtle.exportKey('jwk', keys.publicKey)
delete jwk.key_ops
delete jwk.ext
console.log(JSON.stringify(jwk))
// No authorization server is asked anything: the token comes from the test.
const config = new client.Configuration({ issuer: 'https://idp.test' }, 'authgate-test')
client.allowInsecureRequests(config)
const handle = client.getDPoPHandle(config, keys)
for await (const line of readline.createInterface({ input: process.stdin })) {
  const { url, token } = JSON.parse(line)
  try {
    const r = await client.fetchProtectedResource(config, token, new URL(url), 'GET', undefined, undefined, { DPoP: handle })
    console.log(JSON.stringify({ status: r.status, nonce: r.headers.get('dpop-nonce') }))
  } catch (e) {
    console.log(JSON.stringify({ error: `${e.name}: ${e.message}`, code: e.code ?? null }))
  }
}
