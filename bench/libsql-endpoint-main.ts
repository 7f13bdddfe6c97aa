// Child-process entry for bench/edge.ts: the local libSQL HTTP endpoint (src/node/libsql-server.ts)
// over the file given as argv[2], in a process of its own so that the benchmark's CPU figures are
// the client's (the Worker's) alone. Prints its URL on stdout; SIGTERM closes it. The bearer token
// comes in LIBSQL_AUTH_TOKEN, not argv, which `ps` shows.
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';

// Node closes a connection idle for 5 s (keepAliveTimeout). A pass over 100,000 pods computes longer
// than that between two requests while its event loop is busy, so the client's next request goes out
// on a socket the server has just closed and fails ("other side closed"). The endpoint gives no way
// to set the timeout; here every server this process creates keeps idle connections for 10 minutes.
const createServer = http.createServer;
http.createServer = ((...args: Parameters<typeof createServer>) => {
  const server = createServer(...args);
  server.keepAliveTimeout = 600_000;
  return server;
}) as typeof createServer;
syncBuiltinESMExports();

const { startLibsqlServer } = await import('../src/node/libsql-server.js');
const file = process.argv[2];
if (!file) throw new Error('usage: libsql-endpoint-main.ts DATABASE_FILE');
const server = await startLibsqlServer({ file, port: 0, authToken: process.env.LIBSQL_AUTH_TOKEN });
process.stdout.write(`libsql endpoint ${server.url}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
