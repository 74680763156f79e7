// An OpenID Provider for the sign-in tests: panva's oidc-provider (OpenID Certified), on
// 127.0.0.1 only, with its own login and consent pages (any login and password sign in;
// sub = the login, email = <login>@example.com).
//
//   node oidc_provider.mjs <path of oidc-provider's lib/index.js> <port> <site port>
//
// Issuer http://127.0.0.1:<port>; one client `web` / `web-secret` (client_secret_basic, PKCE
// S256 required) whose redirect URI is http://localhost:<site port>/oauth2/callback.
// Prints READY when it listens; one line per request it serves.
//
// The demo (./build.sh demo and compose) sets OP_DEMO_USERS (or OP_DEMO_USERS_FILE, a file of it), a JSON object of
// {"<login>": {"password": "...", "name": "..."}}: then only those people sign in, with their
// password, and the demo site's consent is given (a first-party site asks no one). OP_HOST is the
// address to listen on (a container's 0.0.0.0), OP_ISSUER the issuer when it is not the address
// the process listens on (a container's port published on the host).
import { generateKeyPairSync, timingSafeEqual, createHash } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { readFileSync } from 'node:fs'

const { default: Provider } = await import(pathToFileURL(process.argv[2]).href)
const port = Number(process.argv[3])
const site = `http://localhost:${Number(process.argv[4])}`
const issuer = process.env.OP_ISSUER || `http://127.0.0.1:${port}`
const users = process.env.OP_DEMO_USERS_FILE
  ? JSON.parse(readFileSync(process.env.OP_DEMO_USERS_FILE, 'utf8'))
  : process.env.OP_DEMO_USERS ? JSON.parse(process.env.OP_DEMO_USERS) : null

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
    if (users && !Object.hasOwn(users, id)) return undefined
    const name = users ? users[id].name : id
    return { accountId: id, async claims () { return { sub: id, email: `${id}@example.com`, email_verified: true, name } } }
  },
  ...(users ? { loadExistingGrant } : {}),
  jwks: { keys: [jwk] },
  cookies: { keys: ['authgate-tests-op-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 }
})

// The demo's site is the provider's own (first party): its grant is made without a consent page.
async function loadExistingGrant (ctx) {
  const { client, session } = ctx.oidc
  const id = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId)
  if (id) return ctx.oidc.provider.Grant.find(id)
  const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId })
  grant.addOIDCScope('openid email profile')
  await grant.save()
  return grant
}

const digest = (s) => createHash('sha256').update(String(s)).digest()

// The development login form takes any login: in the demo, its answer is checked against the
// users first (the form is parsed here and handed on, as oidc-provider allows).
// Every form POST is read here, whatever its path: oidc-provider's router also takes a path in
// another case or with a trailing slash, so the login's answer is recognised by its `prompt`,
// not by where it was sent.
if (users) {
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) {
      const raw = await new Promise((resolve, reject) => {
        const chunks = []
        let size = 0
        ctx.req.on('data', (c) => {
          size += c.length
          if (size > 8192) {
            ctx.req.destroy()
            reject(new Error('form too large'))
          } else {
            chunks.push(c)
          }
        })
        ctx.req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
        ctx.req.on('error', reject)
      })
      const form = Object.fromEntries(new URLSearchParams(raw))
      if (form.prompt === 'login') {
        const user = Object.hasOwn(users, form.login ?? '') ? users[form.login] : null
        const ok = timingSafeEqual(digest(form.password ?? ''), digest(user ? user.password : '\0'))
        if (!user || !ok) {
          const uid = /^\/interaction\/([^/]+)/i.exec(ctx.path)?.[1] ?? ''
          ctx.status = 401
          ctx.type = 'html'
          ctx.body = `<!doctype html><meta charset="utf-8"><title>Sign-in</title><h1>Wrong login or password</h1><p><a href="/interaction/${encodeURIComponent(uid)}">Try again</a></p>`
          console.log(`[op] ${ctx.method} ${ctx.path} -> 401 wrong login or password`)
          return
        }
      }
      ctx.request.body = form
    }
    await next()
  })
}

provider.use(async (ctx, next) => {
  await next()
  console.log(`[op] ${ctx.method} ${ctx.path} -> ${ctx.status} authorization=${/^Basic /.test(ctx.get('authorization')) ? 'Basic' : '-'}`)
})
provider.on('server_error', (ctx, err) => console.error('[op] server_error', err))
provider.on('grant.error', (ctx, err) => console.error('[op] grant.error', err.message, err.error_description ?? ''))

const server = provider.listen(port, process.env.OP_HOST || '127.0.0.1', () => console.log(`[op] READY ${issuer}`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
