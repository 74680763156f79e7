// An OpenID Provider for the sign-in tests: panva's oidc-provider (OpenID Certified), on
// 127.0.0.1 only, with its own login and consent pages (any login and password sign in;
// sub = the login, email = <login>@example.com).
//
//   node oidc_provider.mjs <path of oidc-provider's lib/index.js> <port> <site port>
//
// Issuer http://127.0.0.1:<port>; one client `web` / `web-secret` (client_secret_basic, PKCE
// S256 required) whose redirect URI is http://localhost:<site port>/oauth2/callback.
// Prints READY when it listens; one line per request it serves.
import { generateKeyPairSync } from 'node:crypto'
import { pathToFileURL } from 'node:url'

const { default: Provider } = await import(pathToFileURL(process.argv[2]).href)
const port = Number(process.argv[3])
const site = `http://localhost:${Number(process.argv[4])}`
const issuer = `http://127.0.0.1:${port}`

const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })
Object.assign(jwk, { kid: `k-${Date.now()}`, alg: 'RS256', use: 'sig' })

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'web',
    client_secret: 'web-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [`${site}/oauth2/callback`],
    post_logout_redirect_uris: [`${site}/`, `${site}/oauth2/logout`],
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The scope's claims in the ID token too, not only at /userinfo.
  conformIdTokenClaims: false,
  async findAccount (ctx, id) {
    return { accountId: id, async claims () { return { sub: id, email: `${id}@example.com`, email_verified: true, name: id } } }
  },
  jwks: { keys: [jwk] },
  cookies: { keys: ['authgate-tests-op-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 }
})

provider.use(async (ctx, next) => {
  await next()
  console.log(`[op] ${ctx.method} ${ctx.path} -> ${ctx.status} authorization=${/^Basic /.test(ctx.get('authorization')) ? 'Basic' : '-'}`)
})
provider.on('server_error', (ctx, err) => console.error('[op] server_error', err))
provider.on('grant.error', (ctx, err) => console.error('[op] grant.error', err.message, err.error_description ?? ''))

const server = provider.listen(port, '127.0.0.1', () => console.log(`[op] READY ${issuer}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
