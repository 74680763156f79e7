// The authorization server of the MCP gateway tests: panva's oidc-provider (from npm), with the
// client credentials grant, RFC 8707 resource indicators and RFC 9068 JWT access tokens (ES256)
// whose `aud` is the resource asked for.
//
//   node mcp_as.mjs <oidc-provider lib/index.js> <port> '<{"resource URL": ["scope", ...]}>'
//
// Clients (client_secret_basic): `limited` may hold tools:search and db:read, `admin` every
// scope. A scope a client may not hold is left out of its token (RFC 6749 §3.3: the server may
// issue fewer scopes than asked), so a step-up by `limited` gets no further.
// Prints READY when it listens, and one line per token request.
import { generateKeyPairSync } from 'node:crypto'
import { pathToFileURL } from 'node:url'

const { default: Provider, errors } = await import(pathToFileURL(process.argv[2]).href)
const port = Number(process.argv[3])
const resources = JSON.parse(process.argv[4])
const issuer = `http://127.0.0.1:${port}`
const everything = [...new Set(Object.values(resources).flat())]
const may = { limited: ['tools:search', 'db:read'], admin: everything }

// An RSA key beside the EC one: the provider checks every client's default ID token
// algorithm (RS256) against its keys, though these clients never get an ID token.
const key = (type, options, alg) => ({
  ...generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' }), kid: alg, alg, use: 'sig',
})
const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
})

const provider = new Provider(issuer, {
  clients: [client('limited'), client('admin')],
  jwks: { keys: [key('rsa', { modulusLength: 2048 }, 'RS256'), key('ec', { namedCurve: 'P-256' }, 'ES256')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => (oneOf ? oneOf[0] : undefined),
      useGrantedResource: () => true,
      getResourceServerInfo (ctx, resource, client) {
        const scopes = resources[resource]
        if (!scopes) throw new errors.InvalidTarget(`unknown resource ${resource}`)
        return {
          scope: scopes.filter((s) => may[client.clientId]?.includes(s)).join(' '),
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }
      },
    },
  },
})

provider.use(async (ctx, next) => {
  await next()
  if (ctx.path === '/token') {
    const p = ctx.oidc?.params ?? {}
    console.log(`token client=${ctx.oidc?.client?.clientId} resource=${p.resource} asked=${JSON.stringify(p.scope)} ` +
      `-> ${ctx.status} granted=${JSON.stringify(ctx.body?.scope ?? ctx.body?.error)}`)
  }
})
const server = provider.listen(port, '127.0.0.1', () => console.log(`READY ${issuer}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
