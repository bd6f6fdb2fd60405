// Apollo Client with its persisted-queries link (hashed queries over GET), as a front end sets it up, against
// the Tandem at argv[2] with the bearer token argv[3]. Prints one JSON line: what each client's query answered
// and every HTTP request the link made (method, whether it carried the text and the hash, status, error codes).
import { createHash } from "node:crypto";

import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, token, suffix] = process.argv.slice(2);
const requests = [];

async function logged(input, init = {}) {
  const target = new URL(typeof input === "string" ? input : input.url);
  const body = typeof init.body === "string" ? JSON.parse(init.body) : {};
  const response = await fetch(input, init);
  const answer = await response.clone().json();
  requests.push({
    method: init.method ?? "GET",
    query: Boolean(body.query ?? target.searchParams.get("query")),
    hash: Boolean(body.extensions?.persistedQuery ?? target.searchParams.get("extensions")),
    status: response.status,
    codes: (answer.errors ?? []).map((e) => e.extensions?.code),
  });
  return response;
}

function client() {
  const persisted = new PersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: true,
  });
  const http = new HttpLink({ uri: url, fetch: logged, headers: { authorization: `Bearer ${token}` } });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

const ME = gql(`query Me_${suffix} { me { email } }`);
const first = await client().query({ query: ME, fetchPolicy: "network-only" });
const second = await client().query({ query: ME, fetchPolicy: "network-only" });
console.log(JSON.stringify({ first: first.data, second: second.data, requests }));
