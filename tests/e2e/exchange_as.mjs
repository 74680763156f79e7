// The authorization server of the token-exchange tests: panva's oidc-provider (from npm) with
// the token-exchange grant (RFC 8693) registered through its documented extension point,
// `provider.registerGrantType`. oidc-provider authenticates the client, parses the form and
// writes the errors (RFC 6749 §5.2); the handler here checks the subject token's signature with
// the provider's own key (jose, oidc-provider's JOSE library) and issues a JWT access token
// (RFC 9068) whose `aud` is the audience or resource asked for, with `act` naming the client
// that exchanged it (RFC 8693 §4.1).
//
//   node exchange_as.mjs <oidc-provider lib/index.js> <jose index.js> <port> <ttl seconds> '<{"audience": ["scope", ...]}>'
//
// Clients: `caller` (client credentials: the callers' own tokens, for resource
// https://gw.test/), `gateway` (token exchange, client_secret_basic) and `gateway-post`
// (token exchange, client_secret_post). An audience not in the list is refused with
// invalid_target. Prints READY when it listens, and one line per token request.
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'

const { default: Provider, errors } = await import(pathToFileURL(process.argv[2]).href)
const jose = await import(pathToFileURL(process.argv[3]).href)
const port = Number(process.argv[4])
const ttl = Number(process.argv[5])
const audiences = JSON.parse(process.argv[6])
const issuer = `http://127.0.0.1:${port}`
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
const CALLERS = 'https://gw.test/'

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const ecJwk = { ...ec.privateKey.export({ format: 'jwk' }), kid: 'ES256', alg: 'ES256', use: 'sig' }
const rsaJwk = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: 'RS256', alg: 'RS256', use: 'sig',
}
const { d, ...ecPublic } = ecJwk
const ownKeys = jose.createLocalJWKSet({ keys: [ecPublic] })
const signingKey = await jose.importJWK(ecJwk, 'ES256')

const client = (id, grant, method) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  token_endpoint_auth_method: method,
  grant_types: [grant],
  response_types: [],
  redirect_uris: [],
})

const provider = new Provider(issuer, {
  clients: [
    client('caller', 'client_credentials', 'client_secret_basic'),
    client('gateway', GRANT, 'client_secret_basic'),
    client('gateway-post', GRANT, 'client_secret_post'),
  ],
  jwks: { keys: [rsaJwk, ecJwk] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => CALLERS,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'orders:read', audience: CALLERS, accessTokenTTL: 86400,
        accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
})

let exchanges = 0
provider.registerGrantType(GRANT, async (ctx) => {
  const p = ctx.oidc.params
  exchanges += 1
  if (p.subject_token_type !== ACCESS_TOKEN) {
    throw new errors.InvalidRequest('subject_token_type must name an access token')
  }
  let subject
  try {
    ({ payload: subject } = await jose.jwtVerify(p.subject_token, ownKeys, { issuer, audience: CALLERS }))
  } catch {
    throw new errors.InvalidGrant('the subject token is not one this server issued, or it expired')
  }
  const target = p.audience ?? p.resource
  if (!target || !audiences[target]) throw new errors.InvalidTarget(`no tokens are issued for ${target}`)
  const scope = p.scope ?? audiences[target].join(' ')
  const now = Math.floor(Date.now() / 1000)
  const token = await new jose.SignJWT({
    sub: subject.sub, client_id: ctx.oidc.client.clientId, scope,
    act: { sub: ctx.oidc.client.clientId }, jti: randomUUID(),
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'ES256', typ: 'at+jwt' })
    .setIssuer(issuer).setAudience(target).setIssuedAt(now).setExpirationTime(now + ttl)
    .sign(signingKey)
  ctx.body = { access_token: token, issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', expires_in: ttl, scope }
}, ['subject_token', 'subject_token_type', 'audience', 'resource', 'scope', 'requested_token_type'])

provider.use(async (ctx, next) => {
  await next()
  if (ctx.path === '/token') {
    const p = ctx.oidc?.params ?? {}
    console.log(`token grant=${p.grant_type} client=${ctx.oidc?.client?.clientId} audience=${p.audience} ` +
      `resource=${p.resource} -> ${ctx.status} ${ctx.body?.error ?? 'issued'} exchanges=${exchanges}`)
  }
})
provider.on('server_error', (ctx, err) => console.log(`server_error ${err?.stack ?? err}`))
const server = provider.listen(port, '127.0.0.1', () => console.log(`READY ${issuer}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
