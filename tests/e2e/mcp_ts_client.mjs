// The official MCP TypeScript SDK as a client of the gateway tests, with a bearer token it was
// given: connects, lists the tools, calls each tool named, and prints one JSON line:
// {"tools": [...], "calls": {"<tool>": "ok: <text>" | "error: <message>"}}.
//
//   node mcp_ts_client.mjs <sdk dir> <mcp url> <access token> [tool '<args json>']...
import { pathToFileURL } from 'node:url'

const [sdk, url, token, ...rest] = process.argv.slice(2)
const { Client } = await import(pathToFileURL(`${sdk}/dist/esm/client/index.js`).href)
const { StreamableHTTPClientTransport } = await import(pathToFileURL(`${sdk}/dist/esm/client/streamableHttp.js`).href)

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
})
const client = new Client({ name: 'authgate-test', version: '1.0.0' })
const out = { tools: null, calls: {} }
try {
  await client.connect(transport)
  out.tools = (await client.listTools()).tools.map((t) => t.name)
  for (let i = 0; i + 1 < rest.length; i += 2) {
    try {
      const r = await client.callTool({ name: rest[i], arguments: JSON.parse(rest[i + 1]) })
      out.calls[rest[i]] = `ok: ${r.content.map((c) => c.text).join(' ')}`
    } catch (e) {
      out.calls[rest[i]] = `error: ${e.message}`
    }
  }
} catch (e) {
  out.error = `${e.constructor.name}: ${e.message}`
} finally {
  await client.close().catch(() => {})
}
console.log(JSON.stringify(out))
