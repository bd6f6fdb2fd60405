// PostGraphile 5 (amber preset) as a peer for bench/query.py: serves POST /graphql for the tables of one
// schema, and GET /healthz once the GraphQL schema is built. Start it with Node >= 22, directly (the bench
// reads this process's CPU time from /proc/<pid>/stat):
//
//   node bench/peers/postgraphile.mjs --port 5678 --connection postgres://postgres@127.0.0.1/db \
//        [--schema public] [--pool-max 10]
//
// It connects as whoever the connection string names; as a superuser, row-level security does not apply.
import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    connection: { type: "string" },
    schema: { type: "string", default: "public" },
    "pool-max": { type: "string", default: "10" },
  },
});
if (!args.port || !args.connection) {
  console.error("usage: postgraphile.mjs --port PORT --connection POSTGRES_URL [--schema public] [--pool-max 10]");
  process.exit(2);
}

const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: args.connection,
      schemas: [args.schema],
      poolConfig: { max: Number(args["pool-max"]) },
    }),
  ],
  grafserv: { graphqlPath: "/graphql", graphiql: false, graphqlOverGET: false, watch: false, websockets: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
await pgl.getSchema(); // build the schema before reporting ready
const handle = pgl.createServ(grafserv).createHandler();

function fallback(req, res, error) {
  if (error) {
    console.error(error);
    res.writeHead(500, { "content-type": "text/plain" }).end("error");
  } else if (req.method === "GET" && req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
  } else {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  }
}

const server = createServer((req, res) => handle(req, res, (error) => fallback(req, res, error)));
server.listen(Number(args.port), "127.0.0.1", () => {
  console.error(`postgraphile pid ${process.pid} listening on http://127.0.0.1:${args.port}/graphql`);
});

async function shutdown() {
  server.close();
  await pgl.release();
  process.exit(0);
}
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
